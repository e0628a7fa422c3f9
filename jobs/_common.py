"""Argument parsing and exit handling shared by the batch jobs.

Jobs parse arguments, call the library and set the exit code: 0 success, 1 finished with per-table
errors (listed), 3 stopped by an error (message on stderr). Idempotent: re-running a job does no
work the catalog already has (unchanged fingerprints).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from r2d2.config import Settings, load_settings
from r2d2.errors import R2D2Error

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 3


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--catalog", dest="catalog_url", help="SQLAlchemy URL of the catalog (or R2D2_CATALOG_URL).")
    p.add_argument("--home", help="Folder for work files and the embedded catalog (or R2D2_HOME).")
    p.add_argument("--spark-master", help="Spark master; default: the one spark-submit was given.")
    p.add_argument("--json", action="store_true", help="Print the result as JSON.")
    return p


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(catalog_url=args.catalog_url, home=args.home, spark_master=args.spark_master, **extra)


def run(body: Callable[[], tuple[int, dict[str, Any]]], *, as_json: bool) -> None:
    try:
        code, payload = body()
    except R2D2Error as exc:
        print(f"r2d2 job failed: {exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    print(json.dumps(payload, indent=2, default=str) if as_json else payload.get("text", ""))
    sys.exit(code)
