"""Logging of R2D2 processes: stdlib :mod:`logging`, as text or as one JSON object a line.

``--log-format json`` (``R2D2_LOG_FORMAT=json``) makes the CLI's log file and the API server's logs
(uvicorn's included) JSON lines with ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``process``, ``thread``, the ``exception`` text when there is one, and any ``extra`` fields a caller
passed. Nothing is configured at import time: front ends call :func:`formatter` / :func:`uvicorn_config`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime",
                                                                               "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (fields in the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "process": record.process, "thread": record.threadName,
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        return json.dumps(out, default=str, ensure_ascii=False)


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def uvicorn_config(fmt: LogFormat, level: str) -> dict[str, Any]:
    """A ``log_config`` for uvicorn: its error and access logs and R2D2's, on stderr, in ``fmt``."""
    fmt_def: dict[str, Any] = ({"()": "r2d2.logs.JsonFormatter"} if fmt == "json"
                               else {"format": TEXT_FORMAT})
    handler = {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"default": fmt_def},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "r2d2": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
