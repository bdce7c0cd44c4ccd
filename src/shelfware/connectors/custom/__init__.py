"""Custom (declarative) integration profiles: a spec composed from the connector kit."""
