"""The interactive sign-in use case: runs domain/signin.py's state machine against the store.

A flow is bound to the browser that started it (a random cookie) and expires. Its state between
pages travels in the page itself, as a *sealed handle*: the flow id, tenant, expiry and the
machine's state, authenticated with an HMAC keyed by the server secret and the browser's cookie.
So the username step writes nothing, and a sign-in to Limen's own portal stores nothing until it
succeeds. A handle from another browser, another tenant, after expiry or altered in any byte is
refused. The database still holds what a handle cannot carry: the OIDC authorize request (flows
started by /authorize have a row, keyed by the id in the /signin?flow= URL) and any state past the
password step. When a sign-in completes, its row is deleted or, for a portal flow, a row is written
as a spent marker: either way a replayed handle finds the flow gone, so each flow completes once.
"""

from __future__ import annotations

import secrets
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import constant_time_equals, secret_hash
from limen.domain import signin as machine
from limen.domain.access.decision import ClientAppType
from limen.domain.ids import new_id, parse_guid
from limen.service.context import Services
from limen.service.signin_handles import CARRIED, Handle, needs_db, open_handle, seal
from limen.store.models import AuthMethod, SignInFlow, Tenant, User

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
_SWEEP_FLOWS = sa.delete(_FLOWS).where(_FLOWS.c.expires_at <= sa.bindparam("now", type_=_FLOWS.c.expires_at.type))
_METHODS = AuthMethod.metadata.tables["auth_methods"]
_SELECT_ACCOUNT = sa.select(
    User.id,
    User.user_principal_name,
    User.display_name,
    User.password_hash,
    User.account_enabled,
    # Whether the user has any method: most users' sign-ins then need no query about methods at all.
    sa.exists().where(_METHODS.c.user_id == User.id).label("has_methods"),
    User.mfa_registration_required,
    User.mfa_registration_started_at,
    # The tenant's security defaults ride along: no second query on the hot path.
    Tenant.security_defaults_enabled,
    Tenant.registration_grace_days,
    Tenant.policy_version,
    User.user_type,
).where(
    User.tenant_id == sa.bindparam("tenant_id"),
    User.upn_key == sa.bindparam("upn_key"),
    Tenant.id == User.tenant_id,
)
_MARK_SIGNED_IN = (
    sa.update(_USERS)
    .where(_USERS.c.id == sa.bindparam("user_id"))
    .values(last_sign_in_at=sa.bindparam("now", type_=_USERS.c.last_sign_in_at.type))
)

#: A Session or a Connection: the hot path runs Core statements on a bare Connection.
Db = Session | sa.Connection


@dataclass(frozen=True)
class RequestMeta:
    """Facts about the HTTP request that the log and (later) risk detection need."""

    ip_address: str
    user_agent: str
    client_app_type: ClientAppType = ClientAppType.BROWSER
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: A keyed hash of the browser's long-lived cookie: which device this is, for "familiar device".
    device_key: str = ""
    #: The registered-device cookie (limen_device), if the browser has one (limen.service.devices).
    device_secret: str = ""


@dataclass(frozen=True)
class FlowView:
    #: What the page's forms post back as `flow`: a sealed handle (see the module docstring).
    flow_id: str
    state: machine.SignInState
    authorize_request: dict[str, Any] | None
    notice: machine.Notice | None = None
    #: A message from an authentication method (a wrong code, a throttle), shown as the notice.
    message: str | None = None

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
    #: Keep the session cookie after the browser closes (Conditional Access `persistentBrowser: always`);
    #: otherwise it is a browser-session cookie, as with `never` and when no policy says.
    persistent: bool = False


@dataclass(frozen=True)
class _Resolved:
    handle: Handle
    row: Flow | None
    state: machine.SignInState

    @property
    def authorize_request(self) -> dict[str, Any] | None:
        return self.row.authorize_request if self.row is not None else None

    @property
    def expires_at(self) -> int:
        return int(self.row.expires_at.timestamp()) if self.row is not None else self.handle.expires_at


def _resolve(db: Db | None, services: Services, tenant_id: str, value: str, browser_token: str) -> _Resolved | None:
    """Open the handle and, for a stored flow, check and read its row. `db` may be None for a portal flow."""
    handle = open_handle(services, tenant_id, value, browser_token)
    if handle is None:
        return None
    if not handle.stored:
        assert handle.state is not None
        return _Resolved(handle, None, handle.state)
    if db is None:
        with services.engine.connect() as connection:
            return _resolve_stored(connection, services, tenant_id, handle, browser_token)
    return _resolve_stored(db, services, tenant_id, handle, browser_token)


def _resolve_stored(db: Db, services: Services, tenant_id: str, handle: Handle, browser_token: str) -> _Resolved | None:
    row = _load(db, services, tenant_id, handle.flow_id, browser_token)
    if row is None:
        return None
    stored = machine.SignInState.from_json(row.state)
    # The row wins once it holds a stage no handle carries: an older page cannot roll the flow back.
    state = handle.state if handle.state is not None and stored.stage in CARRIED else stored
    return _Resolved(handle, row, state)


