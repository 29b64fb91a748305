""" "My security info": a signed-in person lists, adds and removes their methods and picks the default.

Adding or removing a method needs a recent MFA (RECENT_MFA): a second factor completed in this
session within that time. Someone with no method yet may add their first one with a recent
password sign-in instead (the registration window of security defaults works the same way).
Changing the default method needs no fresh proof: it changes which method is asked first, not
which methods exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from limen.domain.methods import SPECS
from limen.domain.methods.base import Reason, Rejected, Waiting
from limen.domain.session import CompletedMethod, completed_with
from limen.service import sessions
from limen.service.context import Services
from limen.service.methods import runner
from limen.service.methods.store import find, has_registered_method, is_locked, methods_of, remove, set_default
from limen.service.signin import RequestMeta
from limen.store.models import AuthMethod

RECENT_MFA = timedelta(minutes=10)


@dataclass(frozen=True)
class MethodLine:
    id: str
    kind: str
    label: str
    display_name: str
    is_default: bool
    created_at: datetime
    last_used_at: datetime | None
    locked: bool
    removable: bool


def lines(db: Session, services: Services, tenant_id: str, user_id: str) -> list[MethodLine]:
    now = services.clock.now()
    out = []
    for row in methods_of(db, tenant_id, user_id):
        spec = SPECS.get(row.kind)
        out.append(
            MethodLine(
                id=row.id,
                kind=row.kind,
                label=spec.display_name if spec else row.kind,
                display_name=row.display_name,
                is_default=row.is_default,
                created_at=row.created_at,
                last_used_at=row.last_used_at,
                locked=is_locked(row, now),
                # A Temporary Access Pass is the admin's to revoke.
                removable=spec is not None and spec.self_service,
            )
        )
    return out


def may_change(db: Session, services: Services, active: sessions.ActiveSession) -> bool:
    """Whether this session proved enough, recently enough, to add or remove methods."""
    now = services.clock.now()
    recent = [m for m in active.methods if now - m.at <= RECENT_MFA]
    if any(m.method != "password" for m in recent):
        return True
    if not has_registered_method(db, active.user.tenant_id, active.user.id):
        return any(m.method == "password" for m in recent)
    return False


def add_proof(db: Session, active: sessions.ActiveSession, method: CompletedMethod) -> None:
    """Record a fresh MFA in the session (its methods are what `may_change`, amr and acr read)."""
    active.row.methods = [*active.row.methods, method.to_json()]


def start_verify(
    db: Session, services: Services, active: sessions.ActiveSession, method_id: str | None, meta: RequestMeta
) -> tuple[AuthMethod | None, runner.Started | Rejected]:
    """Open a challenge for a fresh MFA: the chosen method, else the default one that is not locked."""
    candidates = [m for m in methods_of(db, active.user.tenant_id, active.user.id) if SPECS[m.kind].second_factor]
    now = services.clock.now()
    chosen = next((m for m in candidates if m.id == method_id), None) or next(
        (m for m in candidates if not is_locked(m, now)), None
    )
    if chosen is None:
        return None, Rejected(Reason.UNAVAILABLE, "You have no method to verify with.", counts_as_failure=False)
    started = runner.start_challenge(
        db, services, active.user.tenant_id, active.user, chosen, "verify", meta, app_name="My security info"
    )
    return chosen, started


def answer_verify(
    db: Session,
    services: Services,
    active: sessions.ActiveSession,
    challenge_id: str,
    form: Mapping[str, str],
    meta: RequestMeta,
) -> runner.Passed | Rejected | Waiting:
    result = runner.answer_challenge(db, services, active.user.tenant_id, active.user, challenge_id, form, meta)
    if isinstance(result, runner.Passed):
        add_proof(db, active, result.completed)
    return result


def start_add(
    db: Session,
    services: Services,
    active: sessions.ActiveSession,
    kind: str,
    form: Mapping[str, str],
    meta: RequestMeta,
) -> runner.Started | Rejected:
    return runner.start_registration(db, services, active.user.tenant_id, active.user, kind, form, meta)


def finish_add(
    db: Session,
    services: Services,
    active: sessions.ActiveSession,
    challenge_id: str,
    form: Mapping[str, str],
    meta: RequestMeta,
) -> runner.Registration | Rejected | Waiting:
    result = runner.finish_registration(db, services, active.user.tenant_id, active.user, challenge_id, form, meta)
    if isinstance(result, runner.Registration):
        spec = SPECS[result.method.kind]
        # Proving possession of the new method is a fresh second factor for this session.
        add_proof(
            db,
            active,
            completed_with(spec, services.clock.now()),
        )
    return result


def remove_method(db: Session, active: sessions.ActiveSession, method_id: str) -> AuthMethod | None:
    row = find(db, active.user.tenant_id, active.user.id, method_id)
    if row is None or not SPECS[row.kind].self_service:
        return None
    return remove(db, active.user.tenant_id, active.user.id, method_id)


def make_default(db: Session, active: sessions.ActiveSession, method_id: str) -> bool:
    return set_default(db, active.user.tenant_id, active.user.id, method_id)
