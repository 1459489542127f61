"""Alembic migrations of the store (versions/) and the helpers they share."""
