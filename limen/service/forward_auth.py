"""Forward-auth for reverse proxies (nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`):
the use cases behind limen.protocols.forward_auth. docs/forward-auth.md describes the deployment.

Two kinds of request reach it:

* A browser. Its proof is an *application cookie* on the application's own host: a value sealed by
  Limen naming one browser session and one application. The cookie holds no session secret, so the
  application behind the proxy (which sees every cookie of its host) cannot use it anywhere else, and
  signing out of Limen ends it at once because every check reads the session row. Each check runs the
  same decision as an interactive sign-in to that application; a session that does not satisfy it is
  sent to sign in again.
* A client with HTTP Basic credentials: legacy authentication (SPEC.md §1.5, §3.10), classified as
  `exchangeActiveSync` or `other`, checked, decided and logged like any sign-in.

The application cookie is obtained through Limen's own OpenID Connect authorization endpoint, with
the application as the client and `<origin>/_limen/callback` as its redirect URI: the admin registers
that URI, and only URLs on the origins of such URIs are ever used as a return address.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import constant_time_equals, keyed_digest
from limen.domain.access.decision import ClientAppType, Decision
from limen.domain.directory import upn_key
from limen.domain.session import CompletedMethod, amr_values
from limen.domain.signin_log import AuthenticationDetail, SignInError
from limen.service import session_reuse
from limen.service.access import assess_credentials, log_credentials_sign_in
from limen.service.context import Services
from limen.service.session_reuse import Verdict
from limen.service.signin import PASSWORD_METHOD, RequestMeta
from limen.store.db import transaction
from limen.store.models import Application, BrowserSession, SignInRow, User

#: The one path the application's host reserves for Limen: where the sign-in comes back to.
CALLBACK_PATH = "/_limen/callback"
#: Binds a pending sign-in to the browser that started it (login CSRF): host-only, on the application's host.
NONCE_COOKIE = "limen_fa_nonce"
APP_COOKIE_PREFIX = "limen_fa_"
#: Longer return URLs are replaced by the origin's root: the sealed state must fit OIDC's 2,048-character state.
MAX_RETURN_URL = 1024
MAX_SEALED = 2048
_STATE_PURPOSE = "forward-auth-state"
_COOKIE_PURPOSE = "forward-auth-cookie"
_VERSION = 1

#: Rate limit on Basic credentials, counted from the sign-in log so that every worker and host shares it:
#: this many wrong passwords (or unknown usernames) in the window, for the account or from the IP address,
#: and further Basic attempts are refused unchecked (logged as 50053) until the window slides past them.
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_PER_ACCOUNT = 10
THROTTLE_PER_IP = 50
_GUESSES = (int(SignInError.INVALID_USERNAME_OR_PASSWORD), int(SignInError.USER_ACCOUNT_NOT_FOUND))
MAX_PASSWORD = 1024  # as the sign-in page: the form truncates there too


# Sealing --------------------------------------------------------------------------------------------


def _seal(services: Services, purpose: str, body: list[Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{payload}.{keyed_digest(str(services.settings.secret_key), purpose, payload)}"


def _open(services: Services, purpose: str, value: str | None) -> list[Any] | None:
    if not value or len(value) > MAX_SEALED:
        return None
    payload, _, mac = value.partition(".")
    if not constant_time_equals(mac, keyed_digest(str(services.settings.secret_key), purpose, payload)):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    return body if isinstance(body, list) and body and body[0] == _VERSION else None


def nonce_digest(services: Services, nonce: str) -> str:
    """What the state carries of the browser's nonce cookie: a URL that leaks does not reveal the cookie."""
    return keyed_digest(str(services.settings.secret_key), "forward-auth-nonce", nonce)


@dataclass(frozen=True)
class PendingSignIn:
    """The OIDC `state` of a forward-auth sign-in: where to return, bound to one browser and application."""

    tenant_id: str
    app_id: str
    return_url: str
    nonce_digest: str
    expires_at: int  # Unix seconds
    #: The browser's device key, read on Limen's host where its long-lived cookie lives (see start()).
    device_key: str = ""


def seal_state(services: Services, pending: PendingSignIn) -> str:
    body = [
        _VERSION,
        pending.tenant_id,
        pending.app_id,
        pending.return_url,
        pending.nonce_digest,
        pending.expires_at,
        pending.device_key,
    ]
    return _seal(services, _STATE_PURPOSE, body)


def open_state(services: Services, tenant_id: str, value: str | None) -> PendingSignIn | None:
    """The pending sign-in if Limen sealed it for this tenant and it has not expired."""
    body = _open(services, _STATE_PURPOSE, value)
    if body is None or len(body) != 7:
        return None
    _, tenant, app_id, return_url, digest, expires_at, device = body
    if tenant != tenant_id or not isinstance(expires_at, int) or expires_at <= services.clock.now().timestamp():
        return None
    return PendingSignIn(str(tenant), str(app_id), str(return_url), str(digest), expires_at, str(device))


