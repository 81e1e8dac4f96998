"""Structured logs: one JSON object per line (method, vehicle, status, latency_ms, ...)."""

from __future__ import annotations

import json
import logging
import sys
import time

LOGGER_NAME = "fleetpilot.cloud"


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"), default=str)


def setup_logging(log_file: str = "", level: str = "info") -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log_level must be debug, info, warning or error, got {level!r}")
    logger.setLevel(numeric)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    return logger


def log_event(msg: str, level: int = logging.INFO, **fields) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={"fields": fields})


def now() -> float:
    return time.perf_counter()
