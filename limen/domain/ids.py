"""Identifiers. Directory objects use GUIDs, as Graph does, so policies and exports refer to them unchanged."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())


def parse_guid(value: str) -> str | None:
    """Return the canonical lower-case form of a GUID, or None if `value` is not one."""
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, AttributeError):
        return None
