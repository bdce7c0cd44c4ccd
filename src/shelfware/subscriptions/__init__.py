"""Accounts holding seats: listing and filtering."""
