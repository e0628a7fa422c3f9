"""Which locations the API may touch: only those under the configured lake roots.

Local paths are compared after resolving symbolic links on both sides (a link inside a root that
points outside it is outside), on path-component boundaries (``/lake2`` is not under ``/lake``).
Any ``..`` segment is refused outright, and so is a relative path (it would depend on the server's
working directory). Object-store URIs must start with a configured URI root.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from api.problems import Problem
from r2d2.catalog.tables import under_root
from r2d2.lake.fs import is_uri, normalize_location


def _segments(location: str) -> list[str]:
    rest = location.split("://", 1)[1] if is_uri(location) else location
    return rest.replace("\\", "/").split("/")


def _local(location: str) -> str | None:
    """The local path of ``location`` (``file://`` URIs included), or None for other schemes."""
    if not is_uri(location):
        return location
    scheme, rest = location.split("://", 1)
    return "/" + rest.lstrip("/") if scheme.lower() == "file" else None


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def check_lake_location(location: str, lake_roots: Sequence[str], *, field: str) -> str:
    """``location`` normalized if it lies under one of ``lake_roots``; else a 403/422 problem."""
    if not lake_roots:
        raise Problem(403, "this server has no lake roots configured (R2D2_LAKE_ROOTS); "
                           "it may not touch the lake", field=field, type="outside-lake-roots")
    if any(seg == ".." for seg in _segments(location)):
        raise Problem(403, f"{field}: '..' segments are not allowed", field=field,
                      type="outside-lake-roots")
    local = _local(location)
    if local is None:
        wanted = normalize_location(location)
        if any(is_uri(r) and _local(r) is None and under_root(wanted, normalize_location(r))
               for r in lake_roots):
            return wanted
        raise Problem(403, f"{field}: {location!r} is not under a configured lake root", field=field,
                      type="outside-lake-roots")
    if not os.path.isabs(local):
        raise Problem(422, f"{field}: {location!r} must be an absolute path", field=field)
    real = os.path.realpath(local)
    for root in lake_roots:
        root_local = _local(root)
        if root_local is not None and _inside(real, os.path.realpath(root_local)):
            return normalize_location(local)
    raise Problem(403, f"{field}: {location!r} is not under a configured lake root", field=field,
                  type="outside-lake-roots")
