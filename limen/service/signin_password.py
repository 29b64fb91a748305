"""The password step of an interactive sign-in, and the pipeline from there to its end.

Runs argon2 (outside any transaction, off the event loop), then in one transaction: the state
machine's decide and satisfy steps, the session, the user's last sign-in time and the sign-in log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain import signin as machine
from limen.domain.access.decision import Decision, PolicySet, SignInContext, decide
from limen.domain.directory import upn_key
from limen.domain.ids import new_id
from limen.domain.session import CompletedMethod, is_multi_factor
from limen.domain.signin_log import CLIENT_APP_USED, AuthenticationDetail, SignInError, SignInRecord
from limen.domain.user_agent import device_detail
from limen.service import sessions, signin_log
from limen.service.context import Services
from limen.service.directory import member_of_transitive, role_ids_of
from limen.service.signin import (
    _DELETE_FLOW,
    _MARK_SIGNED_IN,
    _SELECT_ACCOUNT,
    _SELECT_FLOW,
    _SWEEP_FLOWS,
    PASSWORD_METHOD,
    PORTAL_APP_ID,
    PORTAL_APP_NAME,
    SWEEP_ONE_IN,
    Completed,
    Db,
    FlowView,
    RequestMeta,
    _insert_row,
    _resolve,
    _resolve_stored,
    _Resolved,
    _view,
)
from limen.service.signin_handles import CARRIED
from limen.store.models import User


@dataclass(frozen=True)
class _Account:
    """What the password step needs of a user, read once before the (slow) hash check."""

    id: str
    user_principal_name: str
    display_name: str
    password_hash: str | None
    enabled: bool


def _find_account(db: Db, tenant_id: str, username: str) -> _Account | None:
    row = db.execute(_SELECT_ACCOUNT, {"tenant_id": tenant_id, "upn_key": upn_key(username)}).first()
    return _Account(*row) if row is not None else None


class _Spent(Exception):
    """A portal flow's spent marker already exists: this handle completed a sign-in before."""


def submit_password(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, password: str, meta: RequestMeta
) -> FlowView | Completed | None:
    """Check the password and run the pipeline to its end. Runs argon2: call it off the event loop."""
    with services.engine.connect() as db:
        resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
        if resolved is None or (resolved.row is None and _spent(db, resolved.handle.flow_id)):
            return None
        if resolved.state.stage is not machine.Stage.PASSWORD:
            # A replayed form or another tab: start over rather than check a password for no one.
            return _restart_view(services, browser_token, resolved)
        username = resolved.state.username
        account = _find_account(db, tenant_id, username)
    # argon2 runs outside any transaction: a slow hash must not hold a database connection or lock.
    verification = services.hasher.verify(account.password_hash if account else None, password)
    now = services.clock.now()
    if account is None:
        error = SignInError.USER_ACCOUNT_NOT_FOUND
    elif not verification.ok:
        error = SignInError.INVALID_USERNAME_OR_PASSWORD
    elif not account.enabled:
        # Reported only after a correct password, so the notice reveals nothing to a guesser.
        error = SignInError.USER_DISABLED
    else:
        error = SignInError.SUCCESS
    method = (
        CompletedMethod(method=PASSWORD_METHOD, amr="pwd", factor="knowledge", at=now)
        if error is SignInError.SUCCESS
        else None
    )
    try:
        with services.engine.begin() as db:
            return _complete_password(
                db,
                services,
                tenant_id,
                flow_id,
                browser_token,
                resolved,
                username,
                account,
                error,
                method,
                verification.new_hash,
                meta,
                now,
            )
    except _Spent:
        return None


def _spent(db: Db, flow_id: str) -> bool:
    return db.execute(_SELECT_FLOW, {"flow_id": flow_id}).first() is not None


def _restart_view(services: Services, browser_token: str, resolved: _Resolved) -> FlowView:
    state, _ = machine.advance(resolved.state, machine.Restarted(), services.clock.now())
    if resolved.row is not None and machine.SignInState.from_json(resolved.row.state).stage not in CARRIED:
        with services.engine.begin() as db:
            return _view(db, services, browser_token, resolved, state)
    return _view(None, services, browser_token, resolved, state)