def _view(
    db: Db | None,
    services: Services,
    browser_token: str,
    resolved: _Resolved,
    state: machine.SignInState,
    notice: machine.Notice | None = None,
) -> FlowView:
    """A view of the new state with a fresh handle; a state no handle carries goes to the flow's row."""
    handle = resolved.handle
    if state.stage in CARRIED:
        if resolved.row is not None and machine.SignInState.from_json(resolved.row.state).stage not in CARRIED:
            assert db is not None
            db.execute(_UPDATE_FLOW, {"flow_id": handle.flow_id, "new_state": state.to_json()})
        sealed = Handle(handle.flow_id, handle.tenant_id, resolved.expires_at, handle.stored, state)
    else:
        assert db is not None
        if resolved.row is not None:
            db.execute(_UPDATE_FLOW, {"flow_id": handle.flow_id, "new_state": state.to_json()})
        else:
            _insert_row(db, services, handle, browser_token, state, None)
        sealed = Handle(handle.flow_id, handle.tenant_id, resolved.expires_at, True, None)
    return FlowView(seal(services, browser_token, sealed), state, resolved.authorize_request, notice)


def _insert_row(
    db: Db,
    services: Services,
    handle: Handle,
    browser_token: str,
    state: machine.SignInState,
    authorize_request: dict[str, Any] | None,
) -> None:
    now = services.clock.now()
    db.execute(
        _INSERT_FLOW,
        {
            "id": handle.flow_id,
            "tenant_id": handle.tenant_id,
            "browser_binding": secret_hash(browser_token),
            "state": state.to_json(),
            "authorize_request": authorize_request,
            "created_at": now,
            "expires_at": datetime.fromtimestamp(handle.expires_at, tz=now.tzinfo),
        },
    )


def new_handle(services: Services, tenant_id: str, *, stored: bool, state: machine.SignInState | None = None) -> Handle:
    """A new flow's handle, valid for `LIMEN_SIGNIN_FLOW_MINUTES` from now."""
    expires = services.clock.now() + timedelta(minutes=services.settings.signin_flow_minutes)
    return Handle(new_id(), tenant_id, int(expires.timestamp()), stored=stored, state=state)


# Use cases ------------------------------------------------------------------------------------------


def start_flow(services: Services, tenant_id: str, browser_token: str, authorize_request: dict[str, Any] | None) -> str:
    """Start a sign-in flow bound to this browser and stored in the database; return its id (for a URL)."""
    handle = new_handle(services, tenant_id, stored=True)
    with services.engine.begin() as db:
        # Expired flows (and spent portal flows) are swept now and then, so the table stays small
        # without a scheduler and without a delete on every request.
        if secrets.randbelow(SWEEP_ONE_IN) == 0:
            db.execute(_SWEEP_FLOWS, {"now": services.clock.now()})
        _insert_row(db, services, handle, browser_token, machine.SignInState(), authorize_request)
    return handle.flow_id


def begin(services: Services, tenant_id: str, browser_token: str) -> FlowView:
    """Start a sign-in to Limen's own portal, bound to this browser, ready to render.

    It touches no table: its handle carries it to the password step. Flows started by /authorize
    are stored instead (start_flow).
    """
    state = machine.SignInState()
    handle = new_handle(services, tenant_id, stored=False, state=state)
    return FlowView(seal(services, browser_token, handle), state, None)


def _load(db: Db, services: Services, tenant_id: str, flow_id: str, browser_token: str) -> Flow | None:
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
    """The stored flow `flow_id` (from a /signin?flow= URL) if it exists, has not expired and belongs
    to this browser; otherwise None."""
    if parse_guid(flow_id or "") is None:
        return None
    with services.engine.begin() as db:
        resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
        if resolved is None:
            return None
        return _view(db, services, browser_token, resolved, resolved.state)


def _transaction_if(services: Services, needed: bool) -> AbstractContextManager[sa.Connection | None]:
    """A write transaction on a bare Connection, or none when the step will not touch the database."""
    return services.engine.begin() if needed else nullcontext()


def submit_username(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, username: str
) -> FlowView | None:
    now = services.clock.now()
    with _transaction_if(services, needs_db(flow_id)) as db:
        resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
        if resolved is None:
            return None
        try:
            state, effects = machine.advance(resolved.state, machine.UsernameSubmitted(username), now)
        except machine.InvalidTransition:
            state, effects = machine.advance(resolved.state, machine.Restarted(), now)
        return _view(db, services, browser_token, resolved, state, _notice(effects))


def restart(services: Services, tenant_id: str, flow_id: str, browser_token: str) -> FlowView | None:
    now = services.clock.now()
    with _transaction_if(services, needs_db(flow_id)) as db:
        resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
        if resolved is None:
            return None
        state, _ = machine.advance(machine.SignInState(), machine.Restarted(), now)
        return _view(db, services, browser_token, resolved, state)


def _notice(effects: tuple[machine.Effect, ...]) -> machine.Notice | None:
    for effect in effects:
        if isinstance(effect, machine.Show):
            return effect.notice
    return None
