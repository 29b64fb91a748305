"""Forward-auth endpoints (docs/forward-auth.md).

* `/forward-auth?app=<client id>[&mode=nginx]`: the proxy asks, for every request to a protected
  application, whether to let it through. 200 with identity headers lets it through. Otherwise a browser
  is sent to sign in (302 for Traefik and Caddy, which pass the auth server's answer to the client;
  401 with the same `Location` for nginx, whose `auth_request` only understands 2xx/401/403) and any
  other client gets a Basic challenge (401 `WWW-Authenticate`). Blocked by policy: 403.
* `/forward-auth/start`: on Limen's host, where its own cookies live: reads the browser's device and
  session, then continues at `/oauth2/authorize` with the application as the client.
* `/forward-auth/callback`: the application host's `/_limen/callback`, proxied to Limen (nginx), or
  recognised inside `/forward-auth` from `X-Forwarded-Uri` (Traefik, Caddy): redeems the code and sets
  the application cookie on the application's host, then returns to the original URL.

Endpoints are plain `def`: FastAPI runs them in a worker thread, so argon2 and the database never
block the event loop.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from limen.crypto.tokens import constant_time_equals, new_secret
from limen.domain.access.decision import ClientAppType
from limen.protocols.oidc.errors import OAuthError
from limen.protocols.oidc.tokens import redeem_code, s256
from limen.service.apps import find_by_app_id
from limen.service.forward_auth import (
    CALLBACK_PATH,
    NONCE_COOKIE,
    Identity,
    Verdict,
    app_cookie_name,
    callback_uri_for,
    check_basic,
    check_session,
    client_app_type_for,
    default_return_url,
    new_pending,
    nonce_digest,
    open_state,
    pkce_verifier,
    seal_app_cookie,
    seal_state,
    usable_return_url,
)
from limen.store.db import transaction
from limen.store.models import Application
from limen.web.deps import get_services, tenant_id_for
from limen.web.ui.browser import browser_token, ensure_browser_token, request_meta
from limen.web.ui.render import page
from limen.web.ui.router import blocked

log = logging.getLogger("limen.forward_auth")

router = APIRouter(include_in_schema=False)

#: nginx's auth_request subrequest keeps the original method; Traefik and Caddy always send GET.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
NO_STORE = {"Cache-Control": "no-store"}
#: Printable ASCII stays as it is in identity headers; anything else (and "%") is percent-encoded UTF-8.
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
#: A nonce this endpoint made (new_secret: base64url); anything else in the cookie is replaced, not echoed.
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class Forwarded:
    """The original request, as the proxy describes it."""

    method: str
    #: Path and query of the original request.
    uri: str
    #: The whole original URL, when the proxy said enough to rebuild it.
    url: str | None

    @property
    def path(self) -> str:
        return self.uri.split("?", 1)[0]


def _first(value: str | None) -> str:
    # A chain of proxies appends: the first value is the one the client's request reached the first proxy with.
    return (value or "").split(",", 1)[0].strip()


def forwarded_request(request: Request) -> Forwarded:
    """Traefik and Caddy send X-Forwarded-Method/Proto/Host/Uri; the nginx configuration in the docs sets the
    same names (X-Original-URI/-Method/-URL, nginx's usual names, are accepted too)."""
    headers = request.headers
    method = (_first(headers.get("x-forwarded-method")) or _first(headers.get("x-original-method")) or "GET").upper()
    uri = headers.get("x-forwarded-uri") or headers.get("x-original-uri") or ""
    url = headers.get("x-original-url") or None
    if url is None:
        proto, host = _first(headers.get("x-forwarded-proto")).lower(), _first(headers.get("x-forwarded-host"))
        if proto and host and uri.startswith("/"):
            url = f"{proto}://{host}{uri}"
    if not uri and url:
        parts = urlsplit(url)
        uri = parts.path + (f"?{parts.query}" if parts.query else "")
    return Forwarded(method, uri or "/", url)


def _find_app(request: Request) -> Application | None:
    app_id = request.query_params.get("app") or request.headers.get("x-limen-app") or ""
    services = get_services(request)
    with services.db() as db:
        return find_by_app_id(db, tenant_id_for(request), app_id.strip())


def _misconfigured(message: str) -> Response:
    log.warning("forward-auth: %s", message)
    return PlainTextResponse(f"Forward-auth is misconfigured: {message}", status_code=400, headers=NO_STORE)


def _header_value(text: str) -> str:
    return quote(text, safe=_HEADER_SAFE)


def identity_headers(identity: Identity) -> dict[str, str]:
    """The headers a proxy copies to the application (authResponseHeaders, copy_headers, auth_request_set)."""
    amr = ",".join(identity.amr)
    return {
        "X-Limen-User": _header_value(identity.user_principal_name),
        "X-Limen-User-Id": identity.user_id,
        "X-Limen-Name": _header_value(identity.display_name),
        "X-Limen-Email": _header_value(identity.email),
        "X-Limen-Amr": amr,
        # Authelia's names, which many self-hosted applications already read.
        "Remote-User": _header_value(identity.user_principal_name),
        "Remote-Name": _header_value(identity.display_name),
        "Remote-Email": _header_value(identity.email),
    }


def _allowed(identity: Identity) -> Response:
    return Response(status_code=200, headers={**NO_STORE, **identity_headers(identity)})


def _realm(app: Application) -> str:
    name = "".join(c for c in app.display_name if 0x20 <= ord(c) < 0x7F and c not in '"\\')
    return name or "Limen"


def basic_challenge(app: Application) -> Response:
    """The same answer for every Basic failure: nothing tells a guesser whether the account exists."""
    headers = {**NO_STORE, "WWW-Authenticate": f'Basic realm="{_realm(app)}", charset="UTF-8"'}
    return PlainTextResponse("Authentication required", status_code=401, headers=headers)


def _decode_basic(encoded: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep and username else None


@router.api_route("/forward-auth", methods=ANY_METHOD)
def forward_auth(request: Request) -> Response:
    app = _find_app(request)
    if app is None:
        return _misconfigured("the `app` query parameter (or X-Limen-App header) names no registered application")
    nginx = (request.query_params.get("mode") or request.headers.get("x-limen-mode") or "").lower() == "nginx"
    forwarded = forwarded_request(request)
    if forwarded.path == CALLBACK_PATH and not nginx:
        # Traefik and Caddy send the auth server's non-2xx answer to the client, Set-Cookie included, so the
        # callback needs no route of its own there.
        return _callback(request, dict(parse_qsl(forwarded.uri.partition("?")[2], keep_blank_values=True)))
    authorization = request.headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        return _basic(request, app, authorization[6:], forwarded)
    services = get_services(request)
    check = check_session(
        services,
        tenant_id_for(request),
        app,
        request.cookies.get(app_cookie_name(app.app_id)),
        request_meta(request, ClientAppType.BROWSER),
    )
    if check.verdict is Verdict.ALLOWED and check.identity is not None:
        return _allowed(check.identity)
    if check.verdict is Verdict.BLOCKED:
        return blocked(request)
    return _challenge(request, app, forwarded, nginx)


def _basic(request: Request, app: Application, encoded: str, forwarded: Forwarded) -> Response:
    credentials = _decode_basic(encoded)
    if credentials is None:
        # Not an attempt at any account: nothing to log, the same challenge as any failure.
        return basic_challenge(app)
    username, password = credentials
    services = get_services(request)
    meta = request_meta(request, client_app_type_for(forwarded.path))
    result = check_basic(services, tenant_id_for(request), app, username, password, meta)
    if result.identity is None:
        return basic_challenge(app)
    return _allowed(result.identity)


def _is_navigation(request: Request, forwarded: Forwarded) -> bool:
    """A person's browser loading a page: worth sending to the sign-in pages. Anything else (scripts,
    ActiveSync, mail clients) gets a Basic challenge, which is how legacy clients learn to send credentials."""
    return (
        forwarded.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and client_app_type_for(forwarded.path) is not ClientAppType.EXCHANGE_ACTIVE_SYNC
    )


def _challenge(request: Request, app: Application, forwarded: Forwarded, nginx: bool) -> Response:
    if not _is_navigation(request, forwarded):
        return basic_challenge(app)
    if forwarded.url is not None:
        return_url = usable_return_url(app, forwarded.url)
        if return_url is None:
            origin = urlsplit(forwarded.url)
            return _misconfigured(
                f"{origin.scheme}://{origin.netloc}{CALLBACK_PATH} is not a redirect URI of application "
                f"{app.app_id}: register it, or check the X-Forwarded-Proto/Host headers the proxy sends"
            )
    else:
        return_url = default_return_url(app)
        if return_url is None:
            return _misconfigured(f"application {app.app_id} has no redirect URI ending in {CALLBACK_PATH}")
    services = get_services(request)
    # One nonce per browser and host, reused while it lives: two tabs signing in at once both come back.
    nonce = request.cookies.get(NONCE_COOKIE) or ""
    if not _NONCE.fullmatch(nonce):
        nonce = new_secret(24)
    pending = new_pending(services, tenant_id_for(request), app.app_id, return_url, nonce)
    location = f"{services.settings.issuer}/forward-auth/start?{urlencode({'state': seal_state(services, pending)})}"
    response = Response(status_code=401 if nginx else 302, headers={**NO_STORE, "Location": location})
    response.set_cookie(
        NONCE_COOKIE,
        nonce,
        max_age=services.settings.signin_flow_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=return_url.startswith("https:"),
        path="/",
    )
    return response


def _error(request: Request, title: str, message: str, retry_url: str | None = None) -> Response:
    return page(request, "error.html", {"title": title, "message": message, "retry_url": retry_url}, status=400)


@router.get("/forward-auth/start")
def start(request: Request) -> Response:
    """Continue a forward-auth sign-in at Limen's authorization endpoint, on Limen's own host."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    sealed = request.query_params.get("state")
    pending = open_state(services, tenant_id, sealed)
    if pending is None:
        return _error(request, "Your sign-in expired", "Go back to the application and try again.")
    with services.db() as db:
        app = find_by_app_id(db, tenant_id, pending.app_id)
    callback_uri = callback_uri_for(app, pending.return_url) if app else None
    if app is None or callback_uri is None:
        return _error(request, "Sign-in request not valid", "The application is no longer registered for this address.")
    if browser_token(request) is None and request.query_params.get("b") != "1":
        # The device key comes from Limen's long-lived browser cookie: set it, then come back once with it.
        again = RedirectResponse(f"/forward-auth/start?{urlencode({'state': sealed or '', 'b': '1'})}", 303)
        ensure_browser_token(request, again)
        return again
    meta = request_meta(request)
    # The authorization endpoint decides on any session this browser has (block, step-up, sign in again).
    params = {"client_id": app.app_id, "redirect_uri": callback_uri, "response_type": "code", "scope": "openid"}
    state = seal_state(services, replace(pending, device_key=meta.device_key))
    params |= {"state": state, "code_challenge": s256(pkce_verifier(services, state)), "code_challenge_method": "S256"}
    return RedirectResponse(f"/oauth2/authorize?{urlencode(params)}", 303)


@router.get("/forward-auth/callback")
def callback(request: Request) -> Response:
    """The application host's /_limen/callback, proxied here (nginx)."""
    return _callback(request, dict(request.query_params))


def _callback(request: Request, params: dict[str, str]) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    sealed = params.get("state")
    pending = open_state(services, tenant_id, sealed)
    if pending is None or sealed is None:
        return _error(request, "Your sign-in expired", "Go back to the application and try again.")
    with services.db() as db:
        app = find_by_app_id(db, tenant_id, pending.app_id)
    callback_uri = callback_uri_for(app, pending.return_url) if app else None
    if app is None or callback_uri is None:
        return _error(request, "Sign-in request not valid", "The application is no longer registered for this address.")
    retry = pending.return_url
    if params.get("error"):
        return _error(request, "Sign-in did not complete", str(params.get("error_description") or "")[:300], retry)
    nonce = request.cookies.get(NONCE_COOKIE) or ""
    if not nonce or not constant_time_equals(nonce_digest(services, nonce), pending.nonce_digest):
        # Login CSRF: a callback URL from someone else's sign-in must not sign this browser in as them.
        return _error(request, "Sign-in not valid here", "This sign-in was started in another browser.", retry)
    form = {
        "code": params.get("code", ""),
        "redirect_uri": callback_uri,
        "code_verifier": pkce_verifier(services, sealed),
    }
    try:
        with transaction(services.db) as db:
            grant = redeem_code(db, services, app, form)
    except OAuthError as exc:
        log.info("forward-auth callback refused: %s", exc.description)
        return _error(request, "Sign-in did not complete", "The sign-in could not be completed.", retry)
    if grant.session_id is None:
        return _error(request, "Sign-in did not complete", "The sign-in could not be completed.", retry)
    response = RedirectResponse(pending.return_url, 302, headers=NO_STORE)
    response.set_cookie(
        app_cookie_name(app.app_id),
        seal_app_cookie(services, tenant_id, app.app_id, grant.session_id, pending.device_key),
        httponly=True,
        samesite="lax",
        secure=pending.return_url.startswith("https:"),
        path="/",
    )
    return response
