"""Maintenance commands for the repository itself (not shipped): ``python -m tools.docs``."""
