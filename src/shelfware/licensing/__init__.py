"""Entitlements, reconciliation and savings."""
