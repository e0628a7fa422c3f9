"""Put a lake's files in the OS page cache before a method runs, so that no method pays for cold reads
another does not (on these machines the page cache is small: a method that allocates a few GB, such as
the brute-force script, evicts the lake, and whatever runs next would read it from disk)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def warm_page_cache(root: Path) -> dict[str, Any]:
    """Read every file of the lake once (OS level, not timed as any method's work)."""
    t0 = time.perf_counter()
    total = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                while chunk := f.read(8 << 20):
                    total += len(chunk)
    return {"bytes": total, "seconds": round(time.perf_counter() - t0, 2)}
