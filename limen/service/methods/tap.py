"""Temporary Access Passes: issued by an administrator, shown once, stored as a keyed digest (SPEC.md §7.5).

One pass per user: issuing a new one deletes the old in the same transaction. `use` (and `check`)
find a pass by its value within the user's passes and spend a one-time pass with a conditional
UPDATE, so two sign-ins racing on two nodes cannot both get in with it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.errors import NotFound
from limen.domain.ids import new_id
from limen.domain.methods import tap
from limen.service.context import Services
from limen.service.methods.runner import environment
from limen.store.models import AuthMethod, User

KIND = tap.SPEC.key
#: Attempts at drawing a value no other pass in the tenant has (46 bits each: one is always enough).
_DRAWS = 5


class Issued(NamedTuple):
    """What `issue` returns; unpacks as `(method, value)`."""

    method: AuthMethod
    #: The pass in clear: show it to the administrator now; it is not kept anywhere.
    value: str


def _digest(services: Services, tenant_id: str) -> Callable[[str], str]:
    # The very digest methods get in their Environment, so the domain's `verify` matches the stored pass.
    return environment(services, tenant_id, None).digest


def _user(db: Session, tenant_id: str, user_id: str, *, lock: bool = False) -> User:
    query = sa.select(User).where(User.id == user_id, User.tenant_id == tenant_id)
    # Locking the user row serialises two admins issuing at once, so "one pass per user" holds (PostgreSQL;
    # SQLite has a single writer anyway).
    user = db.scalars(query.with_for_update() if lock else query).first()
    if user is None:
        raise NotFound(f"User '{user_id}' does not exist.")
    return user


def issue(
    db: Session,
    services: Services,
    tenant_id: str,
    user_id: str,
    lifetime_minutes: int | None = None,
    one_time: bool = False,
    start: datetime | None = None,
    *,
    length: int = tap.DEFAULT_LENGTH,
) -> Issued:
    """Create the user's pass (replacing any previous one). ValidationFailed for terms out of range,
    NotFound for an unknown user."""
    _user(db, tenant_id, user_id, lock=True)
    now = services.clock.now()
    terms = tap.terms(now, lifetime_minutes=lifetime_minutes, one_time=one_time, start=start)
    revoke(db, tenant_id, user_id)
    digest = _digest(services, tenant_id)
    for _ in range(_DRAWS):
        value = tap.generate(length)
        key = tap.lookup_key(value, digest)
        if _by_key(db, tenant_id, key) is None:
            break
    else:  # pragma: no cover - five collisions in a 46-bit space mean a broken random generator
        raise RuntimeError("could not draw a unique Temporary Access Pass")
    row = AuthMethod(
        id=new_id(),
        tenant_id=tenant_id,
        user_id=user_id,
        kind=KIND,
        display_name=tap.SPEC.display_name,
        data=terms.to_data(),
        # The digest, not the pass: the domain's verify compares against it when the pass is a second step.
        secret=services.vault.encrypt(key.encode("utf-8")),
        lookup_key=key,
        counter=0,
        is_default=False,
        failed_attempts=0,
        created_at=now,
    )
    db.add(row)
    db.flush()
    return Issued(row, value)


def current(db: Session, tenant_id: str, user_id: str) -> AuthMethod | None:
    """The user's pass, usable or not."""
    return db.scalars(
        sa.select(AuthMethod)
        .where(AuthMethod.tenant_id == tenant_id, AuthMethod.user_id == user_id, AuthMethod.kind == KIND)
        .order_by(AuthMethod.created_at.desc())
    ).first()


def revoke(db: Session, tenant_id: str, user_id: str, method_id: str | None = None) -> bool:
    """Delete the user's pass (only `method_id`, if given); whether there was one."""
    query = sa.delete(AuthMethod).where(
        AuthMethod.tenant_id == tenant_id, AuthMethod.user_id == user_id, AuthMethod.kind == KIND
    )
    if method_id is not None:
        query = query.where(AuthMethod.id == method_id)
    result = db.execute(query.execution_options(synchronize_session="fetch"))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _by_key(db: Session, tenant_id: str, key: str) -> AuthMethod | None:
    return db.scalars(
        sa.select(AuthMethod).where(
            AuthMethod.tenant_id == tenant_id, AuthMethod.kind == KIND, AuthMethod.lookup_key == key
        )
    ).first()


def use(db: Session, services: Services, tenant_id: str, user_id: str, value: str) -> AuthMethod | tap.Usability | None:
    """Sign-in with a pass: the method if `value` is the user's pass and usable now (a one-time pass is
    spent by this call); Graph's reason if it is the pass but not usable (expired, not yet valid,
    already used); None if it is not the user's pass.

    The reason is only told to someone who typed the right pass, so it reveals nothing to a guesser.
    Counting wrong guesses (smart lockout) is the caller's job, as for passwords.
    """
    typed = tap.normalise(value)
    if not typed:
        return None
    row = _by_key(db, tenant_id, tap.lookup_key(typed, _digest(services, tenant_id)))
    if row is None or row.user_id != user_id:
        return None
    now = services.clock.now()
    if (reason := tap.usable(row.data, now, uses=row.counter or 0)) is not None:
        return reason
    spent = sa.or_(AuthMethod.counter.is_(None), AuthMethod.counter == 0)
    guard = spent if tap.Terms.from_data(row.data).one_time else sa.true()
    db.flush()
    updated = db.execute(
        sa.update(AuthMethod)
        .where(AuthMethod.id == row.id, guard)
        .values(counter=sa.func.coalesce(AuthMethod.counter, 0) + 1, last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        # Another sign-in spent this one-time pass between our read and our update.
        return tap.Usability.ONE_TIME_USED
    db.refresh(row, ["counter", "last_used_at"])
    return row


def check(db: Session, services: Services, tenant_id: str, user_id: str, value: str) -> AuthMethod | None:
    """The user's pass if `value` is it and it is usable now (spending a one-time pass), else None."""
    result = use(db, services, tenant_id, user_id, value)
    return result if isinstance(result, AuthMethod) else None


def graph_shape(row: AuthMethod, now: datetime, value: str | None = None) -> dict[str, object]:
    """Graph's temporaryAccessPassAuthenticationMethod for a stored pass (`value` only when just issued)."""
    return tap.graph_shape(row.id, row.created_at, row.data, now, uses=row.counter or 0, value=value)


def expires_at(row: AuthMethod) -> datetime:
    """When the pass stops working: sessions and tokens obtained with it must not outlive it (SPEC.md §7.5)."""
    return tap.Terms.from_data(row.data).expires_at