def new_pending(services: Services, tenant_id: str, app_id: str, return_url: str, nonce: str) -> PendingSignIn:
    expires = services.clock.now() + timedelta(minutes=services.settings.signin_flow_minutes)
    return PendingSignIn(tenant_id, app_id, return_url, nonce_digest(services, nonce), int(expires.timestamp()))


def pkce_verifier(services: Services, sealed_state: str) -> str:
    """The PKCE verifier of a forward-auth authorization request, derived from its sealed state: only
    Limen can compute it, so the code is useless to anyone who sees it in a URL."""
    return keyed_digest(str(services.settings.secret_key), "forward-auth-pkce", sealed_state)


def app_cookie_name(app_id: str) -> str:
    """One cookie per application, so applications sharing a host (by path) do not overwrite each other."""
    return APP_COOKIE_PREFIX + app_id.replace("-", "")[:12]


def seal_app_cookie(services: Services, tenant_id: str, app_id: str, session_id: str, device_key: str) -> str:
    return _seal(services, _COOKIE_PURPOSE, [_VERSION, tenant_id, app_id, session_id, device_key])


def _open_app_cookie(services: Services, tenant_id: str, app_id: str, value: str | None) -> tuple[str, str] | None:
    body = _open(services, _COOKIE_PURPOSE, value)
    if body is None or len(body) != 5:
        return None
    _, tenant, cookie_app, session_id, device = body
    if tenant != tenant_id or cookie_app != app_id or not isinstance(session_id, str):
        return None
    return session_id, str(device)


# Return addresses -------------------------------------------------------------------------------------


def _origin(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int] | None:
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host.lower(), port or (443 if scheme == "https" else 80)


