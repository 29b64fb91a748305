"""Graph's timestamp form, for every `...DateTime` property Limen writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def graph_time(value: datetime) -> str: ...
@overload
def graph_time(value: None) -> None: ...
@overload
def graph_time(value: datetime | None) -> str | None: ...
def graph_time(value: datetime | None) -> str | None:
    """UTC, second precision, with a Z (`2026-11-27T09:00:00Z`); None stays None (JSON null)."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
