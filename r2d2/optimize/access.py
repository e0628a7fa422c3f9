"""Access-log import: rows of (location, count, window_days) → accesses per day per table.

CSV needs a header with ``location`` and ``count`` columns and optionally ``window_days`` (or
``window``, which also accepts durations such as ``30d``); JSON is a list of objects with the same
keys (or ``{"rows": [...]}``). Several rows for one location add up (counts summed, each over its own
window: rates add). A missing window means 30 days. The plan converts to accesses per month.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r2d2.durations import seconds
from r2d2.errors import ConfigError
from r2d2.lake.fs import normalize_location

DEFAULT_WINDOW_DAYS = 30.0


@dataclass
class AccessImport:
    rates: dict[str, float] = field(default_factory=dict)  # location → accesses per day
    rows: int = 0
    errors: list[str] = field(default_factory=list)


def _window_days(row: Mapping[str, Any]) -> float:
    if row.get("window_days") not in (None, ""):
        return float(row["window_days"])
    if row.get("window") not in (None, ""):
        raw = row["window"]
        if isinstance(raw, int | float):
            return float(raw)
        text = str(raw).strip()
        return float(text) if text.replace(".", "", 1).isdigit() else seconds(text) / 86400.0
    return DEFAULT_WINDOW_DAYS


def parse_rows(rows: Iterable[Mapping[str, Any]]) -> AccessImport:
    out = AccessImport()
    for i, row in enumerate(rows, start=1):
        out.rows += 1
        try:
            loc = str(row["location"]).strip()
            count = float(row["count"])
            days = _window_days(row)
            if not loc or count < 0 or not days > 0:
                raise ValueError("location must be non-empty, count >= 0, window > 0")
        except (KeyError, ValueError, TypeError) as exc:
            out.errors.append(f"row {i}: {exc!r}")
            continue
        key = normalize_location(loc)
        out.rates[key] = out.rates.get(key, 0.0) + count / days
    return out


def read_access_file(path: Path) -> AccessImport:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("rows", [])
        if not isinstance(data, list):
            raise ConfigError(f"{path}: expected a JSON list of rows")
        return parse_rows(data)
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"location", "count"} <= {f.strip() for f in reader.fieldnames}:
        raise ConfigError(f"{path}: CSV header must have 'location' and 'count' columns")
    return parse_rows({k.strip(): v for k, v in r.items() if k} for r in reader)
