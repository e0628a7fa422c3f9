"""Containment edges with filters and pagination (by offset or keyset)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import render
from api.deps import AfterId, Limit, Offset, QueriesDep, Reader
from api.schemas import Edge, EdgeStateName, Page, RelationName, SafeStr
from r2d2.catalog import EdgeFilter
from r2d2.catalog._base import RawRows
from r2d2.lake.fs import normalize_location

router = APIRouter(prefix="/edges", tags=["edges"])

STAGE_PATTERN = r"^[a-z_]{1,32}$"


def _location(value: str | None) -> str | None:
    """As a scan stores locations, so that ``/lake/t/`` finds ``/lake/t``."""
    return None if value is None else normalize_location(value)


def edge_page(raw: RawRows, total: int, limit: int, offset: int) -> Response:
    """A page of edges (always in id order, so ``next_after_id`` is the last id of a full page)."""
    items = render.edge_rows(raw)
    return render.page(items, total=total, limit=limit, offset=offset,
                       next_after_id=items[-1]["id"] if items and len(items) == limit else None)


@router.get("", summary="List edges", response_model=Page[Edge])
async def list_edges(
    queries: QueriesDep,
    _: Reader,
    relation: RelationName | None = None,
    state: EdgeStateName | None = None,
    verified: Annotated[bool | None,
                        Query(description="true: verified or inferred; false: the rest.")] = None,
    stage: Annotated[str | None, Query(pattern=STAGE_PATTERN,
                                       description="Stage of the last decision (schema, minmax, "
                                                   "minhash, probe, exact, transitive).")] = None,
    include_stale: Annotated[bool, Query(description="Include edges of changed tables.")] = False,
    parent: Annotated[SafeStr | None, Query(max_length=4096, description="Location of the parent.")] = None,
    child: Annotated[SafeStr | None, Query(max_length=4096, description="Location of the child.")] = None,
    table: Annotated[SafeStr | None, Query(max_length=4096, description="Location of either end.")] = None,
    after_id: AfterId = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Edges by id. Page with ``offset``, or (faster deep into a large catalog) with ``after_id``.
    ``parent``, ``child`` and ``table`` are exact locations (normalized as a scan stores them).

    ``async``, and the query runs on the event loop: a page is a few indexed lookups (under a
    millisecond), and the hop to a worker thread cost more than that in CPU, and in latency: requests
    then queued for the GIL among the threads instead of in order (``bench/results/api.md``). The price:
    while the catalog stalls, this worker's other requests wait too (a PostgreSQL connect gives up
    after 10 s, ``r2d2.catalog.db``)."""
    where = EdgeFilter(relation=relation, state=state, verified=verified, stage=stage, include_stale=include_stale,
                       parent=_location(parent), child=_location(child), table=_location(table))
    rows, total = queries.edge_page(where, after_id=after_id, limit=limit, offset=offset)
    return edge_page(rows, total, limit, offset)