def _complete_password(
    db: sa.Connection,
    services: Services,
    tenant_id: str,
    flow_id: str,
    browser_token: str,
    first: _Resolved,
    username: str,
    account: _Account | None,
    error: SignInError,
    method: CompletedMethod | None,
    new_hash: str | None,
    meta: RequestMeta,
    now: datetime,
) -> FlowView | Completed | None:
    if first.handle.stored:
        # Re-read under the write transaction: another tab may have completed or moved the flow on.
        resolved = _resolve_stored(db, services, tenant_id, first.handle, browser_token)
        if resolved is None:
            return None
    else:
        resolved = first
    state = resolved.state
    if state.stage is not machine.Stage.PASSWORD or state.username != username:
        state, _ = machine.advance(state, machine.Restarted(), now)
        return _view(db, services, browser_token, resolved, state)
    event: machine.Event = machine.FirstFactorChecked(
        error=error, user_id=account.id if account else None, method=method
    )
    detail = AuthenticationDetail(
        "Password",
        succeeded=error in (SignInError.SUCCESS, SignInError.USER_DISABLED),
        step_at=now,
        result_detail=_result_detail(error),
    )
    notice: machine.Notice | None = None
    session_token: str | None = None
    authorize_request = resolved.authorize_request
    while True:
        state, effects = machine.advance(state, event, now)
        next_event: machine.Event | None = None
        for effect in effects:
            if isinstance(effect, machine.Show):
                notice = effect.notice
            elif isinstance(effect, machine.LogAttempt):
                record = _record(state, account, authorize_request, effect.error, detail, meta, now)
                signin_log.append(db, tenant_id, record)
            elif isinstance(effect, machine.RunDecision):
                next_event = machine.Decided(_decide(db, services, tenant_id, state, authorize_request, meta))
            elif isinstance(effect, machine.IssueSession):
                assert state.user_id is not None
                session_token = sessions.create(
                    db,
                    tenant_id=tenant_id,
                    user_id=state.user_id,
                    methods=state.completed,
                    now=now,
                    lifetime=timedelta(hours=services.settings.session_lifetime_hours),
                )
                _after_success(db, state.user_id, new_hash, now)
        if next_event is None:
            break
        event = next_event
    if session_token is not None and state.user_id is not None:
        _finish(db, services, browser_token, resolved, state, now)
        return Completed(session_token=session_token, user_id=state.user_id, authorize_request=authorize_request)
    return _view(db, services, browser_token, resolved, state, notice)


def _finish(
    db: sa.Connection,
    services: Services,
    browser_token: str,
    resolved: _Resolved,
    state: machine.SignInState,
    now: datetime,
) -> None:
    """Spend the flow: a stored flow's row goes; a portal flow leaves a marker its handle cannot get past."""
    if resolved.row is not None:
        db.execute(_DELETE_FLOW, {"flow_id": resolved.handle.flow_id})
        return
    if secrets.randbelow(SWEEP_ONE_IN) == 0:
        db.execute(_SWEEP_FLOWS, {"now": now})
    try:
        _insert_row(db, services, resolved.handle, browser_token, state, None)
    except sa.exc.IntegrityError as exc:
        # The same handle completed concurrently (a double submit): only one may, so this whole
        # transaction (its session and log row too) rolls back.
        raise _Spent from exc


def _result_detail(error: SignInError) -> str:
    return (
        "Correct password"
        if error in (SignInError.SUCCESS, SignInError.USER_DISABLED)
        else "Invalid username or password"
    )


def _decide(
    db: sa.Connection,
    services: Services,
    tenant_id: str,
    state: machine.SignInState,
    authorize_request: dict[str, Any] | None,
    meta: RequestMeta,
) -> Decision:
    assert state.user_id is not None
    policies = PolicySet()
    groups: set[str] = set()
    roles: set[str] = set()
    if policies.needs_directory:
        # Directory facts cost two recursive queries; load them only when some policy can look at them.
        with Session(bind=db) as session:
            groups = set(member_of_transitive(session, tenant_id, state.user_id))
            roles = set(role_ids_of(session, tenant_id, state.user_id))
    context = SignInContext(
        tenant_id=tenant_id,
        user_id=state.user_id,
        group_ids=frozenset(groups),
        role_ids=frozenset(roles),
        app_id=_app_id(authorize_request),
        client_app_type=meta.client_app_type,
        ip_address=meta.ip_address,
    )
    return decide(context, policies, services.clock.now())


def _app_id(authorize_request: dict[str, Any] | None) -> str:
    return str(authorize_request["client_id"]) if authorize_request else PORTAL_APP_ID


def _record(
    state: machine.SignInState,
    account: _Account | None,
    request: dict[str, Any] | None,
    error: SignInError,
    detail: AuthenticationDetail,
    meta: RequestMeta,
    now: datetime,
) -> SignInRecord:
    return SignInRecord(
        id=new_id(),
        created_at=now,
        correlation_id=meta.correlation_id,
        error=error,
        user_id=account.id if account else None,
        user_principal_name=account.user_principal_name if account else state.username,
        user_display_name=account.display_name if account else "",
        app_id=_app_id(request),
        app_display_name=str(request.get("app_display_name", "")) if request else PORTAL_APP_NAME,
        ip_address=meta.ip_address,
        client_app_used=CLIENT_APP_USED[meta.client_app_type.value],
        is_interactive=True,
        authentication_requirement=(
            "multiFactorAuthentication" if is_multi_factor(state.completed) else "singleFactorAuthentication"
        ),
        authentication_details=(detail,),
        device_detail=device_detail(meta.user_agent),
    )


def _after_success(db: Db, user_id: str, new_hash: str | None, now: datetime) -> None:
    db.execute(_MARK_SIGNED_IN, {"user_id": user_id, "now": now})
    if new_hash is not None:
        # Transparent rehash: the parameters changed since this hash was made (config or upgrade).
        db.execute(sa.update(User).where(User.id == user_id).values(password_hash=new_hash))
