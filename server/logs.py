"""Logging to stderr only (stdout is the wire).

``THREADLINE_LOG`` sets the level (``debug``, ``info``, ``warning`` — the default — or ``error``);
``LOG_FORMAT=json`` writes one JSON object per line for log collectors.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping

import msgspec

__all__ = ["configure_logging"]

_encoder = msgspec.json.Encoder()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


def configure_logging(env: Mapping[str, str]) -> None:
    level_name = env.get("THREADLINE_LOG", "warning").upper()
    level = logging.getLevelNamesMapping().get(level_name, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    if env.get("LOG_FORMAT", "").lower() == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs full URLs at INFO; keep it quiet unless asked for debug.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(level, logging.WARNING))
