"""Sign-in pages: username, then password, then back to the application (or the account page)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from limen.domain.signin import Notice, Stage
from limen.protocols.oidc.authorize import AuthorizeRequest
from limen.protocols.oidc.redirects import success_redirect
from limen.service import sessions
from limen.service import signin as signin_service
from limen.service.directory_users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from limen.service.signin import Completed, FlowView
from limen.service.signin_handles import needs_db
from limen.service.signin_mfa import page_data
from limen.service.signin_password import submit_password
from limen.store.db import transaction
from limen.web.deps import get_services, tenant_id_for
from limen.web.ui.browser import (
    SESSION_COOKIE,
    browser_token,
    clear_cookie,
    csrf_ok,
    csrf_token,
    request_meta,
    set_cookie,
    with_browser_token,
)
from limen.web.ui.render import SECURITY_HEADERS, page

router = APIRouter(include_in_schema=False)

NOTICES = {
    Notice.ENTER_USERNAME: "Enter a valid email address or username.",
    Notice.INVALID_CREDENTIALS: (
        "Your account or password is incorrect. If you don't remember your password, contact your administrator."
    ),
    Notice.ACCOUNT_DISABLED: "Your account has been disabled. Contact your administrator.",
    Notice.BLOCKED: "You can't get there from here: your organisation's policy blocks this sign-in.",
    Notice.SECOND_FACTOR_FAILED: "That didn't work. Try again.",
}


def render_step(request: Request, view: FlowView, browser: str) -> Response:
    """The second-factor or registration page. Reads the user's methods: call it off the event loop."""
    data = page_data(get_services(request), tenant_id_for(request), view.state)
    template = "signin_mfa.html" if view.state.stage is Stage.SATISFY else "signin_register.html"
    return page(
        request,
        template,
        {
            "flow_id": view.flow_id,
            "csrf": csrf_token(request, view.flow_id, browser),
            "app_name": view.app_display_name,
            "data": data,
            "challenge": view.state.challenge,
            "days_left": view.state.days_left,
            "notice_text": view.message or (NOTICES.get(view.notice) if view.notice else None),
        },
    )


FormStr = Annotated[str, Form()]


def expired(request: Request) -> Response:
    return page(
        request,
        "error.html",
        {
            "title": "Your sign-in expired",
            "message": "This sign-in page is no longer valid. Go back to the application and sign in again.",
            "retry_url": "/signin",
        },
        status=400,
    )


def forbidden(request: Request) -> Response:
    return page(
        request,
        "error.html",
        {
            "title": "Request refused",
            "message": "The form was not valid for this browser. Reload the page and try again.",
        },
        status=403,
    )


def blocked(request: Request) -> Response:
    """A sign-in that reuses a session (single sign-on, forward-auth, a device approval) and is blocked:
    as in Entra, the person sees why here and the application gets no answer to act on."""
    return page(request, "error.html", {"title": "Access blocked", "message": NOTICES[Notice.BLOCKED]}, status=403)


#: Stages whose page needs more than the flow (the user's methods): render them in a worker thread.
STEP_STAGES = (Stage.SATISFY, Stage.REGISTER)


def render_flow(request: Request, view: FlowView, browser: str, *, login_hint: str = "") -> Response:
    if view.state.stage in STEP_STAGES:
        return render_step(request, view, browser)
    if view.state.stage is Stage.CHANGE_PASSWORD:
        return page(
            request,
            "signin_password_change.html",
            {
                "flow_id": view.flow_id,
                "csrf": csrf_token(request, view.flow_id, browser),
                "app_name": view.app_display_name,
                "username": view.state.username,
                "min_length": MIN_PASSWORD_LENGTH,
                "max_length": MAX_PASSWORD_LENGTH,
                "notice_text": view.message,
            },
        )
    if view.state.stage is Stage.PASSKEY:
        return page(
            request,
            "signin_passkey.html",
            {
                "flow_id": view.flow_id,
                "csrf": csrf_token(request, view.flow_id, browser),
                "app_name": view.app_display_name,
                "passkey": (view.state.prompt or {}).get("view"),
                "notice_text": view.message,
            },
        )
    template = "signin_password.html" if view.state.stage is Stage.PASSWORD else "signin_identify.html"
    if view.state.stage is Stage.BLOCKED:
        return page(
            request,
            "error.html",
            {"title": "Access blocked", "message": NOTICES[Notice.BLOCKED], "retry_url": "/signin"},
            status=403,
        )
    return page(
        request,
        template,
        {
            "flow_id": view.flow_id,
            "csrf": csrf_token(request, view.flow_id, browser),
            "username": view.state.username or login_hint,
            "app_name": view.app_display_name,
            "notice_text": NOTICES.get(view.notice) if view.notice else None,
        },
    )


# The sign-in steps are plain Starlette endpoints: they are the hot path of every sign-in, and FastAPI's
# dependency injection and form models cost more CPU than the rest of a step (bench/signin_throughput.py).
# The steps that need no database run on the event loop; the others run in a worker thread.

MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 16


