"""The catalog: tables, profiles, sketches, edges and runs in SQLite or PostgreSQL.

``open_catalog(url)`` returns a :class:`Catalog`; the schema is managed by the Alembic migrations
shipped in ``r2d2/catalog/migrations`` and upgraded automatically on first use.
"""

from r2d2.catalog.catalog import Catalog
from r2d2.catalog.db import mask_url, open_catalog
from r2d2.catalog.edges import EdgeFilter
from r2d2.catalog.records import (
    EdgeRecord,
    EdgeRelation,
    EdgeState,
    EdgeUpsert,
    RunRecord,
    RunStatus,
    SaveOutcome,
    TableRecord,
    TableStatus,
)

__all__ = [
    "Catalog",
    "EdgeFilter",
    "EdgeRecord",
    "EdgeRelation",
    "EdgeState",
    "EdgeUpsert",
    "RunRecord",
    "RunStatus",
    "SaveOutcome",
    "TableRecord",
    "TableStatus",
    "mask_url",
    "open_catalog",
]
