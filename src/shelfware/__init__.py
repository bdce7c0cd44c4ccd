"""shelfware: find the SaaS seats nobody uses, reclaim them, reconcile owned against used."""

__version__ = "0.1.0"
