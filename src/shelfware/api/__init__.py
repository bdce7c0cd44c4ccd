"""The REST API under /api/v1: FastAPI routers over the same services as the CLI."""
