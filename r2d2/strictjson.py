"""Data as strict JSON accepts it (RFC 8259 has no NaN, no infinity, no bytes, no datetimes).

:func:`jsonable` is the one conversion the CLI's ``--format json`` and the API's bodies share:
non-finite floats become the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, bytes base64 text,
datetimes ISO 8601 text; mappings get string keys.
"""

from __future__ import annotations

import base64
import math
from datetime import datetime
from typing import Any

_PLAIN = (str, int, bool, type(None))


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON data (see the module docstring); plain values and flat dicts of plain
    values are returned as they are (the common case, first)."""
    if type(value) in _PLAIN:
        return value
    if type(value) is dict and all(type(k) is str and type(v) in _PLAIN for k, v in value.items()):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
