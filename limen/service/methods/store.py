"""Reading and changing a user's registered methods."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.methods import SPECS
from limen.domain.methods.base import StoredMethod, Subject
from limen.service.context import Services
from limen.store.models import AuthMethod, User


def subject_of(user: User) -> Subject:
    return Subject(
        user_id=user.id,
        user_principal_name=user.user_principal_name,
        display_name=user.display_name,
        mobile_phone=user.mobile_phone,
        mail=user.mail,
    )


def stored(services: Services, row: AuthMethod) -> StoredMethod:
    """The method as its module sees it, with the secret decrypted (for this call only)."""
    secret = services.vault.decrypt(row.secret).decode("utf-8") if row.secret is not None else None
    return StoredMethod(
        id=row.id,
        key=row.kind,
        display_name=row.display_name,
        data=dict(row.data),
        secret=secret,
        counter=row.counter,
        created_at=row.created_at,
    )


def methods_of(db: Session, tenant_id: str, user_id: str) -> Sequence[AuthMethod]:
    """The user's methods: the default first, then in the order they were added."""
    return db.scalars(
        sa.select(AuthMethod)
        .where(AuthMethod.tenant_id == tenant_id, AuthMethod.user_id == user_id)
        .order_by(AuthMethod.is_default.desc(), AuthMethod.created_at, AuthMethod.id)
    ).all()


def second_factors(db: Session, tenant_id: str, user_id: str) -> list[AuthMethod]:
    """Methods that can be the second step of a sign-in (not a Temporary Access Pass)."""
    return [m for m in methods_of(db, tenant_id, user_id) if (s := SPECS.get(m.kind)) is not None and s.second_factor]


def has_registered_method(db: Session, tenant_id: str, user_id: str) -> bool:
    """Whether the user has any method they registered themselves (what "registered for MFA" means)."""
    return bool(second_factors(db, tenant_id, user_id))


def find(db: Session, tenant_id: str, user_id: str, method_id: str) -> AuthMethod | None:
    row = db.get(AuthMethod, method_id)
    if row is None or row.tenant_id != tenant_id or row.user_id != user_id:
        return None
    return row


def is_locked(row: AuthMethod, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def set_default(db: Session, tenant_id: str, user_id: str, method_id: str) -> bool:
    row = find(db, tenant_id, user_id, method_id)
    if row is None or (spec := SPECS.get(row.kind)) is None or not spec.second_factor:
        return False
    for other in methods_of(db, tenant_id, user_id):
        other.is_default = other.id == row.id
    return True


def remove(db: Session, tenant_id: str, user_id: str, method_id: str) -> AuthMethod | None:
    """Delete the method; if it was the default, the oldest remaining second factor becomes the default."""
    row = find(db, tenant_id, user_id, method_id)
    if row is None:
        return None
    db.delete(row)
    db.flush()
    if row.is_default:
        remaining = second_factors(db, tenant_id, user_id)
        if remaining:
            remaining[0].is_default = True
    return row
