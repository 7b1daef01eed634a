"""How ``infogap serve`` logs: text lines for people, or one JSON object per line for log
collectors (``telemetry.log_format = "json"``, ``--log-format json``)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLogFormatter(logging.Formatter):
    """A record as one line of JSON: time (ISO 8601, UTC), level, logger, message, and the
    formatted traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # Newlines inside values are escaped by json.dumps: one record, one line.
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    log_format: Literal["text", "json"], level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Makes the root logger write ``log_format`` records of ``level`` and above to ``stream``
    (stderr by default), replacing the handlers it had; returns the new handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter = JsonLogFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
