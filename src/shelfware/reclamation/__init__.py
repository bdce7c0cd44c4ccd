"""Reclamation rules, removal candidates and reclaim execution."""
