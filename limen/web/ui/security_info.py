""" "My security info" pages (/security-info): list, add, remove, set default, verify (fresh MFA)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from limen.domain.methods import SPECS
from limen.domain.methods.base import Rejected, Waiting
from limen.service import security_info, sessions
from limen.service.methods import runner
from limen.service.signin_mfa import addable_kinds
from limen.store.db import transaction
from limen.web.deps import get_services, tenant_id_for
from limen.web.ui.browser import SESSION_COOKIE, csrf_ok, csrf_token, request_meta
from limen.web.ui.render import page
from limen.web.ui.router import _BadForm, _form, _refused, forbidden

router = APIRouter(include_in_schema=False)
SCOPE = "security-info"
MUST_VERIFY = "To add or remove a method, first verify your identity with one you already have."


def _session(db: Session, request: Request) -> sessions.ActiveSession | None:
    services = get_services(request)
    return sessions.lookup(db, tenant_id_for(request), request.cookies.get(SESSION_COOKIE), services.clock.now())


def _csrf(request: Request) -> str:
    return csrf_token(request, SCOPE, request.cookies.get(SESSION_COOKIE, ""))


def _overview(
    request: Request, db: Session, active: sessions.ActiveSession, notice: str | None = None, status: int = 200
) -> Response:
    services = get_services(request)
    return page(
        request,
        "security_info.html",
        {
            "user": active.user,
            "methods": security_info.lines(db, services, active.user.tenant_id, active.user.id),
            "may_change": security_info.may_change(db, services, active),
            "addable": addable_kinds(),
            "csrf": _csrf(request),
            "notice_text": notice,
            "done": request.query_params.get("done"),
        },
        status=status,
    )


def _prompt_page(
    request: Request, template: str, kind: str, started: runner.Started | None, view: Any, notice: str | None
) -> Response:
    spec = SPECS.get(kind)
    return page(
        request,
        template,
        {
            "kind": kind,
            "label": spec.display_name if spec else kind,
            "challenge": started.challenge_id if started else "",
            "view": view,
            "csrf": _csrf(request),
            "notice_text": notice,
        },
    )


@router.get("/security-info")
def overview(request: Request) -> Response:
    services = get_services(request)
    with services.db() as db:
        active = _session(db, request)
        if active is None:
            return RedirectResponse("/signin", status_code=303)
        return _overview(request, db, active)


Handler = Callable[[Request, Session, sessions.ActiveSession, dict[str, str]], Response]


def _post(handler: Handler) -> Callable[[Request], Any]:
    """A form post from a signed-in browser: size-limited form, CSRF bound to the session, one transaction."""

    async def endpoint(request: Request) -> Response:
        try:
            form = await _form(request)
        except _BadForm as bad:
            return _refused(bad.status)
        if not csrf_ok(request, SCOPE, request.cookies.get(SESSION_COOKIE), form.get("csrf_token")):
            return forbidden(request)

        def run() -> Response:
            services = get_services(request)
            with transaction(services.db) as db:
                active = _session(db, request)
                if active is None:
                    return RedirectResponse("/signin", status_code=303)
                return handler(request, db, active, form)

        return await run_in_threadpool(run)

    return endpoint


def _verify(request: Request, db: Session, active: sessions.ActiveSession, form: dict[str, str]) -> Response:
    services = get_services(request)
    method, started = security_info.start_verify(
        db, services, active, form.get("method") or None, request_meta(request)
    )
    if isinstance(started, Rejected) or method is None:
        message = started.message if isinstance(started, Rejected) else None
        return _overview(request, db, active, message, status=400)
    return _prompt_page(request, "security_info_verify.html", method.kind, started, started.view, None)


def _verify_answer(request: Request, db: Session, active: sessions.ActiveSession, form: dict[str, str]) -> Response:
    services = get_services(request)
    challenge = form.get("challenge", "")
    result = security_info.answer_verify(db, services, active, challenge, form, request_meta(request))
    if isinstance(result, runner.Passed):
        return RedirectResponse("/security-info?done=verified", status_code=303)
    view = runner.prompt_view(db, services, active.user.tenant_id, active.user.id, challenge)
    kind = form.get("kind", "")
    if isinstance(result, Waiting):
        return _prompt_page(request, "security_info_verify.html", kind, _same(challenge, view), view, None)
    if result.reason.value in {"denied", "wrongNumber", "expired", "notAllowed"}:
        return _overview(request, db, active, result.message, status=400)
    return _prompt_page(request, "security_info_verify.html", kind, _same(challenge, view), view, result.message)


def _same(challenge: str, view: Any) -> runner.Started:
    return runner.Started(challenge, view, None)  # type: ignore[arg-type]


def _add(request: Request, db: Session, active: sessions.ActiveSession, form: dict[str, str]) -> Response:
    services = get_services(request)
    if not security_info.may_change(db, services, active):
        return _overview(request, db, active, MUST_VERIFY, status=403)
    kind = form.get("kind", "")
    started = security_info.start_add(db, services, active, kind, form, request_meta(request))
    if isinstance(started, Rejected):
        return _overview(request, db, active, started.message, status=400)
    return _prompt_page(request, "security_info_add.html", kind, started, started.view, None)


def _add_finish(request: Request, db: Session, active: sessions.ActiveSession, form: dict[str, str]) -> Response:
    services = get_services(request)
    challenge = form.get("challenge", "")
    kind = form.get("kind", "")
    result = security_info.finish_add(db, services, active, challenge, form, request_meta(request))
    if isinstance(result, runner.Registration):
        return RedirectResponse("/security-info?done=added", status_code=303)
    view = runner.prompt_view(db, services, active.user.tenant_id, active.user.id, challenge)
    if not view:
        return _overview(request, db, active, getattr(result, "message", None), status=400)
    message = result.message if isinstance(result, Rejected) else None
    return _prompt_page(request, "security_info_add.html", kind, _same(challenge, view), view, message)


def _remove(request: Request, db: Session, active: sessions.ActiveSession, form: dict[str, str]) -> Response:
    services = get_services(request)
    if not security_info.may_change(db, services, active):
        return _overview(request, db, active, MUST_VERIFY, status=403)
    if security_info.remove_method(db, active, form.get("method", "")) is None:
        return _overview(request, db, active, "That method doesn't exist or can't be removed here.", status=404)
    return RedirectResponse("/security-info?done=removed", status_code=303)


def _default(request: Request, db: Session, active: sessions.ActiveSession, form: dict[str, str]) -> Response:
    if not security_info.make_default(db, active, form.get("method", "")):
        return _overview(request, db, active, "That method can't be the default sign-in method.", status=404)
    return RedirectResponse("/security-info?done=default", status_code=303)


for _path, _handler in (
    ("/security-info/verify", _verify),
    ("/security-info/verify/answer", _verify_answer),
    ("/security-info/add", _add),
    ("/security-info/add/finish", _add_finish),
    ("/security-info/remove", _remove),
    ("/security-info/default", _default),
):
    router.add_api_route(_path, _post(_handler), methods=["POST"], include_in_schema=False)
