"""Sign-in pages after the password: second factor, registration interrupt, Temporary Access Pass.

Each endpoint reads a small form, checks CSRF against the flow and the browser, runs its use case in
a worker thread (methods hash, query and may send messages) and renders the flow's next page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from limen.service import signin_mfa, signin_passkey, signin_password_change, signin_tap
from limen.service.context import Services
from limen.service.signin import Completed, FlowView, RequestMeta
from limen.web.deps import get_services, tenant_id_for
from limen.web.ui.browser import browser_token, csrf_ok, request_meta
from limen.web.ui.router import _BadForm, _form, _refused, complete, expired, forbidden, render_flow

StepResult = FlowView | Completed | None
#: (services, tenant id, flow handle, browser token, form, request meta) -> the flow's next page.
UseCase = Callable[[Services, str, str, str, Mapping[str, str], RequestMeta], StepResult]


def flow_step(use_case: UseCase) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        try:
            form = await _form(request)
        except _BadForm as bad:
            return _refused(bad.status)
        flow = form.get("flow", "")
        browser = browser_token(request)
        if not csrf_ok(request, flow, browser, form.get("csrf_token")):
            return forbidden(request)
        assert browser is not None
        services = get_services(request)

        def run() -> Response:
            result = use_case(services, tenant_id_for(request), flow, browser, form, request_meta(request))
            if result is None:
                return expired(request)
            if isinstance(result, Completed):
                return complete(request, result)
            return render_flow(request, result, browser)

        return await run_in_threadpool(run)

    return endpoint


def _answer(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_mfa.answer_second_factor(s, t, f, b, form, m)


def _switch(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_mfa.switch_method(s, t, f, b, form.get("method", ""), m)


def _register(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_mfa.start_registration(s, t, f, b, form.get("kind", ""), form, m)


def _register_finish(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_mfa.finish_registration(s, t, f, b, form, m)


def _register_other(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_mfa.choose_other(s, t, f, b, m)


def _register_skip(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_mfa.skip_registration(s, t, f, b, m)


def _tap(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_tap.submit_tap(s, t, f, b, form.get("tap", "")[:256], m)


def _password_change(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_password_change.change_password(s, t, f, b, form, m)


def _passkey_start(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_passkey.start(s, t, f, b, m)


def _passkey(s: Services, t: str, f: str, b: str, form: Mapping[str, str], m: RequestMeta) -> StepResult:
    return signin_passkey.finish(s, t, f, b, form, m)


routes = [
    Route("/signin/passkey/start", flow_step(_passkey_start), methods=["POST"], include_in_schema=False),
    Route("/signin/passkey", flow_step(_passkey), methods=["POST"], include_in_schema=False),
    Route("/signin/tap", flow_step(_tap), methods=["POST"], include_in_schema=False),
    Route("/signin/mfa", flow_step(_answer), methods=["POST"], include_in_schema=False),
    Route("/signin/mfa/switch", flow_step(_switch), methods=["POST"], include_in_schema=False),
    Route("/signin/register", flow_step(_register), methods=["POST"], include_in_schema=False),
    Route("/signin/register/finish", flow_step(_register_finish), methods=["POST"], include_in_schema=False),
    Route("/signin/register/other", flow_step(_register_other), methods=["POST"], include_in_schema=False),
    Route("/signin/register/skip", flow_step(_register_skip), methods=["POST"], include_in_schema=False),
    Route("/signin/password/change", flow_step(_password_change), methods=["POST"], include_in_schema=False),
]
