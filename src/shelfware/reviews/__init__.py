"""Access review campaigns: managers attest every seat, with the evidence auditors ask for."""
