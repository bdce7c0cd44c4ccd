"""People and identity resolution."""
