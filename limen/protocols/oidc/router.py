"""OpenID Connect endpoints. Thin: parse, call the protocol modules, answer in the protocol's format."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from limen.domain.access.decision import ClientAppType
from limen.domain.signin_log import CLIENT_APP_USED, SignInError
from limen.protocols.oidc import device, device_pages, jwt
from limen.protocols.oidc.authorize import AuthorizeRequest, client_app_type_for, parse_authorize_request
from limen.protocols.oidc.errors import OAuthError
from limen.protocols.oidc.password_grant import CLIENT_APP_TYPE, PASSWORD_GRANT, password_grant, refusal
from limen.protocols.oidc.redirects import error_redirect, success_redirect, with_query
from limen.protocols.oidc.scopes import SUPPORTED_SCOPES, checked_scope, profile_claims
from limen.protocols.oidc.tokens import (
    Grant,
    TokenReuse,
    check_refresh_token,
    redeem_code,
    revoke_family,
    spend_refresh_token,
    token_response,
)
from limen.service import session_reuse, sessions, signin_log
from limen.service import signin as signin_service
from limen.service.apps import all_redirect_uris, find_by_app_id, verify_client_secret
from limen.service.keys import ALGORITHM, jwks
from limen.service.session_reuse import Verdict
from limen.service.signin import Completed
from limen.service.signin_resume import start_step_up
from limen.store.db import transaction
from limen.store.models import Application, User
from limen.web.deps import client_ip, get_services, tenant_id_for
from limen.web.ui.browser import (
    SESSION_COOKIE,
    clear_cookie,
    csrf_ok,
    csrf_token,
    request_meta,
    with_browser_token,
)
from limen.web.ui.render import page
from limen.web.ui.router import blocked, complete

router = APIRouter(tags=["OpenID Connect"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.get("/.well-known/openid-configuration")
def discovery(request: Request) -> dict[str, Any]:
    settings = get_services(request).settings
    issuer = settings.issuer
    grant_types = ["authorization_code", "refresh_token", "client_credentials", device.DEVICE_CODE_GRANT]
    if settings.allow_password_grant:
        grant_types.append(PASSWORD_GRANT)
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
        "device_authorization_endpoint": f"{issuer}/oauth2/devicecode",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "acr",
            "sid",
            "oid",
            "tid",
            "name",
            "preferred_username",
            "given_name",
            "family_name",
            "email",
            "phone_number",
        ],
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
    }


@router.get("/oauth2/jwks")
def jwks_endpoint(request: Request) -> Response:
    body = jwks(get_services(request), tenant_id_for(request))
    # Short caching: a rotated key is published ahead of use, so clients see it in time.
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


def _error_page(request: Request, exc: OAuthError) -> Response:
    return page(
        request,
        "error.html",
        {
            "title": "Sign-in request not valid",
            "message": "The application sent a sign-in request that Limen cannot accept. Contact the application's owner.",
            "detail": f"{exc.error}: {exc.description}",
        },
        status=400,
    )


@router.api_route("/oauth2/authorize", methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    params = parse_qs(request.url.query, keep_blank_values=True)
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", "replace")
        params = parse_qs(body, keep_blank_values=True)
    return await _authorize(request, params)


async def _authorize(request: Request, params: dict[str, list[str]]) -> Response:
    return await run_in_threadpool(_authorize_sync, request, params)


def _authorize_sync(request: Request, params: dict[str, list[str]]) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        try:
            auth = parse_authorize_request(db, tenant_id, params)
        except OAuthError as exc:
            if not exc.redirectable:
                return _error_page(request, exc)
            # The client and redirect URI were valid: re-read them to address the error there.
            partial = _redirect_target(params)
            return RedirectResponse(error_redirect(services, partial, exc.error, exc.description), status_code=303)
        now = services.clock.now()
        active = sessions.lookup(db, tenant_id, request.cookies.get(SESSION_COOKIE), now)
    if active is not None and auth.max_age is not None and active.row.auth_time + timedelta(seconds=auth.max_age) < now:
        active = None
    if active is not None and auth.prompt != "login":
        answer = _single_sign_on(request, auth, active)
        if answer is not None:
            return answer
        # The session's authentication is too old for a policy's sign-in frequency: sign in again.
        auth = replace(auth, login_hint=auth.login_hint or active.user.user_principal_name)
    elif auth.prompt == "none":
        _log_no_session(request, auth)
        return RedirectResponse(
            error_redirect(services, auth, "login_required", "The user is not signed in."), status_code=303
        )
    return with_browser_token(
        request,
        lambda browser: RedirectResponse(
            f"/signin?flow={signin_service.start_flow(services, tenant_id, browser, auth.to_json())}", status_code=303
        ),
    )


#: The OAuth error (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6) of a `prompt=none` request the session cannot serve.
_PROMPT_NONE_ERRORS = {
    Verdict.BLOCKED: ("access_denied", "Access has been blocked by Conditional Access policies."),
    Verdict.STEP_UP: ("interaction_required", "The application requires more than this session provides."),
    Verdict.SIGN_IN: ("login_required", "The session is too old for this application: sign in again."),
}


def _single_sign_on(request: Request, auth: AuthorizeRequest, active: sessions.ActiveSession) -> Response | None:
    """Sign in to the application with the browser session, decided as any sign-in to it is (block,
    step-up, sign in again). None: the caller starts a fresh sign-in."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    meta = request_meta(request, ClientAppType(auth.client_app_type))
    methods = active.methods
    with transaction(services.db) as db:
        reuse = session_reuse.assess_session(
            db,
            services,
            tenant_id,
            active,
            app_id=auth.client_id,
            app_display_name=auth.app_display_name,
            meta=meta,
            authorize_request=auth.to_json(),
            logged=lambda verdict: verdict in (Verdict.ALLOWED, Verdict.BLOCKED) or auth.prompt == "none",
        )
    if reuse.verdict is Verdict.ALLOWED:
        location = success_redirect(
            services, tenant_id, auth, user_id=active.user.id, session_id=active.row.id, methods=methods
        )
        return RedirectResponse(location, status_code=303)
    if auth.prompt == "none":
        error, description = _PROMPT_NONE_ERRORS[reuse.verdict]
        return RedirectResponse(error_redirect(services, auth, error, description), status_code=303)
    if reuse.verdict is Verdict.BLOCKED:
        return blocked(request)
    if reuse.verdict is Verdict.STEP_UP:

        def step_up(browser: str) -> Response:
            flow_id, result = start_step_up(services, tenant_id, browser, auth.to_json(), active, meta)
            if isinstance(result, Completed):
                # The decision changed between the two looks (a policy edit): the session was enough.
                return complete(request, result)
            return RedirectResponse(f"/signin?flow={flow_id}", status_code=303)

        return with_browser_token(request, step_up)
    return None


