"""Sealed sign-in flow handles: the flow's early state, carried in the page instead of the database.

A handle is the flow id, tenant, expiry and the state machine's state (stage, typed username,
failure count), serialised and authenticated with an HMAC keyed by the server secret *and* the
browser-binding cookie. A handle from another browser, another tenant, after expiry or altered in
any byte does not open. Only the identify and password stages travel this way: later stages know
the user id, which the page must not reveal, so they live in the flow's row (limen.service.signin).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from limen.crypto.tokens import constant_time_equals, keyed_digest
from limen.domain import signin as machine
from limen.domain.ids import parse_guid
from limen.service.context import Services

HANDLE_VERSION = 1
MAX_HANDLE_LENGTH = 2048
_HANDLE_PURPOSE = "signin-flow"
#: The stages a handle may carry.
CARRIED = (machine.Stage.IDENTIFY, machine.Stage.PASSWORD)


@dataclass(frozen=True)
class Handle:
    flow_id: str
    tenant_id: str
    expires_at: int  # Unix seconds
    #: The flow has a row: it came from /authorize, or reached a stage a handle does not carry.
    stored: bool
    #: None: the state is the row's.
    state: machine.SignInState | None


def _carried_json(state: machine.SignInState) -> list[Any]:
    return [state.stage.value, state.username, state.failures]


def _carried_state(data: list[Any]) -> machine.SignInState:
    stage, username, failures = data
    if machine.Stage(stage) not in CARRIED or not isinstance(username, str) or not isinstance(failures, int):
        raise ValueError("not a carried state")
    return machine.SignInState(stage=machine.Stage(stage), username=username, failures=failures)


def _mac(services: Services, payload: str, browser_token: str) -> str:
    return keyed_digest(str(services.settings.secret_key), _HANDLE_PURPOSE, payload, browser_token)


def seal(services: Services, browser_token: str, handle: Handle) -> str:
    state = _carried_json(handle.state) if handle.state is not None else None
    body = [HANDLE_VERSION, handle.flow_id, handle.tenant_id, handle.expires_at, handle.stored, state]
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{payload}.{_mac(services, payload, browser_token)}"


def open_handle(services: Services, tenant_id: str, value: str, browser_token: str) -> Handle | None:
    """The handle if this server sealed it for this browser and tenant and it has not expired."""
    if not value or not browser_token or len(value) > MAX_HANDLE_LENGTH:
        return None
    guid = parse_guid(value)
    if guid is not None:
        # A bare flow id: the row holds everything and checks binding and expiry itself.
        return Handle(guid, tenant_id, 0, stored=True, state=None)
    payload, _, mac = value.partition(".")
    if not constant_time_equals(mac, _mac(services, payload, browser_token)):
        return None
    try:
        version, flow_id, flow_tenant, expires_at, stored, state = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        if version != HANDLE_VERSION:
            return None
        handle = Handle(
            str(flow_id),
            str(flow_tenant),
            int(expires_at),
            bool(stored),
            _carried_state(state) if state is not None else None,
        )
    except (ValueError, TypeError):
        return None
    if handle.tenant_id != tenant_id or (not handle.stored and handle.expires_at <= services.clock.now().timestamp()):
        return None
    if handle.state is None and not handle.stored:
        return None
    return handle


def needs_db(value: str) -> bool:
    """Whether continuing this flow reads the database before the password step (OIDC flows do)."""
    handle_is_bare_id = parse_guid(value) is not None if value and len(value) <= 64 else False
    if handle_is_bare_id:
        return True
    payload = value.partition(".")[0]
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return bool(body[4])
    except (ValueError, TypeError, IndexError, KeyError):
        return False
