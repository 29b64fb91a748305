"""Signing in with a Temporary Access Pass instead of a password (SPEC.md §7.5).

The pass is both factors at once (it counts as MFA), which is what lets a person without any method
register one. A wrong or unusable pass looks exactly like a wrong password to the person, and is
logged as one, so a guesser learns nothing about accounts or passes.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from limen.domain import signin as machine
from limen.domain.methods import tap as tap_method
from limen.domain.session import completed_with
from limen.domain.signin_log import AuthenticationDetail, SignInError
from limen.service.context import Services
from limen.service.methods import tap as tap_service
from limen.service.signin import Completed, FlowView, RequestMeta, _resolve, _resolve_stored, _view
from limen.service.signin_password import _find_account, _restart_view, _Spent, _spent, conclude
from limen.service.signin_steps import Step, drive

MAX_TAP_LENGTH = 48


def submit_tap(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, value: str, meta: RequestMeta
) -> FlowView | Completed | None:
    try:
        with services.engine.begin() as db:
            resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
            if resolved is None or (resolved.row is None and _spent(db, resolved.handle.flow_id)):
                return None
            if resolved.handle.stored:
                resolved = _resolve_stored(db, services, tenant_id, resolved.handle, browser_token) or resolved
            state = resolved.state
            if state.stage is not machine.Stage.PASSWORD:
                return _restart_view(services, browser_token, resolved)
            now = services.clock.now()
            account = _find_account(db, tenant_id, state.username)
            step = Step(db, services, tenant_id, resolved, meta, now, account)
            used = None
            if account is not None and account.enabled and 0 < len(value.strip()) <= MAX_TAP_LENGTH:
                with Session(bind=db) as orm:
                    used = tap_service.check(orm, services, tenant_id, account.id, value.strip())
                    orm.flush()
            if used is None:
                error = (
                    SignInError.USER_ACCOUNT_NOT_FOUND if account is None else SignInError.INVALID_USERNAME_OR_PASSWORD
                )
                step.failed = AuthenticationDetail(
                    tap_method.SPEC.log_name,
                    succeeded=False,
                    step_at=now,
                    result_detail="Invalid Temporary Access Pass",
                )
                event = machine.FirstFactorChecked(error=error, user_id=account.id if account else None)
            else:
                assert account is not None
                spec = tap_method.SPEC
                completed = completed_with(spec, now)
                event = machine.FirstFactorChecked(error=SignInError.SUCCESS, user_id=account.id, method=completed)
            state = drive(step, state, event)
            return conclude(step, browser_token, state)
    except _Spent:
        return None


__all__ = ["FlowView", "_view", "submit_tap"]