def _log_no_session(request: Request, auth: AuthorizeRequest) -> None:
    """`prompt=none` without a session: an interactive sign-in to the app that could not happen (50058)."""
    services = get_services(request)
    with transaction(services.db) as db:
        signin_log.log_previously_satisfied(
            db,
            tenant_id_for(request),
            now=services.clock.now(),
            user_id=None,
            user_principal_name=auth.login_hint or "",
            user_display_name="",
            app_id=auth.client_id,
            app_display_name=auth.app_display_name,
            methods=(),
            ip_address=client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:512],
            client_app_used=CLIENT_APP_USED[auth.client_app_type],
            interactive=True,
            error=SignInError.SESSION_NOT_SUFFICIENT,
        )


def _log_refresh(
    request: Request,
    db: Any,
    app: Application,
    user: User | None,
    user_id: str,
    grant: Grant | None,
    error: SignInError,
    reuse: session_reuse.Reuse | None = None,
) -> None:
    """A refresh-token redemption is a non-interactive sign-in (Entra logs these separately).

    Its `clientAppUsed` is that of the grant which started the token family (kept with the tokens).
    Tokens issued before Limen kept it, and refused reuse (no grant), are classified by the client.
    """
    services = get_services(request)
    if user is None:
        user = db.get(User, user_id)
    client_app_type = (grant.client_app_type if grant else None) or client_app_type_for(app).value
    signin_log.log_previously_satisfied(
        db,
        tenant_id_for(request),
        now=services.clock.now(),
        user_id=user_id,
        user_principal_name=user.user_principal_name if user else "",
        user_display_name=user.display_name if user else "",
        app_id=app.app_id,
        app_display_name=app.display_name,
        methods=grant.methods if grant else (),
        ip_address=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[:512],
        client_app_used=CLIENT_APP_USED[client_app_type],
        interactive=False,
        error=error,
        decision=reuse.decision if reuse else None,
    )


