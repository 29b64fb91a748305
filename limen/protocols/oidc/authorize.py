"""Validation of authorization requests, in the order RFC 6749 §4.1.2.1 requires.

Errors about the client or the redirect URI are shown to the user and never redirected: an
unregistered URI is exactly where an attacker would like the error (and any code) to go.

Each request is also classified with a Conditional Access client app type (SPEC.md §3.10), which the
sign-in pipeline decides on and logs as `clientAppUsed`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

from sqlalchemy.orm import Session

from limen.domain.access.decision import ClientAppType
from limen.protocols.oidc.errors import OAuthError
from limen.protocols.oidc.scopes import SUPPORTED_SCOPES
from limen.service.apps import all_redirect_uris, find_by_app_id
from limen.store.models import Application

_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# ASCII digits only (str.isdigit also accepts "²", which int() rejects), and few enough that
# auth_time + max_age stays a representable datetime: 10 digits is over 300 years.
_MAX_AGE = re.compile(r"[0-9]{1,10}")
_MAX_STATE = 2048


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    app_display_name: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: str | None
    max_age: int | None
    login_hint: str | None
    #: A ClientAppType value; the sign-in pipeline reads it from the stored request (JSON key "client_app_type").
    client_app_type: str = ClientAppType.BROWSER.value
    #: Set when the "request" is the sign-in of a device authorization (RFC 8628) on /device: the id of
    #: that authorization. Completing the sign-in then returns to `redirect_uri`, Limen's own
    #: confirmation page, and no authorization code is issued.
    device_authorization: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthorizeRequest:
        # Keys added later may be absent from a flow stored before them: those take their defaults.
        return cls(
            **{f.name: data.get(f.name) for f in fields(cls) if f.name in data or f.default is MISSING}  # type: ignore[arg-type]
        )


def client_app_type_for(app: Application, redirect_uri: str | None = None) -> ClientAppType:
    """How a sign-in through `app` is classified for Conditional Access and the log (SPEC.md §3.10).

    A public client (no secret: a native app redirecting to a loopback address or a custom scheme) is
    `mobileAppsAndDesktopClients`, and so is a flow that returns to one of an app's public-client
    ("mobile and desktop") redirect URIs; a confidential (web) client returning to a web redirect URI is
    `browser`, as Entra classifies OAuth confidential clients. The device code and password grants are
    mobile/desktop whatever the client (limen.protocols.oidc.device, .password_grant).
    """
    native = redirect_uri is not None and redirect_uri in app.public_client_redirect_uris
    if app.is_public_client or (native and redirect_uri not in app.web_redirect_uris):
        return ClientAppType.MOBILE_APPS_AND_DESKTOP_CLIENTS
    return ClientAppType.BROWSER


def _single(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        # RFC 6749 §3.1: parameters must not be repeated.
        raise OAuthError("invalid_request", f"The '{name}' parameter is repeated.")
    return values[0] if values else None


def parse_authorize_request(db: Session, tenant_id: str, params: Mapping[str, list[str]]) -> AuthorizeRequest:
    """Validate the query; raise OAuthError (redirectable=False for client/redirect problems)."""
    try:
        client_id = _single(params, "client_id")
        redirect_uri = _single(params, "redirect_uri")
    except OAuthError as exc:
        raise OAuthError(exc.error, exc.description, redirectable=False) from None
    if not client_id:
        raise OAuthError("invalid_request", "The 'client_id' parameter is missing.", redirectable=False)
    app = find_by_app_id(db, tenant_id, client_id)
    if app is None:
        raise OAuthError("invalid_client", f"Application '{client_id[:64]}' is not registered.", redirectable=False)
    if not redirect_uri:
        raise OAuthError("invalid_request", "The 'redirect_uri' parameter is missing.", redirectable=False)
    if redirect_uri not in all_redirect_uris(app):
        raise OAuthError(
            "invalid_request",
            "The redirect URI does not match any URI registered for this application (exact match required).",
            redirectable=False,
        )

    response_type = _single(params, "response_type")
    if not response_type:
        raise OAuthError("invalid_request", "The 'response_type' parameter is missing.")
    if response_type != "code":
        raise OAuthError(
            "unsupported_response_type", "Only the authorization code flow (response_type=code) is supported."
        )
    response_mode = _single(params, "response_mode")
    if response_mode not in (None, "query"):
        raise OAuthError("invalid_request", "Only response_mode=query is supported.")

    scope = _single(params, "scope") or ""
    scopes = scope.split()
    unknown = [s for s in scopes if s not in SUPPORTED_SCOPES]
    if unknown:
        raise OAuthError("invalid_scope", f"Unsupported scope: {' '.join(unknown)[:200]}.")

    code_challenge = _single(params, "code_challenge")
    method = _single(params, "code_challenge_method")
    if code_challenge is None:
        if app.is_public_client:
            raise OAuthError("invalid_request", "Public clients must use PKCE: code_challenge is required (S256).")
        if method is not None:
            raise OAuthError("invalid_request", "code_challenge_method given without code_challenge.")
    else:
        if (method or "plain") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256.")
        if not _CODE_CHALLENGE.fullmatch(code_challenge):
            raise OAuthError("invalid_request", "code_challenge must be 43-128 characters of base64url.")

    state = _single(params, "state")
    if state is not None and len(state) > _MAX_STATE:
        raise OAuthError("invalid_request", f"state may be at most {_MAX_STATE} characters.")
    nonce = _single(params, "nonce")
    if nonce is not None and len(nonce) > 512:
        raise OAuthError("invalid_request", "nonce may be at most 512 characters.")
    prompt = _single(params, "prompt")
    if prompt is not None and prompt not in ("none", "login", "select_account", "consent"):
        raise OAuthError("invalid_request", f"Unsupported prompt value {prompt[:40]!r}.")
    max_age_raw = _single(params, "max_age")
    max_age: int | None = None
    if max_age_raw is not None:
        if not _MAX_AGE.fullmatch(max_age_raw):
            raise OAuthError("invalid_request", "max_age must be a whole number of seconds (at most 10 digits).")
        max_age = int(max_age_raw)
    login_hint = _single(params, "login_hint")

    return AuthorizeRequest(
        client_id=app.app_id,
        app_display_name=app.display_name,
        redirect_uri=redirect_uri,
        scope=" ".join(dict.fromkeys(scopes)),
        state=state,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method="S256" if code_challenge else None,
        prompt=prompt,
        max_age=max_age,
        login_hint=(login_hint or "")[:256] or None,
        client_app_type=client_app_type_for(app, redirect_uri).value,
    )
