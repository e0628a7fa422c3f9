"""Tables of the catalog: list with filters, one table, its parents and children."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import CatalogDep, Limit, Offset, QueriesDep, Reader
from api.schemas import Edge, Page, SafeStr, Table, TableDetail, TableStatusName

router = APIRouter(prefix="/tables", tags=["tables"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No table with this id."}}

TableId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Catalog id of the table.")]
IncludeUnverified = Annotated[bool, Query(description="Also list candidate and pruned edges.")]


@router.get("", summary="List tables")
def list_tables(
    catalog: CatalogDep,
    _: Reader,
    status: TableStatusName | None = None,
    format: Annotated[SafeStr | None, Query(max_length=32, description="parquet, csv or delta.")] = None,
    prefix: Annotated[SafeStr | None, Query(max_length=4096, description="Location prefix.")] = None,
    min_bytes: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[Table]:
    """Tables by location, without their profiles (see ``GET /tables/{id}``)."""
    filters = {"status": status, "format": format, "prefix": prefix, "min_bytes": min_bytes}
    rows = catalog.list_tables(**filters, limit=limit, offset=offset, with_profile=False)  # type: ignore[arg-type]
    total = catalog.count_tables(**filters)  # type: ignore[arg-type]
    return Page[Table](items=[Table.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{table_id}", summary="One table with its profile", responses=NOT_FOUND)
def get_table(catalog: CatalogDep, _: Reader, table_id: TableId) -> TableDetail:
    return TableDetail.of(catalog.get_table_by_id(table_id))


@router.get("/{table_id}/parents", summary="Tables that contain this one", responses=NOT_FOUND)
def table_parents(catalog: CatalogDep, queries: QueriesDep, _: Reader, table_id: TableId,
                  include_unverified: IncludeUnverified = False, limit: Limit = 100,
                  offset: Offset = 0) -> Page[Edge]:
    """Edges whose child is this table (verified or inferred unless ``include_unverified``)."""
    catalog.get_table_by_id(table_id)  # 404 for an unknown table
    rows, total = queries.edge_page(child_id=table_id, verified=None if include_unverified else True,
                                    limit=limit, offset=offset)
    return Page[Edge](items=[Edge.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{table_id}/children", summary="Tables this one contains", responses=NOT_FOUND)
def table_children(catalog: CatalogDep, queries: QueriesDep, _: Reader, table_id: TableId,
                   include_unverified: IncludeUnverified = False, limit: Limit = 100,
                   offset: Offset = 0) -> Page[Edge]:
    """Edges whose parent is this table (verified or inferred unless ``include_unverified``)."""
    catalog.get_table_by_id(table_id)
    rows, total = queries.edge_page(parent_id=table_id, verified=None if include_unverified else True,
                                    limit=limit, offset=offset)
    return Page[Edge](items=[Edge.of(r) for r in rows], total=total, limit=limit, offset=offset)