def _assess_refresh(request: Request, db: Any, app: Application, grant: Grant) -> session_reuse.Reuse:
    """Conditional Access on a refresh-token redemption, as Entra evaluates it on every token request:
    non-interactive, with the methods of the sign-in that started the token family."""
    assert grant.user is not None
    client_app_type = ClientAppType(grant.client_app_type or client_app_type_for(app).value)
    return session_reuse.assess(
        db,
        get_services(request),
        tenant_id_for(request),
        app_id=app.app_id,
        user=grant.user,
        methods=grant.methods,
        meta=request_meta(request, client_app_type),
        interactive=False,
    )


def _redirect_target(params: dict[str, list[str]]) -> AuthorizeRequest:
    def first(name: str) -> str | None:
        values = params.get(name) or []
        return values[0] if len(values) == 1 else None

    return AuthorizeRequest(
        client_id=first("client_id") or "",
        app_display_name="",
        redirect_uri=first("redirect_uri") or "",
        scope="",
        state=first("state"),
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        prompt=None,
        max_age=None,
        login_hint=None,
    )


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="limen"'
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic authorization header.", status=401) from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "Malformed Basic authorization header.", status=401)
        # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        client_id, secret = unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
        # RFC 6749 §2.3: a client must not use more than one authentication method per request.
        if "client_secret" in form:
            raise OAuthError(
                "invalid_request", "Use one client authentication method: Basic or client_secret, not both."
            )
        if form.get("client_id") not in (None, client_id):
            raise OAuthError("invalid_request", "client_id in the body differs from the Basic credentials.")
        return client_id, secret
    client_id = form.get("client_id", "")
    if not client_id:
        raise OAuthError("invalid_client", "Client authentication is missing.", status=401)
    return client_id, form.get("client_secret")


def _authenticate_client(request: Request, db: Any, tenant_id: str, form: dict[str, str]) -> Application:
    services = get_services(request)
    client_id, secret = _client_credentials(request, form)
    app = find_by_app_id(db, tenant_id, client_id)
    if app is None:
        raise OAuthError("invalid_client", "Unknown client or bad client credentials.", status=401)
    if secret is None:
        if not app.is_public_client:
            raise OAuthError("invalid_client", "This client must authenticate with its secret.", status=401)
    elif not verify_client_secret(db, app, secret, services.clock.now()):
        raise OAuthError("invalid_client", "Unknown client or bad client credentials.", status=401)
    return app


