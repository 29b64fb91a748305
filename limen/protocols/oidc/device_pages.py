"""The verification pages of the device code flow (RFC 8628 §3.3): /device and /device/confirm.

The person enters the user code shown by the device; without a session they sign in through the
ordinary sign-in flow (for the device's application, classified mobileAppsAndDesktopClients), which
returns here; then they approve or deny. The confirmation is a separate, explicit step even when the
code came in a link (verification_uri_complete): RFC 8628 §5.4 warns that a code sent by someone else
is how device-code phishing works, so the page says so.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from limen.crypto.tokens import constant_time_equals
from limen.protocols.oidc import device
from limen.protocols.oidc.authorize import AuthorizeRequest
from limen.service import session_reuse, sessions
from limen.service import signin as signin_service
from limen.service.apps import find_by_app_id
from limen.service.session_reuse import Verdict
from limen.service.signin import Completed
from limen.service.signin_resume import start_step_up
from limen.store.db import transaction
from limen.store.models import DeviceCode
from limen.web.deps import client_ip, get_services, tenant_id_for
from limen.web.ui.browser import (
    SESSION_COOKIE,
    browser_token,
    csrf_ok,
    csrf_token,
    request_meta,
    with_browser_token,
)
from limen.web.ui.render import page
from limen.web.ui.router import blocked, complete, expired, forbidden, form_post

router = APIRouter(include_in_schema=False)

_CODE_SCOPE = "device"
_PROBLEMS = {
    device.UserCodeProblem.WRONG: "That code didn't work. Check the code on your device and try again.",
    device.UserCodeProblem.EXPIRED: "That code has expired. Start the sign-in again on your device to get a new one.",
    device.UserCodeProblem.USED: "That code has already been used. Start the sign-in again on your device.",
    device.UserCodeProblem.TOO_MANY: "Too many wrong codes. Wait a few minutes, then try again.",
}


def _confirm_scope(authorization_id: str, via: str) -> str:
    # `via` (session or signin) is in the CSRF scope: it decides whether approving logs a single sign-on.
    return f"device-confirm:{authorization_id}:{via}"


def _return_check(request: Request, authorization_id: str, browser: str) -> str:
    """Binds the way back from the sign-in flow to this browser and this authorization."""
    return csrf_token(request, f"device-return:{authorization_id}", browser)


def _code_page(
    request: Request, browser: str, *, user_code: str = "", problem: device.UserCodeProblem | None = None
) -> Response:
    return page(
        request,
        "device_code.html",
        {
            "csrf": csrf_token(request, _CODE_SCOPE, browser),
            "user_code": user_code,
            "notice_text": _PROBLEMS[problem] if problem else None,
        },
        status=429 if problem is device.UserCodeProblem.TOO_MANY else 200,
    )


def _confirm_page(
    request: Request, session_cookie: str, authorization_id: str, via: str, app_name: str, upn: str
) -> Response:
    return page(
        request,
        "device_confirm.html",
        {
            "csrf": csrf_token(request, _confirm_scope(authorization_id, via), session_cookie),
            "authorization": authorization_id,
            "via": via,
            "app_name": app_name,
            "user_principal_name": upn,
        },
    )


def _gone(request: Request) -> Response:
    return page(
        request,
        "error.html",
        {
            "title": "This sign-in is no longer valid",
            "message": "The code has expired or was already used. Start the sign-in again on your device.",
            "retry_url": "/device",
        },
        status=400,
    )


@router.get("/device")
def enter_code(request: Request) -> Response:
    # From verification_uri_complete: prefilled, but the person still presses Next (RFC 8628 §3.3.1).
    typed = request.query_params.get("user_code", "")[:16]
    prefill = "".join(ch for ch in typed.upper() if ch in device.USER_CODE_ALPHABET or ch == "-")
    return with_browser_token(request, lambda browser: _code_page(request, browser, user_code=prefill))


@router.post("/device")
@form_post
def submit_code(request: Request, form: dict[str, str]) -> Response:
    browser = browser_token(request)
    if not csrf_ok(request, _CODE_SCOPE, browser, form.get("csrf_token")):
        return forbidden(request)
    assert browser is not None
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    typed = form.get("user_code", "")[:64]
    session_cookie = request.cookies.get(SESSION_COOKIE, "")
    active: sessions.ActiveSession | None = None
    reuse: session_reuse.Reuse | None = None
    app_name = ""
    # Committed even when the code is wrong: a wrong code must count towards the limit.
    with transaction(services.db) as db:
        found = device.find_by_user_code(db, services, tenant_id, typed, client_ip(request))
        if not isinstance(found, device.UserCodeProblem):
            app = find_by_app_id(db, tenant_id, found.client_id)
            app_name = app.display_name if app else ""
            active = sessions.lookup(db, tenant_id, session_cookie, services.clock.now())
            if active is not None:
                reuse = _assess(request, db, found, app_name, active)
    if isinstance(found, device.UserCodeProblem):
        return _code_page(request, browser, user_code=typed[:16], problem=found)
    if active is None or reuse is None or reuse.verdict is Verdict.SIGN_IN:
        return _start_sign_in(request, browser, found, app_name)
    if reuse.verdict is Verdict.BLOCKED:
        return blocked(request)
    if reuse.verdict is Verdict.STEP_UP:
        meta = request_meta(request, device.CLIENT_APP_TYPE)
        authorize_request = _authorize_request(request, browser, found, app_name).to_json()
        flow_id, result = start_step_up(services, tenant_id, browser, authorize_request, active, meta)
        if isinstance(result, Completed):
            return complete(request, result)
        return RedirectResponse(f"/signin?flow={flow_id}", status_code=303)
    return _confirm_page(request, session_cookie, found.id, "session", app_name, active.user.user_principal_name)


def _assess(
    request: Request,
    db: Session,
    row: DeviceCode,
    app_name: str,
    active: sessions.ActiveSession,
    *,
    approving: bool = False,
) -> session_reuse.Reuse:
    """The decision on approving the device with this browser session: a sign-in to the device's
    application by the device code flow (Conditional Access `authenticationFlows`). Logged when blocked,
    and when `approving` with the session: an interactive single sign-on to the device's application."""
    return session_reuse.assess_session(
        db,
        get_services(request),
        tenant_id_for(request),
        active,
        app_id=row.client_id,
        app_display_name=app_name,
        meta=request_meta(request, device.CLIENT_APP_TYPE),
        authorize_request={"client_id": row.client_id, "device_authorization": row.id},
        logged=lambda verdict: verdict is Verdict.BLOCKED or (approving and verdict is Verdict.ALLOWED),
    )


