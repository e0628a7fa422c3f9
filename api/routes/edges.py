"""Containment edges with filters and pagination (by offset or keyset)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import render
from api.deps import AfterId, Limit, Offset, QueriesDep, Reader
from api.schemas import Edge, EdgeStateName, Page, RelationName
from r2d2.catalog._base import RawRows

router = APIRouter(prefix="/edges", tags=["edges"])

STAGE_PATTERN = r"^[a-z_]{1,32}$"


def edge_page(raw: RawRows, total: int, limit: int, offset: int) -> Response:
    """A page of edges (always in id order, so ``next_after_id`` is the last id of a full page)."""
    items = render.edge_rows(raw)
    return render.page(items, total=total, limit=limit, offset=offset,
                       next_after_id=items[-1]["id"] if items and len(items) == limit else None)


@router.get("", summary="List edges", response_model=Page[Edge])
def list_edges(
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
    after_id: AfterId = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Edges by id. Page with ``offset``, or (faster deep into a large catalog) with ``after_id``.

    ``async`` on purpose, as ``GET /tables``: a page is a millisecond or two of Python and a short indexed
    query, cheaper run in the event loop than handed to a worker thread (no thread hop, no contention
    for the GIL between the loop and the pool: measured in ``bench/results/api.md``)."""
    rows, total = queries.edge_page(relation=relation, state=state, verified=verified, stage=stage,
                                    include_stale=include_stale, after_id=after_id, limit=limit, offset=offset)
    return edge_page(rows, total, limit, offset)
