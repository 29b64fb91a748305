"""Signing in with a passkey instead of a username and password (passwordless, phishing-resistant).

"Sign in with a passkey" opens a WebAuthn challenge for discoverable credentials and keeps it in the
flow (so the flow is stored from here on); the browser's assertion names the credential, which names
the user. A passkey with user verification is MFA by itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from limen.domain import signin as machine
from limen.domain.methods import fido2
from limen.domain.methods.base import Rejected
from limen.domain.session import completed_with
from limen.domain.signin_log import SignInError
from limen.service.context import Services
from limen.service.methods import passkeys
from limen.service.signin import Completed, FlowView, RequestMeta, _resolve, _view
from limen.service.signin_password import _Spent, _spent, conclude
from limen.service.signin_steps import Step, account_of, drive, failed_detail
from limen.store.models import Tenant


def start(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, meta: RequestMeta
) -> FlowView | Completed | None:
    with services.engine.begin() as db:
        resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
        if resolved is None or (resolved.row is None and _spent(db, resolved.handle.flow_id)):
            return None
        view, pending = passkeys.begin_passwordless(services, tenant_id, meta)
        try:
            state, _ = machine.advance(
                resolved.state, machine.PasskeyRequested({"view": dict(view), "pending": pending}), services.clock.now()
            )
        except machine.InvalidTransition:
            state = resolved.state
        return _view(db, services, browser_token, resolved, state)


def finish(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, answer: Mapping[str, str], meta: RequestMeta
) -> FlowView | Completed | None:
    try:
        with services.engine.begin() as db:
            resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
            if resolved is None or resolved.row is None:
                return None
            state = resolved.state
            if state.stage is not machine.Stage.PASSKEY or not state.prompt:
                return _view(db, services, browser_token, resolved, state)
            step = Step(db, services, tenant_id, resolved, meta, services.clock.now(), None)
            result = passkeys.finish_passwordless(step.orm, services, tenant_id, state.prompt["pending"], answer, meta)
            if isinstance(result, Rejected):
                step.close()
                view = _view(db, services, browser_token, resolved, state)
                return FlowView(view.flow_id, view.state, view.authorize_request, None, result.message)
            user, method, verified = result
            step.account = account_of(user, True, step.orm.get(Tenant, tenant_id))
            spec = fido2.SPEC
            if not user.account_enabled:
                step.failed = failed_detail(spec.key, "Primary authentication", "Account disabled", step.now)
                event = machine.FirstFactorChecked(SignInError.USER_DISABLED, user.id, None, user.user_principal_name)
            else:
                completed = completed_with(spec, step.now)
                step.log_details[spec.key] = verified.log_detail or method.display_name
                event = machine.FirstFactorChecked(
                    SignInError.SUCCESS, user.id, completed, username=user.user_principal_name
                )
            state = drive(step, state, event)
            return conclude(step, browser_token, state)
    except _Spent:
        return None
