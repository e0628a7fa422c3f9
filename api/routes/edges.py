"""Containment edges with filters and pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Limit, Offset, QueriesDep, Reader
from api.schemas import Edge, EdgeStateName, Page, RelationName

router = APIRouter(prefix="/edges", tags=["edges"])

STAGE_PATTERN = r"^[a-z_]{1,32}$"


@router.get("", summary="List edges")
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
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Edge]:
    """Edges by id."""
    rows, total = queries.edge_page(relation=relation, state=state, verified=verified, stage=stage,
                                    include_stale=include_stale, limit=limit, offset=offset)
    return Page[Edge](items=[Edge.of(r) for r in rows], total=total, limit=limit, offset=offset)
