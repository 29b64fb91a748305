"""The interactive sign-in use case: runs domain/signin.py's state machine against the store.

Flows live in the database and are bound to the browser that started them (a hash of a random
cookie), so any worker can continue any flow and a flow id seen in a URL is useless elsewhere.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import constant_time_equals, secret_hash
from limen.domain import signin as machine
from limen.domain.access.decision import ClientAppType, Decision, PolicySet, SignInContext, decide
from limen.domain.directory import upn_key
from limen.domain.ids import new_id, parse_guid
from limen.domain.session import CompletedMethod, is_multi_factor
from limen.domain.signin_log import CLIENT_APP_USED, AuthenticationDetail, SignInError, SignInRecord
from limen.domain.user_agent import device_detail
from limen.service import sessions, signin_log
from limen.service.context import Services
from limen.service.directory import member_of_transitive, role_ids_of
from limen.store.db import transaction
from limen.store.models import SignInFlow, User

#: Limen's own "My Account" portal, the application of sign-ins that did not come from a client.
PORTAL_APP_ID = "6b3f4c1e-2a0d-4f7e-9c55-0d1e6a7b8c90"
PORTAL_APP_NAME = "Limen My Account"

PASSWORD_METHOD = "password"  # noqa: S105 - a method name, not a secret
SWEEP_ONE_IN = 100

# The hot path's statements, built once with bind parameters: building a statement and its cache key
# costs more than running it, and sign-in throughput is a stated target (bench/signin_throughput.py).
_FLOWS = SignInFlow.metadata.tables["signin_flows"]
_USERS = User.metadata.tables["users"]
Flow = sa.Row[Any]
_INSERT_FLOW = sa.insert(_FLOWS)
_SELECT_FLOW = sa.select(_FLOWS).where(_FLOWS.c.id == sa.bindparam("flow_id"))
_UPDATE_FLOW = (
    sa.update(_FLOWS)
    .where(_FLOWS.c.id == sa.bindparam("flow_id"))
    .values(state=sa.bindparam("new_state", type_=_FLOWS.c.state.type))
)
_DELETE_FLOW = sa.delete(_FLOWS).where(_FLOWS.c.id == sa.bindparam("flow_id"))
_SELECT_ACCOUNT = sa.select(
    User.id, User.user_principal_name, User.display_name, User.password_hash, User.account_enabled
).where(User.tenant_id == sa.bindparam("tenant_id"), User.upn_key == sa.bindparam("upn_key"))
_MARK_SIGNED_IN = (
    sa.update(_USERS)
    .where(_USERS.c.id == sa.bindparam("user_id"))
    .values(last_sign_in_at=sa.bindparam("now", type_=_USERS.c.last_sign_in_at.type))
)


@dataclass(frozen=True)
class RequestMeta:
    """Facts about the HTTP request that the log and (later) risk detection need."""

    ip_address: str
    user_agent: str
    client_app_type: ClientAppType = ClientAppType.BROWSER
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class FlowView:
    flow_id: str
    state: machine.SignInState
    authorize_request: dict[str, Any] | None
    notice: machine.Notice | None = None

    @property
    def app_display_name(self) -> str:
        if self.authorize_request:
            return str(self.authorize_request.get("app_display_name", ""))
        return PORTAL_APP_NAME


@dataclass(frozen=True)
class Completed:
    """The sign-in succeeded: a new session cookie, and where to continue."""

    session_token: str
    user_id: str
    authorize_request: dict[str, Any] | None


def start_flow(services: Services, tenant_id: str, browser_token: str, authorize_request: dict[str, Any] | None) -> str:
    """Start a sign-in flow bound to this browser; return its id."""
    return begin(services, tenant_id, browser_token, authorize_request).flow_id


def begin(services: Services, tenant_id: str, browser_token: str, authorize_request: dict[str, Any] | None) -> FlowView:
    """Start a sign-in flow bound to this browser and return it, ready to render."""
    now = services.clock.now()
    flow_id = new_id()
    with transaction(services.db) as db:
        # Expired flows are swept now and then, so the table stays small without a scheduler
        # and without a delete on every request.
        if secrets.randbelow(SWEEP_ONE_IN) == 0:
            db.execute(sa.delete(SignInFlow).where(SignInFlow.expires_at <= now))
        db.execute(
            _INSERT_FLOW,
            {
                "id": flow_id,
                "tenant_id": tenant_id,
                "browser_binding": secret_hash(browser_token),
                "state": machine.SignInState().to_json(),
                "authorize_request": authorize_request,
                "created_at": now,
                "expires_at": now + timedelta(minutes=services.settings.signin_flow_minutes),
            },
        )
    return FlowView(flow_id, machine.SignInState(), authorize_request)


def _load(db: Session, services: Services, tenant_id: str, flow_id: str, browser_token: str) -> Flow | None:
    parsed = parse_guid(flow_id) if flow_id else None
    if parsed is None or not browser_token:
        return None
    flow = db.execute(_SELECT_FLOW, {"flow_id": parsed}).first()
    if flow is None or flow.tenant_id != tenant_id or flow.expires_at <= services.clock.now():
        return None
    if not constant_time_equals(flow.browser_binding, secret_hash(browser_token)):
        return None
    return flow


def load_flow(services: Services, tenant_id: str, flow_id: str, browser_token: str) -> FlowView | None:
    """The flow if it exists, has not expired and belongs to this browser; otherwise None."""
    with services.db() as db:
        flow = _load(db, services, tenant_id, flow_id, browser_token)
        if flow is None:
            return None
        return FlowView(flow.id, machine.SignInState.from_json(flow.state), flow.authorize_request)


def _save(db: Session, flow: Flow, state: machine.SignInState) -> None:
    db.execute(_UPDATE_FLOW, {"flow_id": flow.id, "new_state": state.to_json()})


def submit_username(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, username: str
) -> FlowView | None:
    now = services.clock.now()
    with transaction(services.db) as db:
        flow = _load(db, services, tenant_id, flow_id, browser_token)
        if flow is None:
            return None
        state = machine.SignInState.from_json(flow.state)
        try:
            state, effects = machine.advance(state, machine.UsernameSubmitted(username), now)
        except machine.InvalidTransition:
            state, effects = machine.advance(state, machine.Restarted(), now)
        _save(db, flow, state)
        return FlowView(flow.id, state, flow.authorize_request, _notice(effects))


def restart(services: Services, tenant_id: str, flow_id: str, browser_token: str) -> FlowView | None:
    now = services.clock.now()
    with transaction(services.db) as db:
        flow = _load(db, services, tenant_id, flow_id, browser_token)
        if flow is None:
            return None
        state, _ = machine.advance(machine.SignInState(), machine.Restarted(), now)
        _save(db, flow, state)
        return FlowView(flow.id, state, flow.authorize_request)


def _notice(effects: tuple[machine.Effect, ...]) -> machine.Notice | None:
    for effect in effects:
        if isinstance(effect, machine.Show):
            return effect.notice
    return None


@dataclass(frozen=True)
class _Account:
    """What the password step needs of a user, read once before the (slow) hash check."""

    id: str
    user_principal_name: str
    display_name: str
    password_hash: str | None
    enabled: bool


def _find_account(db: Session, tenant_id: str, username: str) -> _Account | None:
    row = db.execute(_SELECT_ACCOUNT, {"tenant_id": tenant_id, "upn_key": upn_key(username)}).first()
    return _Account(*row) if row is not None else None


def submit_password(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, password: str, meta: RequestMeta
) -> FlowView | Completed | None:
    """Check the password and run the pipeline to its end. Runs argon2: call it off the event loop."""
    with services.db() as db:
        flow = _load(db, services, tenant_id, flow_id, browser_token)
        if flow is None:
            return None
        username = machine.SignInState.from_json(flow.state).username
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

    with transaction(services.db) as db:
        flow = _load(db, services, tenant_id, flow_id, browser_token)
        if flow is None:
            return None
        state = machine.SignInState.from_json(flow.state)
        if state.stage is not machine.Stage.PASSWORD or state.username != username:
            # Another tab or a replayed form moved the flow on: start over rather than double-complete.
            state, _ = machine.advance(state, machine.Restarted(), now)
            _save(db, flow, state)
            return FlowView(flow.id, state, flow.authorize_request)
        event: machine.Event = machine.FirstFactorChecked(
            error=error, user_id=account.id if account else None, method=method
        )
        detail = AuthenticationDetail(
            "Password", succeeded=verification.ok, step_at=now, result_detail=_result_detail(error)
        )
        notice: machine.Notice | None = None
        session_token: str | None = None
        while True:
            state, effects = machine.advance(state, event, now)
            next_event: machine.Event | None = None
            for effect in effects:
                if isinstance(effect, machine.Show):
                    notice = effect.notice
                elif isinstance(effect, machine.LogAttempt):
                    signin_log.append(db, tenant_id, _record(state, account, flow, effect.error, detail, meta, now))
                elif isinstance(effect, machine.RunDecision):
                    next_event = machine.Decided(_decide(db, services, tenant_id, state, flow, meta))
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
                    _after_success(db, state.user_id, verification.new_hash, now)
            if next_event is None:
                break
            event = next_event
        if session_token is not None and state.user_id is not None:
            authorize_request = flow.authorize_request
            db.execute(_DELETE_FLOW, {"flow_id": flow.id})
            return Completed(session_token=session_token, user_id=state.user_id, authorize_request=authorize_request)
        _save(db, flow, state)
        return FlowView(flow.id, state, flow.authorize_request, notice)


def _result_detail(error: SignInError) -> str:
    return (
        "Correct password"
        if error in (SignInError.SUCCESS, SignInError.USER_DISABLED)
        else "Invalid username or password"
    )


def _decide(
    db: Session, services: Services, tenant_id: str, state: machine.SignInState, flow: Flow, meta: RequestMeta
) -> Decision:
    assert state.user_id is not None
    policies = PolicySet()
    # Directory facts cost two recursive queries; load them only when some policy can look at them.
    groups = member_of_transitive(db, tenant_id, state.user_id) if policies.needs_directory else set()
    roles = role_ids_of(db, tenant_id, state.user_id) if policies.needs_directory else set()
    context = SignInContext(
        tenant_id=tenant_id,
        user_id=state.user_id,
        group_ids=frozenset(groups),
        role_ids=frozenset(roles),
        app_id=_app_id(flow.authorize_request),
        client_app_type=meta.client_app_type,
        ip_address=meta.ip_address,
    )
    return decide(context, policies, services.clock.now())


def _app_id(authorize_request: dict[str, Any] | None) -> str:
    return str(authorize_request["client_id"]) if authorize_request else PORTAL_APP_ID


def _record(
    state: machine.SignInState,
    account: _Account | None,
    flow: Flow,
    error: SignInError,
    detail: AuthenticationDetail,
    meta: RequestMeta,
    now: datetime,
) -> SignInRecord:
    request = flow.authorize_request
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


def _after_success(db: Session, user_id: str, new_hash: str | None, now: datetime) -> None:
    db.execute(_MARK_SIGNED_IN, {"user_id": user_id, "now": now})
    if new_hash is not None:
        # Transparent rehash: the parameters changed since this hash was made (config or upgrade).
        db.execute(sa.update(User).where(User.id == user_id).values(password_hash=new_hash))