def _origin_of(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return _origin(parts.scheme.lower(), parts.hostname, port)


def callback_uri_for(app: Application, return_url: str) -> str | None:
    """The registered callback URI on `return_url`'s origin, or None: then `return_url` is not a place
    this application's sign-in may return to (never an open redirect)."""
    if not return_url or len(return_url) > MAX_RETURN_URL:
        return None
    # Only what a browser sends: printable ASCII without backslashes (which some browsers read as "/").
    if any(not 0x21 <= ord(c) <= 0x7E or c == "\\" for c in return_url):
        return None
    origin = _origin_of(return_url)
    if origin is None:
        return None
    for uri in app.web_redirect_uris:
        parts = urlsplit(uri)
        if parts.path == CALLBACK_PATH and not parts.query and _origin_of(uri) == origin:
            return uri
    return None


def default_return_url(app: Application) -> str | None:
    """The root of the application's first forward-auth origin: where to go when the proxy sent no URL."""
    for uri in app.web_redirect_uris:
        parts = urlsplit(uri)
        if parts.path == CALLBACK_PATH:
            return f"{parts.scheme}://{parts.netloc}/"
    return None


def usable_return_url(app: Application, return_url: str | None) -> str | None:
    """`return_url` if the application may return there; its origin's root if only the length is wrong."""
    if return_url and callback_uri_for(app, return_url):
        return return_url
    if return_url and len(return_url) > MAX_RETURN_URL:
        parts = urlsplit(return_url)
        root = f"{parts.scheme}://{parts.netloc}/"
        return root if callback_uri_for(app, root) else None
    return None


# Identity ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who the request is from, for the response headers."""

    user_id: str
    user_principal_name: str
    display_name: str
    email: str
    amr: tuple[str, ...]


def identity_of(user: User, methods: tuple[CompletedMethod, ...]) -> Identity:
    return Identity(user.id, user.user_principal_name, user.display_name, user.mail or "", tuple(amr_values(methods)))


@dataclass(frozen=True)
class SessionCheck:
    verdict: Verdict
    identity: Identity | None = None


def check_session(
    services: Services, tenant_id: str, app: Application, cookie_value: str | None, meta: RequestMeta
) -> SessionCheck:
    """The verdict on a browser request carrying (or not) the application cookie."""
    opened = _open_app_cookie(services, tenant_id, app.app_id, cookie_value)
    if opened is None:
        return SessionCheck(Verdict.SIGN_IN)
    session_id, device = opened
    now = services.clock.now()
    # A transaction: the decision may start the user's registration window (an interactive sign-in).
    with transaction(services.db) as db:
        row = db.get(BrowserSession, session_id)
        if row is None or row.tenant_id != tenant_id or row.revoked_at is not None or row.expires_at <= now:
            return SessionCheck(Verdict.SIGN_IN)
        user = db.get(User, row.user_id)
        if user is None or not user.account_enabled:
            return SessionCheck(Verdict.SIGN_IN)
        methods = tuple(CompletedMethod.from_json(m) for m in row.methods)
        verdict = session_reuse.assess(
            db,
            services,
            tenant_id,
            app_id=app.app_id,
            user=user,
            methods=methods,
            meta=replace(meta, device_key=device or meta.device_key),
        ).verdict
        return SessionCheck(verdict, identity_of(user, methods) if verdict is Verdict.ALLOWED else None)


# HTTP Basic: legacy authentication ----------------------------------------------------------------------


def client_app_type_for(path: str) -> ClientAppType:
    """SPEC.md §3.10: Exchange ActiveSync has its own client app type; every other Basic client is `other`."""
    return (
        ClientAppType.EXCHANGE_ACTIVE_SYNC
        if path.lower().startswith("/microsoft-server-activesync")
        else ClientAppType.OTHER
    )


@dataclass(frozen=True)
class BasicResult:
    error: SignInError
    identity: Identity | None = None


def _throttled(db: Session, tenant_id: str, username_key: str, ip_address: str, now: datetime) -> bool:
    since = now - THROTTLE_WINDOW
    by_account = sa.func.lower(SignInRow.user_principal_name) == username_key
    by_ip = SignInRow.ip_address == ip_address
    row = db.execute(
        sa.select(
            sa.func.sum(sa.case((by_account, 1), else_=0)),
            sa.func.sum(sa.case((by_ip, 1), else_=0)),
        ).where(
            SignInRow.tenant_id == tenant_id,
            SignInRow.error_code.in_(_GUESSES),
            SignInRow.created_at > since,
            sa.or_(by_account, by_ip),
        )
    ).one()
    return int(row[0] or 0) >= THROTTLE_PER_ACCOUNT or int(row[1] or 0) >= THROTTLE_PER_IP


def _password_detail(succeeded: bool, now: datetime, result: str) -> AuthenticationDetail:
    return AuthenticationDetail("Password", succeeded=succeeded, step_at=now, result_detail=result)


def check_basic(
    services: Services, tenant_id: str, app: Application, username: str, password: str, meta: RequestMeta
) -> BasicResult:
    """Check HTTP Basic credentials for `app`, decide, and log the attempt. Runs argon2: call it off the
    event loop. Every failure looks the same to the caller's client; the log says which it was."""
    username = username.strip()[:384]
    password = password[:MAX_PASSWORD]
    now = services.clock.now()
    with services.db() as db:
        user = db.scalar(sa.select(User).where(User.tenant_id == tenant_id, User.upn_key == upn_key(username)))
        user_id, stored_hash = (user.id, user.password_hash) if user else (None, None)
        key = (user.user_principal_name if user else username).lower()
        throttled = _throttled(db, tenant_id, key, meta.ip_address, now)
    if throttled:
        # No hash is checked: the attempt costs the attacker a round trip and the server a query.
        with transaction(services.db) as db:
            log_credentials_sign_in(
                db,
                tenant_id,
                user=db.get(User, user_id) if user_id else None,
                username=username,
                app_id=app.app_id,
                app_display_name=app.display_name,
                meta=meta,
                now=now,
                error=SignInError.IDS_LOCKED,
                failed=_password_detail(False, now, "Too many failed attempts: try again later"),
                interactive=True,
            )
        return BasicResult(SignInError.IDS_LOCKED)
    # argon2 outside any transaction; an unknown user burns the same time (Argon2Hasher.verify).
    verification = services.hasher.verify(stored_hash, password)
    with transaction(services.db) as db:
        user = db.get(User, user_id) if user_id else None
        completed: tuple[CompletedMethod, ...] = ()
        failed: AuthenticationDetail | None = None
        decision: Decision | None = None
        if user is None:
            error = SignInError.USER_ACCOUNT_NOT_FOUND
            failed = _password_detail(False, now, "Invalid username or password")
        elif not verification.ok:
            error = SignInError.INVALID_USERNAME_OR_PASSWORD
            failed = _password_detail(False, now, "Invalid username or password")
        elif not user.account_enabled:
            error = SignInError.USER_DISABLED
            failed = _password_detail(True, now, "Correct password")
        else:
            completed = (CompletedMethod(method=PASSWORD_METHOD, amr="pwd", factor="knowledge", at=now),)
            error, decision = assess_credentials(
                db, services, tenant_id, user, app_id=app.app_id, meta=meta, completed=completed
            )
            if verification.new_hash is not None:
                # Transparent rehash, as at the sign-in page: the argon2 parameters changed.
                user.password_hash = verification.new_hash
        log_credentials_sign_in(
            db,
            tenant_id,
            user=user,
            username=username,
            app_id=app.app_id,
            app_display_name=app.display_name,
            meta=meta,
            now=now,
            error=error,
            completed=completed,
            failed=failed,
            decision=decision,
            # The client presented the user's password: Entra lists such sign-ins with the interactive ones,
            # although nothing can be asked of the person (the decision is made non-interactively).
            interactive=True,
        )
        if error is SignInError.SUCCESS and user is not None:
            return BasicResult(error, identity_of(user, completed))
        return BasicResult(error)


__all__ = [
    "CALLBACK_PATH",
    "BasicResult",
    "Identity",
    "PendingSignIn",
    "SessionCheck",
    "Verdict",
    "callback_uri_for",
    "check_basic",
    "check_session",
    "client_app_type_for",
]