async def _read_form(request: Request) -> dict[str, str] | Response:
    """An OAuth endpoint's urlencoded body (RFC 6749 §3.2), or the error answer to send instead."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("application/x-www-form-urlencoded"):
        return _oauth_error(OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded."))
    raw = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    if any(len(v) > 1 for v in raw.values()):
        return _oauth_error(OAuthError("invalid_request", "Parameters must not be repeated."))
    return {k: v[0] for k, v in raw.items()}


@router.post("/oauth2/devicecode")
async def device_authorization(request: Request) -> Response:
    """RFC 8628 §3.1-3.2: a device code for the device, a user code for the person."""
    form = await _read_form(request)
    if isinstance(form, Response):
        return form
    return await run_in_threadpool(_device_authorization_sync, request, form)


def _device_authorization_sync(request: Request, form: dict[str, str]) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    issuer = services.settings.issuer
    try:
        with transaction(services.db) as db:
            # Public clients by their id, confidential ones with their secret, as at the token endpoint.
            app = _authenticate_client(request, db, tenant_id, form)
            issued = device.issue(db, services, tenant_id, app, checked_scope(form.get("scope", "")))
    except OAuthError as exc:
        return _oauth_error(exc)
    verification_uri = f"{issuer}/device"
    body = {
        "device_code": issued.device_code,
        "user_code": issued.user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": with_query(verification_uri, {"user_code": issued.user_code}),
        "expires_in": issued.expires_in,
        "interval": issued.interval,
        # What Entra sends too: command-line clients print it as is.
        "message": f"To sign in, use a web browser to open the page {verification_uri} "
        f"and enter the code {issued.user_code} to authenticate.",
    }
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth2/token")
async def token(request: Request) -> Response:
    form = await _read_form(request)
    if isinstance(form, Response):
        return form
    return await run_in_threadpool(_token_sync, request, form)


def _token_sync(request: Request, form: dict[str, str]) -> Response:
    grant_type = form.get("grant_type")
    if grant_type == PASSWORD_GRANT:
        return _password_grant_sync(request, form)
    if grant_type == device.DEVICE_CODE_GRANT:
        return _device_code_sync(request, form)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    refused: OAuthError | None = None
    try:
        with transaction(services.db) as db:
            app = _authenticate_client(request, db, tenant_id, form)
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                grant = redeem_code(db, services, app, form)
            elif grant_type == "refresh_token":
                grant = check_refresh_token(db, services, app, form)
                assert grant.user is not None
                reuse = _assess_refresh(request, db, app, grant)
                _log_refresh(request, db, app, grant.user, grant.user.id, grant, session_reuse.error_of(reuse), reuse)
                if reuse.verdict is Verdict.ALLOWED:
                    spend_refresh_token(db, services, form, grant)
                else:
                    # Committed with its log row; the token stays unspent.
                    refused = refusal(session_reuse.error_of(reuse))
            elif grant_type == "client_credentials":
                if app.is_public_client:
                    raise OAuthError("unauthorized_client", "Public clients cannot use client_credentials.")
                checked_scope(form.get("scope", ""))
                grant = Grant(
                    user=None, scope=form.get("scope", ""), methods=(), nonce=None, session_id=None, family_id=None
                )
            elif not grant_type:
                raise OAuthError("invalid_request", "The 'grant_type' parameter is missing.")
            else:
                raise OAuthError("unsupported_grant_type", f"Grant type {grant_type[:60]!r} is not supported.")
            if refused is None:
                body = token_response(db, services, tenant_id, app, grant)
        if refused is not None:
            raise refused
    except TokenReuse as exc:
        with transaction(services.db) as db:
            revoke_family(db, exc.family_id, services.clock.now())
            reused_app = find_by_app_id(db, tenant_id, _client_credentials(request, form)[0])
            if reused_app is not None:
                _log_refresh(request, db, reused_app, None, exc.user_id, None, SignInError.FRESH_TOKEN_NEEDED)
        return _oauth_error(exc)
    except OAuthError as exc:
        return _oauth_error(exc)
    return JSONResponse(body, headers=NO_STORE)


def _device_code_sync(request: Request, form: dict[str, str]) -> Response:
    """The device polls (RFC 8628 §3.4): pending, slow down, denied, expired, or its tokens."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    try:
        with transaction(services.db) as db:
            app = _authenticate_client(request, db, tenant_id, form)
            outcome = device.poll(db, services, tenant_id, app, form)
            # A refusal is returned, not raised, so that the poll's bookkeeping is committed with it.
            if isinstance(outcome, OAuthError):
                refusal: OAuthError | None = outcome
            else:
                refusal = None
                body = token_response(db, services, tenant_id, app, outcome)
    except OAuthError as exc:
        return _oauth_error(exc)
    if refusal is not None:
        return _oauth_error(refusal)
    return JSONResponse(body, headers=NO_STORE)


