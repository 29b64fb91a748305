"""Logging for `limen serve`: uvicorn's own loggers plus Limen's, one line per record on stderr."""

from __future__ import annotations

import copy
from typing import Any

from uvicorn.config import LOGGING_CONFIG


def logging_config(level: str) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["limen"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["limen"] = {"class": "logging.StreamHandler", "formatter": "limen", "stream": "ext://sys.stderr"}
    config["loggers"]["limen"] = {"handlers": ["limen"], "level": level.upper(), "propagate": False}
    return config