class _BadForm(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded body, at most MAX_FORM_BYTES and MAX_FORM_FIELDS; anything else reads as empty
    (so the CSRF check refuses it)."""
    if request.headers.get("content-type", "").split(";", 1)[0].strip() != "application/x-www-form-urlencoded":
        return {}
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise _BadForm(413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _BadForm(413)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadForm(400) from exc
    return dict(pairs)


def _refused(status: int) -> Response:
    return PlainTextResponse("Request refused", status_code=status, headers=SECURITY_HEADERS)


def form_post(handler: Callable[[Request, dict[str, str]], Response]) -> Callable[[Request], Awaitable[Response]]:
    """A form post endpoint: the size-limited form read here (a bad one refused, see `_form`), then
    `handler(request, form)` in a worker thread, where the database and argon2 may block."""

    async def endpoint(request: Request) -> Response:
        try:
            form = await _form(request)
        except _BadForm as bad:
            return _refused(bad.status)
        return await run_in_threadpool(handler, request, form)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    return endpoint


async def signin_page(request: Request) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    flow = request.query_params.get("flow")
    if flow is None:
        # A sign-in to Limen's own account page. Rendered at once: no redirect round trip, no database.
        return with_browser_token(
            request, lambda browser: render_flow(request, signin_service.begin(services, tenant_id, browser), browser)
        )
    existing = browser_token(request)
    if existing is None:
        return expired(request)
    view = await run_in_threadpool(signin_service.load_flow, services, tenant_id, flow, existing)
    if view is None:
        return expired(request)
    if view.state.stage in STEP_STAGES:
        return await run_in_threadpool(render_step, request, view, existing)
    hint = str((view.authorize_request or {}).get("login_hint") or "")
    return render_flow(request, view, existing, login_hint=hint)


async def identify(request: Request) -> Response:
    try:
        form = await _form(request)
    except _BadForm as bad:
        return _refused(bad.status)
    flow = form.get("flow", "")
    browser = browser_token(request)
    if not csrf_ok(request, flow, browser, form.get("csrf_token")):
        return forbidden(request)
    assert browser is not None
    args = (get_services(request), tenant_id_for(request), flow, browser, form.get("username", ""))
    if needs_db(flow):
        view = await run_in_threadpool(signin_service.submit_username, *args)
    else:
        view = signin_service.submit_username(*args)
    return expired(request) if view is None else render_flow(request, view, browser)


async def restart(request: Request) -> Response:
    try:
        form = await _form(request)
    except _BadForm as bad:
        return _refused(bad.status)
    flow = form.get("flow", "")
    browser = browser_token(request)
    if not csrf_ok(request, flow, browser, form.get("csrf_token")):
        return forbidden(request)
    assert browser is not None
    args = (get_services(request), tenant_id_for(request), flow, browser)
    if needs_db(flow):
        view = await run_in_threadpool(signin_service.restart, *args)
    else:
        view = signin_service.restart(*args)
    return expired(request) if view is None else render_flow(request, view, browser)


@form_post  # argon2 and the database run in a worker thread, so they never block the event loop
def password(request: Request, form: dict[str, str]) -> Response:
    flow = form.get("flow", "")
    browser = browser_token(request)
    if not csrf_ok(request, flow, browser, form.get("csrf_token")):
        return forbidden(request)
    assert browser is not None
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    meta = request_meta(request)
    secret = form.get("password", "")[:1024]
    result = submit_password(services, tenant_id, flow, browser, secret, meta)
    if result is None:
        return expired(request)
    if isinstance(result, FlowView):
        return render_flow(request, result, browser)
    return complete(request, result)


#: Mounted ahead of the FastAPI routes by limen.web.app.
routes = [
    Route("/signin", signin_page, methods=["GET"], include_in_schema=False),
    Route("/signin/identify", identify, methods=["POST"], include_in_schema=False),
    Route("/signin/restart", restart, methods=["POST"], include_in_schema=False),
    Route("/signin/password", password, methods=["POST"], include_in_schema=False),
]


def complete(request: Request, result: Completed) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    location = "/"
    if result.authorize_request is not None:
        with services.db() as db:
            active = sessions.lookup(db, tenant_id, result.session_token, services.clock.now())
        assert active is not None
        location = success_redirect(
            services,
            tenant_id,
            AuthorizeRequest.from_json(result.authorize_request),
            user_id=result.user_id,
            session_id=active.row.id,
            methods=active.methods,
        )
    response = RedirectResponse(location, status_code=303)
    lifetime = get_services(request).settings.session_lifetime_hours * 3600
    set_cookie(request, response, SESSION_COOKIE, result.session_token, max_age=lifetime if result.persistent else None)
    return response


@router.get("/")
def home(request: Request) -> Response:
    services = get_services(request)
    with services.db() as db:
        active = sessions.lookup(db, tenant_id_for(request), request.cookies.get(SESSION_COOKIE), services.clock.now())
    if active is None:
        return page(request, "home.html", {"user": None})
    response = page(
        request,
        "home.html",
        {
            "user": active.user,
            "auth_time": active.row.auth_time,
            "methods": [m.method for m in active.methods],
            "csrf": csrf_token(request, "signout", request.cookies.get(SESSION_COOKIE, "")),
        },
    )
    return response


@router.post("/signout")
def signout(request: Request, csrf_token: FormStr = "") -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not csrf_ok(request, "signout", cookie, csrf_token):
        return forbidden(request)
    end_session(request)
    response = page(request, "signed_out.html", {})
    clear_cookie(request, response, SESSION_COOKIE)
    return response


def end_session(request: Request) -> None:
    """Revoke the current browser session (and its refresh tokens), if any."""
    services = get_services(request)
    with transaction(services.db) as db:
        active = sessions.lookup(db, tenant_id_for(request), request.cookies.get(SESSION_COOKIE), services.clock.now())
        if active is not None:
            sessions.revoke(db, active.row.id, services.clock.now())