def _authorize_request(request: Request, browser: str, row: DeviceCode, app_name: str) -> AuthorizeRequest:
    """The sign-in flow's request for the device's application, returning to the confirmation page."""
    back = "/device/confirm?" + urlencode({"id": row.id, "check": _return_check(request, row.id, browser)})
    return AuthorizeRequest(
        client_id=row.client_id,
        app_display_name=app_name,
        redirect_uri=back,
        scope=row.scope,
        state=None,
        nonce=None,
        code_challenge=None,
        code_challenge_method=None,
        prompt=None,
        max_age=None,
        login_hint=None,
        client_app_type=device.CLIENT_APP_TYPE.value,
        device_authorization=row.id,
    )


def _start_sign_in(request: Request, browser: str, row: DeviceCode, app_name: str) -> Response:
    """Sign in through the ordinary flow, for the device's application, and come back to confirm."""
    services = get_services(request)
    authorize_request = _authorize_request(request, browser, row, app_name)
    flow_id = signin_service.start_flow(services, tenant_id_for(request), browser, authorize_request.to_json())
    return RedirectResponse(f"/signin?flow={flow_id}", status_code=303)


@router.get("/device/confirm")
def confirm_after_sign_in(request: Request) -> Response:
    """Where the sign-in flow of a device authorization ends (limen.protocols.oidc.redirects)."""
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    authorization_id = request.query_params.get("id", "")[:64]
    browser = browser_token(request)
    check = request.query_params.get("check", "")
    if browser is None or not constant_time_equals(_return_check(request, authorization_id, browser), check):
        return forbidden(request)
    session_cookie = request.cookies.get(SESSION_COOKIE, "")
    with services.db() as db:
        row = device.pending(db, services, tenant_id, authorization_id)
        active = sessions.lookup(db, tenant_id, session_cookie, services.clock.now())
        if row is None:
            return _gone(request)
        if active is None:
            return expired(request)
        app = find_by_app_id(db, tenant_id, row.client_id)
        app_name = app.display_name if app else ""
        return _confirm_page(request, session_cookie, row.id, "signin", app_name, active.user.user_principal_name)


@router.post("/device/confirm")
@form_post
def submit_confirmation(request: Request, form: dict[str, str]) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    authorization_id = form.get("authorization", "")[:64]
    via = form.get("via", "")
    decision = form.get("decision", "")
    session_cookie = request.cookies.get(SESSION_COOKIE, "")
    if via not in ("session", "signin") or decision not in ("approve", "deny", "other"):
        return forbidden(request)
    if not csrf_ok(request, _confirm_scope(authorization_id, via), session_cookie, form.get("csrf_token")):
        return forbidden(request)
    now = services.clock.now()
    with transaction(services.db) as db:
        row = device.pending(db, services, tenant_id, authorization_id)
        active = sessions.lookup(db, tenant_id, session_cookie, now)
        if row is None:
            return _gone(request)
        if active is None:
            return expired(request)
        app = find_by_app_id(db, tenant_id, row.client_id)
        app_name = app.display_name if app else ""
        if decision == "approve":
            # Decided again at the moment of approval: the confirmation page may have sat open while
            # a policy changed, and a session approval is a sign-in to the device's application.
            # (After a sign-in through the flow, that sign-in's own row is the record of it.)
            reuse = _assess(request, db, row, app_name, active, approving=via == "session")
            if reuse.verdict is Verdict.BLOCKED:
                return blocked(request)
            if reuse.verdict is not Verdict.ALLOWED:
                decision = "other"  # sign in (again) through the flow, which asks for what is missing
        if decision != "other":
            decided = device.decide(
                db,
                services,
                row,
                approve=decision == "approve",
                user_id=active.user.id,
                session_id=active.row.id,
                methods=active.methods,
            )
            if not decided:
                return _gone(request)
    if decision == "other":
        return with_browser_token(request, lambda browser: _start_sign_in(request, browser, row, app_name))
    return page(request, "device_done.html", {"approved": decision == "approve", "app_name": app_name})
