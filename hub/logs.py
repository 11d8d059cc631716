"""Structured logs for `pos-hub serve --log-json`: one JSON object a line on stderr, for
a log collector (journald, Loki, CloudWatch...) to index by field.

    {"time": "2026-12-03T16:59:01.402Z", "level": "WARNING", "logger": "hub.auth",
     "message": "authentication failed: address=10.1.2.3 path='/v1/sync/push' ..."}

`LOG_CONFIG` is a `logging.config.dictConfig` for uvicorn to apply in every process
(with `--workers N` each worker process configures itself from it), so the hub's own
loggers and uvicorn's access log come out the same way.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def log_config(level: str = "info") -> dict[str, Any]:
    """The dictConfig of JSON lines at `level` for the root logger and uvicorn's."""
    handler = {"handlers": ["json"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "hub.logs.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json",
                              "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["json"], "level": level.upper()},
        "loggers": {name: dict(handler) for name in
                    ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
