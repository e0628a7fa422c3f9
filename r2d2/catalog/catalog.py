"""The :class:`Catalog`: one object giving access to every catalog repository."""

from __future__ import annotations

from r2d2.catalog.access import AccessRepository
from r2d2.catalog.db import current_revision, dispose_engine, head_revision
from r2d2.catalog.edges import EdgesRepository
from r2d2.catalog.journal import JournalRepository
from r2d2.catalog.locks import LocksRepository
from r2d2.catalog.neighbours import NeighboursRepository
from r2d2.catalog.plans import PlansRepository
from r2d2.catalog.recipes import RecipesRepository
from r2d2.catalog.runs import RunsRepository
from r2d2.catalog.sketches import SketchesRepository
from r2d2.catalog.tables import TablesRepository
from r2d2.catalog.tokens import TokensRepository


class Catalog(TablesRepository, SketchesRepository, EdgesRepository, RunsRepository, TokensRepository,
              PlansRepository, RecipesRepository, JournalRepository, AccessRepository, LocksRepository,
              NeighboursRepository):
    """The catalog database of one R2D2 deployment (get one with :func:`r2d2.catalog.open_catalog`).

    Every method runs in its own short transaction and returns frozen records.
    """

    def schema_current(self) -> bool:
        """Whether the database's schema is at the newest migration of this version of R2D2."""
        with self._read() as conn:
            return current_revision(conn) == head_revision()

    def close(self) -> None:
        """Close the pooled connections of this catalog's URL (it reopens on next use)."""
        dispose_engine(self._url)

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({self.display_url!r})"
