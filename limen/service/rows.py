"""A tenant's objects by Graph object id, and writes guarded by a unique key: what the directory, device
and application services share."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from limen.domain.errors import Conflict, NotFound
from limen.domain.ids import parse_guid


class _TenantRow(Protocol):
    tenant_id: str


Row = TypeVar("Row", bound=_TenantRow)


def not_found(key: str) -> NotFound:
    """Graph's wording for a missing object (404 Request_ResourceNotFound)."""
    return NotFound(
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present."
    )


def in_tenant(db: Session, model: type[Row], tenant_id: str, object_id: str) -> Row | None:
    """The row of `model` whose primary key is the object id `object_id` (any GUID spelling), if the
    tenant has it. Another tenant's object reads as missing, never as forbidden."""
    parsed = parse_guid(object_id)
    row = db.get(model, parsed) if parsed else None
    return row if row is not None and row.tenant_id == tenant_id else None


def get_in_tenant(db: Session, model: type[Row], tenant_id: str, object_id: str) -> Row:
    """`in_tenant`, or Graph's NotFound."""
    row = in_tenant(db, model, tenant_id, object_id)
    if row is None:
        raise not_found(object_id)
    return row


def flush_unique(db: Session, taken: str) -> None:
    """Flush, answering a unique-key violation with Conflict(`taken`). Callers check first, for the
    clear message; this catches two requests passing that check at once."""
    try:
        db.flush()
    except IntegrityError:
        raise Conflict(taken) from None
