"""The SaaS overview: the dashboard figures of DOMAIN.md, and the lists the workspace pages."""
