"""Projections: read models rebuilt from the chain (see issue 3)."""
