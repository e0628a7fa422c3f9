"""Alembic migrations of the catalog schema (configured programmatically by r2d2.catalog.db)."""
