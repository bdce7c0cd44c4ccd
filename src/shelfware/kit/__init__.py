"""Shared infrastructure with no domain words: database, crypto, http, clock, logging."""
