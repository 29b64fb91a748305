"""Runs any method's registration and challenge (domain/methods) against the store and the senders.

What every method gets from here, so no method re-implements it (STYLE.md: one interface):
- pending state kept server-side, encrypted with the vault, and bound to the user and an expiry;
- at most MAX_TRIES answers per prompt, and a method locked for LOCK_MINUTES after LOCK_AFTER
  wrong answers in a row (the sign-in log says so);
- rate limits on prompts that send something: RATE_LIMIT per RATE_WINDOW per user and per
  destination, RATE_LIMIT_IP per RATE_WINDOW per client IP (SPEC.md §10);
- counters that only grow, updated with a conditional UPDATE so that two nodes cannot both accept
  the same TOTP code or WebAuthn assertion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import keyed_digest
from limen.domain import methods as registry
from limen.domain.ids import new_id, parse_guid
from limen.domain.methods.base import (
    Answer,
    Environment,
    Prompt,
    Reason,
    Registered,
    Rejected,
    Verified,
    Waiting,
)
from limen.domain.session import CompletedMethod, completed_with
from limen.service.context import Services
from limen.service.methods.store import is_locked, second_factors, stored, subject_of
from limen.service.signin import RequestMeta
from limen.store.models import AuthMethod, MethodChallenge, Tenant, User

MAX_TRIES = 5
LOCK_AFTER = 5
LOCK_MINUTES = 15
RATE_LIMIT = 5
RATE_LIMIT_IP = 20
RATE_WINDOW = timedelta(minutes=15)

PENDING, ANSWERED, COMPLETED, FAILED = "pending", "answered", "completed", "failed"
VIEW_KEY = "_view"
EXCLUDE_KEY = "exclude"
#: Reasons after which a prompt cannot be answered again (a device's answer is final).
_FINAL = {Reason.DENIED, Reason.WRONG_NUMBER, Reason.EXPIRED}


@dataclass(frozen=True)
class Started:
    challenge_id: str
    view: Mapping[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class Registration:
    method: AuthMethod
    #: One-time values for whoever completed the registration (a push device's token).
    reveal: Mapping[str, str]


@dataclass(frozen=True)
class Passed:
    method: AuthMethod
    completed: CompletedMethod
    log_detail: str


def environment(services: Services, tenant_id: str, meta: RequestMeta | None, app_name: str = "") -> Environment:
    return Environment(
        now=services.clock.now(),
        issuer=services.settings.issuer,
        tenant_name=_tenant_name(services, tenant_id),
        digest=lambda value: keyed_digest(services.settings.secret_key, "method", value),
        app_name=app_name,
        ip_address=meta.ip_address if meta else "",
        location=getattr(meta, "location", "") if meta else "",
    )


_TENANT_NAMES: dict[str, str] = {}


def _tenant_name(services: Services, tenant_id: str) -> str:
    # Tenant names are shown in authenticator apps; they change rarely, and a stale name is harmless.
    if tenant_id not in _TENANT_NAMES:
        with services.db() as db:
            tenant = db.get(Tenant, tenant_id)
            _TENANT_NAMES[tenant_id] = tenant.display_name if tenant else "Limen"
    return _TENANT_NAMES[tenant_id]


def _seal(services: Services, pending: Mapping[str, Any]) -> bytes:
    return services.vault.encrypt(json.dumps(dict(pending), separators=(",", ":")).encode("utf-8"))


def _unseal(services: Services, row: MethodChallenge) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(services.vault.decrypt(row.pending))
    return value


def _rate_limited(db: Session, user_id: str, prompt: Prompt, ip_address: str, now: datetime) -> bool:
    since = now - RATE_WINDOW
    recent = sa.select(sa.func.count()).select_from(MethodChallenge).where(MethodChallenge.created_at > since)
    by_user = db.scalar(recent.where(MethodChallenge.user_id == user_id, MethodChallenge.destination.is_not(None)))
    by_destination = db.scalar(recent.where(MethodChallenge.destination == prompt.destination))
    by_ip = db.scalar(recent.where(MethodChallenge.ip_address == ip_address, MethodChallenge.destination.is_not(None)))
    return (by_user or 0) >= RATE_LIMIT or (by_destination or 0) >= RATE_LIMIT or (by_ip or 0) >= RATE_LIMIT_IP


_THROTTLED = Rejected(
    Reason.NOT_ALLOWED,
    "You've hit our limit on verification codes. Wait a few minutes and try again, or use another method.",
    counts_as_failure=False,
)
_NOT_SENT = Rejected(
    Reason.UNAVAILABLE,
    "We couldn't send the code right now. Try again in a moment, or use another method.",
    counts_as_failure=False,
)


def _open_prompt(
    db: Session,
    services: Services,
    tenant_id: str,
    user: User,
    kind: str,
    purpose: str,
    prompt: Prompt,
    meta: RequestMeta | None,
    env: Environment,
    method_id: str | None = None,
) -> Started | Rejected:
    ip_address = meta.ip_address if meta else ""
    if prompt.destination is not None and _rate_limited(db, user.id, prompt, ip_address, env.now):
        return _THROTTLED
    row = MethodChallenge(
        id=new_id(),
        tenant_id=tenant_id,
        user_id=user.id,
        method_id=method_id,
        kind=kind,
        purpose=purpose,
        # The page's view is kept with the pending state, so the page can be shown again (after a
        # wrong code, on reload) without asking the method for a new prompt.
        pending=_seal(services, {**prompt.pending, VIEW_KEY: dict(prompt.view)}),
        context={
            "appDisplayName": env.app_name,
            "ipAddress": ip_address,
            "location": env.location,
            "userPrincipalName": user.user_principal_name,
        },
        status=PENDING,
        answer=None,
        lookup_key=prompt.lookup_key,
        attempts=0,
        destination=prompt.destination,
        ip_address=ip_address,
        created_at=env.now,
        expires_at=prompt.expires_at,
    )
    db.add(row)
    db.flush()
    if prompt.deliver is not None:
        from limen import notify  # imported here: limen.notify needs Services, which imports this package

        try:
            notify.send(services, prompt.deliver, env.tenant_name)
        except notify.DeliveryFailed:
            row.status = FAILED
            return _NOT_SENT
    return Started(row.id, prompt.view, prompt.expires_at)


def _challenge(
    db: Session, tenant_id: str, user_id: str, challenge_id: str, purposes: tuple[str, ...]
) -> MethodChallenge | None:
    if parse_guid(challenge_id or "") is None:
        return None
    row = db.get(MethodChallenge, challenge_id)
    if row is None or row.tenant_id != tenant_id or row.user_id != user_id or row.purpose not in purposes:
        return None
    return row


_GONE = Rejected(Reason.EXPIRED, "This request expired. Start again.", counts_as_failure=False)
_TOO_MANY = Rejected(
    Reason.EXPIRED,
    "Too many attempts with this code. Ask for a new one or use another method.",
    counts_as_failure=False,
)


# Registration -------------------------------------------------------------------------------------------


def start_registration(
    db: Session, services: Services, tenant_id: str, user: User, key: str, answer: Answer, meta: RequestMeta | None
) -> Started | Rejected:
    method = registry.method(key)
    spec = registry.spec(key)
    if method is None or spec is None or not spec.self_service:
        return Rejected(Reason.NOT_ALLOWED, "That method can't be added here.", counts_as_failure=False)
    env = environment(services, tenant_id, meta)
    # Methods that can tell a device it is already registered (WebAuthn's excludeCredentials) get the
    # lookup keys of the person's methods of this kind; the form cannot supply its own list.
    existing = db.scalars(
        sa.select(AuthMethod.lookup_key).where(
            AuthMethod.tenant_id == tenant_id,
            AuthMethod.user_id == user.id,
            AuthMethod.kind == key,
            AuthMethod.lookup_key.is_not(None),
        )
    ).all()
    answer = {**answer, EXCLUDE_KEY: " ".join(k for k in existing if k)}
    prompt = method.begin_registration(subject_of(user), answer, env)
    if isinstance(prompt, Rejected):
        return prompt
    return _open_prompt(db, services, tenant_id, user, key, "register", prompt, meta, env)


def finish_registration(
    db: Session,
    services: Services,
    tenant_id: str,
    user: User,
    challenge_id: str,
    answer: Answer,
    meta: RequestMeta | None,
) -> Registration | Rejected | Waiting:
    row = _challenge(db, tenant_id, user.id, challenge_id, ("register",))
    if row is None:
        return _GONE
    if row.status == COMPLETED and row.method_id is not None:
        # Completed from elsewhere (a push device enrolled): the page that polls sees the result.
        created = db.get(AuthMethod, row.method_id)
        return Registration(created, {}) if created is not None else _GONE
    return _finish(db, services, tenant_id, user, row, answer, meta)


def finish_registration_by_lookup(
    db: Session,
    services: Services,
    tenant_id: str,
    kind: str,
    lookup_key: str,
    answer: Answer,
    meta: RequestMeta | None,
) -> Registration | Rejected | None:
    """Complete a registration found by the digest of a bearer code (a push device enrolling)."""
    row = db.scalars(
        sa.select(MethodChallenge).where(
            MethodChallenge.tenant_id == tenant_id,
            MethodChallenge.kind == kind,
            MethodChallenge.purpose == "register",
            MethodChallenge.lookup_key == lookup_key,
        )
    ).first()
    if row is None or row.status != PENDING:
        return None
    user = db.get(User, row.user_id)
    if user is None:
        return None
    result = _finish(db, services, tenant_id, user, row, answer, meta)
    return None if isinstance(result, Waiting) else result


def _finish(
    db: Session,
    services: Services,
    tenant_id: str,
    user: User,
    row: MethodChallenge,
    answer: Answer,
    meta: RequestMeta | None,
) -> Registration | Rejected | Waiting:
    env = environment(services, tenant_id, meta)
    if row.status != PENDING or row.expires_at <= env.now:
        return _GONE
    if row.attempts >= MAX_TRIES:
        return _TOO_MANY
    method = registry.method(row.kind)
    assert method is not None
    result = method.finish_registration(subject_of(user), _unseal(services, row), answer, env)
    if isinstance(result, Waiting):
        return result
    if isinstance(result, Rejected):
        if result.counts_as_failure:
            row.attempts += 1
        return result
    created = _store(db, services, tenant_id, user, row.kind, result, env.now)
    if created is None:
        return Rejected(Reason.NOT_ALLOWED, "That is already registered.", counts_as_failure=False)
    row.status, row.method_id, row.completed_at = COMPLETED, created.id, env.now
    return Registration(created, dict(result.reveal))


def _store(
    db: Session, services: Services, tenant_id: str, user: User, kind: str, registered: Registered, now: datetime
) -> AuthMethod | None:
    first = not second_factors(db, tenant_id, user.id)
    spec = registry.spec(kind)
    row = AuthMethod(
        id=new_id(),
        tenant_id=tenant_id,
        user_id=user.id,
        kind=kind,
        display_name=registered.display_name[:128],
        data=dict(registered.data),
        secret=services.vault.encrypt(registered.secret.encode("utf-8")) if registered.secret is not None else None,
        lookup_key=registered.lookup_key,
        counter=registered.counter,
        is_default=first and spec is not None and spec.second_factor,
        failed_attempts=0,
        created_at=now,
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except sa.exc.IntegrityError:
        return None
    if spec is not None and spec.second_factor:
        user.mfa_registration_required = False
    return row


# Challenges ------------------------------------------------------------------------------------------------


def start_challenge(
    db: Session,
    services: Services,
    tenant_id: str,
    user: User,
    method_row: AuthMethod,
    purpose: str,
    meta: RequestMeta | None,
    app_name: str = "",
) -> Started | Rejected:
    method = registry.method(method_row.kind)
    if method is None:
        return Rejected(Reason.UNAVAILABLE, "This method can't be used.", counts_as_failure=False)
    env = environment(services, tenant_id, meta, app_name)
    if is_locked(method_row, env.now):
        return locked_message(method_row)
    prompt = method.begin_challenge(subject_of(user), stored(services, method_row), env)
    if isinstance(prompt, Rejected):
        return prompt
    if prompt.data is not None:
        method_row.data = dict(prompt.data)
    return _open_prompt(db, services, tenant_id, user, method_row.kind, purpose, prompt, meta, env, method_row.id)


def locked_message(row: AuthMethod) -> Rejected:
    until = row.locked_until.strftime("%H:%M UTC") if row.locked_until else "later"
    return Rejected(
        Reason.NOT_ALLOWED,
        f"Too many wrong attempts with {row.display_name}. Try it again after {until}, or use another method.",
        counts_as_failure=False,
    )


def answer_challenge(
    db: Session,
    services: Services,
    tenant_id: str,
    user: User,
    challenge_id: str,
    form: Answer,
    meta: RequestMeta | None,
) -> Passed | Rejected | Waiting:
    row = _challenge(db, tenant_id, user.id, challenge_id, ("signin", "verify"))
    if row is None or row.method_id is None:
        return _GONE
    env = environment(services, tenant_id, meta)
    if row.status not in (PENDING, ANSWERED) or row.expires_at <= env.now:
        return _GONE
    if row.attempts >= MAX_TRIES:
        return _TOO_MANY
    method_row = db.get(AuthMethod, row.method_id)
    method = registry.method(row.kind)
    spec = registry.spec(row.kind)
    if method_row is None or method is None or spec is None:
        return _GONE
    if is_locked(method_row, env.now):
        return locked_message(method_row)
    # An answer that came from a device is the one that counts; the browser only asks for the outcome.
    answer = {k: str(v) for k, v in row.answer.items()} if row.answer is not None else form
    result = method.verify(subject_of(user), stored(services, method_row), _unseal(services, row), answer, env)
    if isinstance(result, Waiting):
        return result
    if isinstance(result, Verified) and not advance_counter(db, method_row, result):
        result = Rejected(Reason.REPLAYED, "That was already used once. Try again with a new code or a new attempt.")
    if isinstance(result, Rejected):
        _failed(row, method_row, result, env.now)
        return result
    method_row.failed_attempts = 0
    method_row.last_used_at = env.now
    if result.data is not None:
        method_row.data = dict(result.data)
    row.status, row.completed_at = COMPLETED, env.now
    completed = completed_with(spec, env.now)
    return Passed(method_row, completed, result.log_detail or method_row.display_name)


def _failed(row: MethodChallenge, method_row: AuthMethod, result: Rejected, now: datetime) -> None:
    if result.counts_as_failure:
        row.attempts += 1
        method_row.failed_attempts += 1
        if method_row.failed_attempts >= LOCK_AFTER:
            method_row.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            method_row.failed_attempts = 0
    if result.reason in _FINAL or row.answer is not None:
        row.status = FAILED


def advance_counter(db: Session, method_row: AuthMethod, result: Verified) -> bool:
    """Store the new counter only if it grows, in one conditional statement (safe across nodes).

    A counter of 0 that stays 0 is accepted: many passkeys do not count signatures at all.
    """
    new = result.counter
    if new is None:
        return True
    grows = sa.or_(AuthMethod.counter.is_(None), AuthMethod.counter < new)
    if new == 0:
        grows = sa.or_(grows, AuthMethod.counter == 0)
    db.flush()
    updated = db.execute(
        sa.update(AuthMethod)
        .where(AuthMethod.id == method_row.id, grows)
        .values(counter=new)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        return False
    # The ORM object must not write its stale counter back over the new one.
    db.refresh(method_row, ["counter"])
    return True


def prompt_view(db: Session, services: Services, tenant_id: str, user_id: str, challenge_id: str) -> Mapping[str, Any]:
    """The view of an open prompt, to show its page again; empty if it is gone."""
    row = _challenge(db, tenant_id, user_id, challenge_id, ("signin", "verify", "register"))
    if row is None:
        return {}
    view: Mapping[str, Any] = _unseal(services, row).get(VIEW_KEY, {})
    return view


def locked_methods(db: Session, tenant_id: str, user_id: str, now: datetime) -> list[AuthMethod]:
    return [m for m in second_factors(db, tenant_id, user_id) if is_locked(m, now)]