def _password_grant_sync(request: Request, form: dict[str, str]) -> Response:
    """RFC 6749 §4.3, off unless LIMEN_ALLOW_PASSWORD_GRANT=true (limen.protocols.oidc.password_grant)."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    try:
        with services.db() as db:
            app = _authenticate_client(request, db, tenant_id, form)
        meta = request_meta(request, CLIENT_APP_TYPE)
        body = password_grant(services, tenant_id, app, form, meta)
    except OAuthError as exc:
        return _oauth_error(exc)
    return JSONResponse(body, headers=NO_STORE)


@router.api_route("/oauth2/userinfo", methods=["GET", "POST"])
def userinfo(request: Request) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if scheme.lower() != "bearer" or not presented.strip():
        return JSONResponse({"error": "invalid_token", "error_description": "Bearer token missing."}, 401, challenge)
    try:
        claims = jwt.verify(services, tenant_id, presented.strip(), typ="at+jwt")
    except jwt.InvalidToken:
        return JSONResponse(
            {"error": "invalid_token", "error_description": "The access token is invalid."}, 401, challenge
        )
    now = int(services.clock.now().timestamp())
    if claims.get("iss") != services.settings.issuer or claims.get("aud") != services.settings.issuer:
        return JSONResponse(
            {"error": "invalid_token", "error_description": "Wrong issuer or audience."}, 401, challenge
        )
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        return JSONResponse(
            {"error": "invalid_token", "error_description": "The access token expired."}, 401, challenge
        )
    scopes = set(str(claims.get("scope", "")).split())
    if "openid" not in scopes:
        return JSONResponse(
            {"error": "insufficient_scope", "error_description": "userinfo needs the openid scope."},
            403,
            {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
        )
    with services.db() as db:
        user = db.get(User, str(claims.get("sub", "")))
        if user is None or user.tenant_id != tenant_id or not user.account_enabled:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "The user can no longer sign in."}, 401, challenge
            )
        return JSONResponse(profile_claims(user, scopes, tenant_id), headers=NO_STORE)


@router.api_route("/oauth2/logout", methods=["GET", "POST"])
async def logout(request: Request) -> Response:
    if request.method == "POST":
        form = {k: str(v) for k, v in (await request.form()).items()}
    else:
        form = dict(request.query_params)
    return await run_in_threadpool(_logout_sync, request, form)


def _logout_sync(request: Request, params: dict[str, str]) -> Response:
    """RP-initiated logout 1.0: end the session; redirect only to a URI registered for the client."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    hint_claims: dict[str, Any] = {}
    if params.get("id_token_hint"):
        try:
            # Expired hints are fine; access tokens are not ID tokens, though they carry the same sid.
            hint_claims = jwt.verify(services, tenant_id, params["id_token_hint"], typ="JWT")
        except jwt.InvalidToken:
            return page(
                request,
                "error.html",
                {"title": "Sign-out request not valid", "message": "The id_token_hint is not a token Limen issued."},
                status=400,
            )
    client_id = params.get("client_id") or str(hint_claims.get("aud", "")) or None
    if params.get("client_id") and hint_claims and hint_claims.get("aud") != params["client_id"]:
        return page(
            request,
            "error.html",
            {"title": "Sign-out request not valid", "message": "client_id does not match the id_token_hint."},
            status=400,
        )
    target = params.get("post_logout_redirect_uri")
    app: Application | None = None
    with services.db() as db:
        if client_id:
            app = find_by_app_id(db, tenant_id, client_id)
        active = sessions.lookup(db, tenant_id, request.cookies.get(SESSION_COOKIE), services.clock.now())
    if target is not None:
        allowed = ([*all_redirect_uris(app), *([app.logout_url] if app.logout_url else [])]) if app else []
        if target not in allowed:
            return page(
                request,
                "error.html",
                {
                    "title": "Sign-out request not valid",
                    "message": "post_logout_redirect_uri is not registered for this application.",
                },
                status=400,
            )

    # Without proof that the request comes from the session's own client, ask the person first:
    # otherwise any page could sign users out (logout CSRF).
    session_cookie = request.cookies.get(SESSION_COOKIE, "")
    confirmed = request.method == "POST" and csrf_ok(request, "logout", session_cookie, params.get("csrf_token"))
    proven = active is not None and hint_claims.get("sid") == active.sid
    if active is not None and not (confirmed or proven):
        carry = {
            k: v for k, v in params.items() if k in ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")
        }
        return page(
            request,
            "logout_confirm.html",
            {
                "csrf": csrf_token(request, "logout", session_cookie),
                "carry": carry,
                "app_name": app.display_name if app else "",
            },
        )
    if active is not None:
        with transaction(services.db) as db:
            sessions.revoke(db, active.row.id, services.clock.now())
    if target is not None:
        response: Response = RedirectResponse(with_query(target, {"state": params.get("state")}), status_code=303)
    else:
        response = page(request, "signed_out.html", {})
    clear_cookie(request, response, SESSION_COOKIE)
    return response


# The device code flow's pages (/device) belong with the protocol; mounted with the OIDC routes.
router.include_router(device_pages.router)
