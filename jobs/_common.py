"""Argument parsing and exit handling shared by the batch jobs.

Jobs parse arguments, call the library and set the exit code, with the CLI's mapping
(:mod:`r2d2.cli.exits`): 0 success, 1 finished with per-table errors (listed), 2 usage error,
3 stopped by an error (message on stderr), 4 internal error (one line on stderr, the traceback in
``<home>/logs/r2d2.log``), 75 another process holds the operation's lock (retry later). Idempotent:
re-running a job does no work the catalog already has (unchanged fingerprints).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from r2d2.cli.exits import EXIT_OK, EXIT_PARTIAL, log_path, start_logging, stopped
from r2d2.config import Settings, load_settings

__all__ = ["EXIT_OK", "EXIT_PARTIAL", "parser", "run", "settings_from"]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--catalog", dest="catalog_url", help="SQLAlchemy URL of the catalog (or R2D2_CATALOG_URL).")
    p.add_argument("--home", help="Folder for work files and the embedded catalog (or R2D2_HOME).")
    p.add_argument("--spark-master", help="Spark master; default: the one spark-submit was given.")
    p.add_argument("--json", action="store_true", help="Print the result as JSON.")
    return p


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(catalog_url=args.catalog_url, home=args.home, spark_master=args.spark_master, **extra)


def _home(args: argparse.Namespace | None) -> Path | None:
    try:
        return settings_from(args).home if args is not None else load_settings().home
    except Exception:
        return None


def run(body: Callable[[], tuple[int, dict[str, Any]]], *, as_json: bool,
        args: argparse.Namespace | None = None) -> None:
    path = log_path(_home(args))
    start_logging(path)
    try:
        code, payload = body()
    except Exception as exc:
        sys.exit(stopped(exc, path, lambda m: print(f"r2d2 job failed: {m}", file=sys.stderr)))
    print(json.dumps(payload, indent=2, default=str) if as_json else payload.get("text", ""))
    sys.exit(code)
