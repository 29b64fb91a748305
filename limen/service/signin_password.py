"""The password step of an interactive sign-in, and the pipeline from there to its end.

Runs argon2 (outside any transaction, off the event loop), then in one transaction: the state
machine's decide and satisfy steps, the session, the user's last sign-in time and the sign-in log.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from limen.domain import signin as machine
from limen.domain.directory import upn_key
from limen.domain.session import CompletedMethod
from limen.domain.signin_log import AuthenticationDetail, SignInError
from limen.service.context import Services
from limen.service.signin import (
    _DELETE_FLOW,
    _SELECT_ACCOUNT,
    _SELECT_FLOW,
    _SWEEP_FLOWS,
    PASSWORD_METHOD,
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
from limen.service.signin_steps import Account, Step, drive


def _find_account(db: Db, tenant_id: str, username: str) -> Account | None:
    """The account behind a username, read once before the (slow) hash check."""
    row = db.execute(_SELECT_ACCOUNT, {"tenant_id": tenant_id, "upn_key": upn_key(username)}).first()
    if row is None:
        return None
    return Account(
        id=row.id,
        user_principal_name=row.user_principal_name,
        display_name=row.display_name,
        password_hash=row.password_hash,
        enabled=row.account_enabled,
        has_methods=row.has_methods,
        registration_required=row.mfa_registration_required,
        registration_started_at=row.mfa_registration_started_at,
        security_defaults=row.security_defaults_enabled,
        registration_grace_days=row.registration_grace_days,
        policy_version=row.policy_version,
        user_type=row.user_type,
    )


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
    account: Account | None,
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
    event = machine.FirstFactorChecked(error=error, user_id=account.id if account else None, method=method)
    step = Step(db, services, tenant_id, resolved, meta, now, account, new_hash=new_hash)
    if error is not SignInError.SUCCESS:
        step.failed = AuthenticationDetail(
            "Password",
            succeeded=error is SignInError.USER_DISABLED,
            step_at=now,
            result_detail=_result_detail(error),
        )
    state = drive(step, state, event)
    return conclude(step, browser_token, state)


def conclude(step: Step, browser_token: str, state: machine.SignInState) -> FlowView | Completed:
    """The page after a step: the application (the sign-in completed) or the flow's next page."""
    if step.session_token is not None and state.user_id is not None:
        _finish(step.db, step.services, browser_token, step.resolved, state, step.now)
        return Completed(
            session_token=step.session_token,
            user_id=state.user_id,
            authorize_request=step.authorize_request,
            persistent=step.decision is not None and step.decision.persistent_browser == "always",
        )
    view = _view(step.db, step.services, browser_token, step.resolved, state, step.notice)
    return replace(view, message=step.message) if step.message else view


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
