"""Tables of the catalog: list with filters, one table, its parents and children; restore a deleted
table; stream a deleted table rebuilt from its recipe."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.responses import Response as StarletteResponse

from api import render, streaming
from api.deps import AfterId, Limit, Offset, Operator, QueriesDep, Reader, StateDep
from api.jobs import RestoreOptions
from api.paths import check_lake_location
from api.problems import Problem
from api.routes.edges import edge_page
from api.routes.runs import RUN_CONFLICT, accepted
from api.schemas import Edge, Page, RestoreRequest, Run, SafeStr, Table, TableDetail, TableStatusName
from r2d2.catalog import EdgeFilter
from r2d2.errors import NotFoundError
from r2d2.lake.fs import normalize_location

router = APIRouter(prefix="/tables", tags=["tables"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No table with this id."}}

TableId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Catalog id of the table.")]
IncludeUnverified = Annotated[bool, Query(description="Also list candidate and pruned edges.")]


@router.get("", summary="List tables", response_model=Page[Table])
async def list_tables(
    queries: QueriesDep,
    _: Reader,
    status: TableStatusName | None = None,
    format: Annotated[SafeStr | None, Query(max_length=32, description="parquet, csv or delta.")] = None,
    prefix: Annotated[SafeStr | None, Query(max_length=4096, description="Location prefix.")] = None,
    min_bytes: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    location: Annotated[SafeStr | None, Query(max_length=4096, description="Exactly this location (a page of "
                                                                           "at most one table).")] = None,
    after_id: AfterId = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> StarletteResponse:
    """Tables without their profiles (see ``GET /tables/{id}``): by location, or by id with ``after_id``.
    ``location`` looks one table up by its exact location (normalized as a scan stores it).
    ``async`` for the reason given in :func:`api.routes.edges.list_edges`."""
    if location is not None:
        location = normalize_location(location)
    rows, total = queries.table_page(status=status, format=format, prefix=prefix, min_bytes=min_bytes,
                                     location=location, after_id=after_id, limit=limit, offset=offset)
    items = render.table_rows(rows)
    keyset = after_id is not None and len(items) == limit and items
    return render.page(items, total=total, limit=limit, offset=offset,
                       next_after_id=items[-1]["id"] if keyset else None)


@router.get("/{table_id}", summary="One table with its profile", responses=NOT_FOUND)
def get_table(queries: QueriesDep, _: Reader, table_id: TableId) -> TableDetail:
    return TableDetail.model_validate(queries.table(table_id))


@router.get("/{table_id}/parents", summary="Tables that contain this one", responses=NOT_FOUND,
            response_model=Page[Edge])
def table_parents(queries: QueriesDep, _: Reader, table_id: TableId,
                  include_unverified: IncludeUnverified = False, after_id: AfterId = None,
                  limit: Limit = 100, offset: Offset = 0) -> StarletteResponse:
    """Edges whose child is this table (verified or inferred unless ``include_unverified``)."""
    queries.table(table_id)  # 404 for an unknown table
    where = EdgeFilter(table_id=table_id, direction="parents", verified=None if include_unverified else True)
    rows, total = queries.edge_page(where, after_id=after_id, limit=limit, offset=offset)
    return edge_page(rows, total, limit, offset)


@router.get("/{table_id}/children", summary="Tables this one contains", responses=NOT_FOUND,
            response_model=Page[Edge])
def table_children(queries: QueriesDep, _: Reader, table_id: TableId,
                   include_unverified: IncludeUnverified = False, after_id: AfterId = None,
                   limit: Limit = 100, offset: Offset = 0) -> StarletteResponse:
    """Edges whose parent is this table (verified or inferred unless ``include_unverified``)."""
    queries.table(table_id)
    where = EdgeFilter(table_id=table_id, direction="children", verified=None if include_unverified else True)
    rows, total = queries.edge_page(where, after_id=after_id, limit=limit, offset=offset)
    return edge_page(rows, total, limit, offset)


@router.post("/{table_id}/restore", status_code=status.HTTP_202_ACCEPTED,
             summary="Bring a deleted table back (background run)",
             responses={**NOT_FOUND, **RUN_CONFLICT,
                        403: {"description": "The table is outside the lake roots."}})
def restore_table(state: StateDep, queries: QueriesDep, _: Operator, table_id: TableId, response: Response,
                  body: RestoreRequest | None = None) -> Run:
    """Move the table back from quarantine (or rebuild it from its recipe when purged), in a background
    run of kind ``restore`` holding the destructive lock. 409 when the table is not deleted, or when
    another run or destructive operation is in progress."""
    table = queries.table(table_id)
    location = check_lake_location(table.location, state.settings.lake_roots, field="table")
    if not queries.is_deleted(table.location):
        raise Problem(409, f"table {table_id} ({table.location}) is not deleted (nothing to restore)")
    options = RestoreOptions(table_id, location, (body or RestoreRequest()).move_mode)
    job = state.jobs.restore
    assert job is not None
    run_id = state.runner.submit("restore", lambda catalog: job(catalog, options),
                                 hold=["destructive"])
    return accepted(state, response, run_id)


RECONSTRUCT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    200: {"description": "The rebuilt table (verified against the recipe's checksum).",
          "content": {m: {"schema": {"type": "string", "format": "binary"}}
                      for m in streaming.MEDIA_TYPES.values()}},
    403: {"description": "The table or its parent is outside the lake roots."},
    409: {"description": "The table has no recipe, cannot be rebuilt now, or another rebuild is streaming."},
}


@router.get("/{table_id}/reconstruct", summary="Stream a deleted table rebuilt from its recipe",
            response_class=StreamingResponse, responses=RECONSTRUCT_RESPONSES)
def reconstruct_table(state: StateDep, queries: QueriesDep, _: Operator, table_id: TableId,
                      format: Annotated[Literal["parquet", "arrow"],
                                        Query(description="parquet: one Parquet file; arrow: an Arrow IPC "
                                                          "stream.")] = "parquet") -> StreamingResponse:
    """Rebuild the deleted table from its parent (Spark), verify it, and stream it; nothing is written in
    the lake (the rebuild goes to a private scratch folder of the server, removed afterwards). One
    rebuild at a time per server (409 otherwise). Headers give the row count and content checksum."""
    table = queries.table(table_id)
    check_lake_location(table.location, state.settings.lake_roots, field="table")
    try:
        parent = queries.recipe_parent(table.location)
    except NotFoundError as exc:
        raise Problem(409, str(exc)) from exc
    check_lake_location(parent, state.settings.lake_roots, field="parent")
    with state.locks.reconstruct.hold(f"reconstruct of table {table_id}"):  # records a reconstruct run
        rebuilt = streaming.rebuild(state.catalog, state.settings, state.spark, table.location)
    name = f"table-{table_id}{streaming.SUFFIXES[format]}"
    return StreamingResponse(
        streaming.body(rebuilt, format), media_type=streaming.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-R2D2-Rows": str(rebuilt.rows),
                 "X-R2D2-Checksum": rebuilt.checksum},
        background=BackgroundTask(rebuilt.discard))
