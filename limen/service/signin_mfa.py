"""The steps after the password: the second factor, the registration interrupt, and the first
factors that are not a password (Temporary Access Pass, passkey).

Each use case reads the flow (stored from the decide step on), checks the stage, runs a method
through limen.service.methods.runner, and feeds the outcome to the state machine (signin_steps.drive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from limen.domain import signin as machine
from limen.domain.methods import SPECS, spec
from limen.domain.methods.base import Reason, Rejected, Waiting
from limen.domain.session import completed_with
from limen.domain.signin_log import SignInError
from limen.service.context import Services
from limen.service.methods import runner
from limen.service.methods.store import is_locked, second_factors
from limen.service.signin import Completed, FlowView, RequestMeta, _resolve, _view
from limen.service.signin_password import conclude
from limen.service.signin_steps import Account, Step, account_of, drive, failed_detail, load_account, open_challenge
from limen.store.models import Tenant, User


@dataclass(frozen=True)
class MethodChoice:
    id: str
    kind: str
    label: str
    display_name: str
    locked: bool = False


@dataclass(frozen=True)
class PageData:
    """What the second-factor and registration pages show besides the flow."""

    user_principal_name: str = ""
    current: MethodChoice | None = None
    view: Mapping[str, Any] = field(default_factory=dict)
    others: tuple[MethodChoice, ...] = ()
    #: Kinds the person can add themselves, with their display names (registration interrupt).
    addable: tuple[tuple[str, str], ...] = ()
    skip_allowed: bool = False


def _choice(row: Any, now: Any) -> MethodChoice:
    method_spec = SPECS.get(row.kind)
    return MethodChoice(
        id=row.id,
        kind=row.kind,
        label=method_spec.display_name if method_spec else row.kind,
        display_name=row.display_name,
        locked=is_locked(row, now),
    )


def addable_kinds() -> tuple[tuple[str, str], ...]:
    return tuple((s.key, s.display_name) for s in SPECS.values() if s.self_service and s.second_factor)


def page_data(services: Services, tenant_id: str, state: machine.SignInState) -> PageData:
    """Read what the page for `state` shows (method list, the open prompt's view)."""
    if state.user_id is None or state.stage not in (machine.Stage.SATISFY, machine.Stage.REGISTER):
        return PageData()
    now = services.clock.now()
    with services.db() as db:
        user = db.get(User, state.user_id)
        if user is None:
            return PageData()
        view: Mapping[str, Any] = {}
        if state.challenge:
            view = runner.prompt_view(db, services, tenant_id, user.id, state.challenge)
        if state.stage is machine.Stage.REGISTER:
            current = None
            if state.method_id and (s := spec(state.method_id)) is not None:
                current = MethodChoice("", s.key, s.display_name, s.display_name)
            kinds = addable_kinds()
            if state.register_kinds:
                kinds = tuple(k for k in kinds if k[0] in state.register_kinds)
            return PageData(user.user_principal_name, current, view, addable=kinds, skip_allowed=state.skip_allowed)
        rows = second_factors(db, tenant_id, user.id)
        if state.mfa_kinds:
            rows = [row for row in rows if row.kind in state.mfa_kinds]
        choices = [_choice(row, now) for row in rows]
        current = next((c for c in choices if c.id == state.method_id), None)
        others = tuple(c for c in choices if c.id != state.method_id)
        return PageData(user.user_principal_name, current, view, others)


def _open(
    db: sa.Connection,
    services: Services,
    tenant_id: str,
    flow_id: str,
    browser_token: str,
    meta: RequestMeta,
    stage: machine.Stage,
) -> tuple[Step, machine.SignInState, User] | None:
    resolved = _resolve(db, services, tenant_id, flow_id, browser_token)
    if resolved is None or resolved.row is None:
        return None
    state = resolved.state
    if state.stage is not stage or state.user_id is None:
        return None
    step = Step(db, services, tenant_id, resolved, meta, services.clock.now(), None)
    user = step.orm.get(User, state.user_id)
    if user is None or not user.account_enabled:
        return None
    step.account = load_account(step.orm, tenant_id, user)
    return step, state, user


def _in_stage(
    services: Services,
    tenant_id: str,
    flow_id: str,
    browser_token: str,
    meta: RequestMeta,
    stage: machine.Stage,
    act: Callable[[Step, machine.SignInState, User], FlowView | Completed],
) -> FlowView | Completed | None:
    """Run `act` in one transaction on this browser's flow, if it exists and is at `stage`."""
    with services.engine.begin() as db:
        opened = _open(db, services, tenant_id, flow_id, browser_token, meta, stage)
        return act(*opened) if opened is not None else None


def _again(step: Step, browser_token: str, state: machine.SignInState, message: str | None = None) -> FlowView:
    """The same page again (an answer that changed nothing, a push not answered yet)."""
    step.close()
    view = _view(step.db, step.services, browser_token, step.resolved, state)
    return FlowView(view.flow_id, view.state, view.authorize_request, None, message)


def answer_second_factor(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, form: Mapping[str, str], meta: RequestMeta
) -> FlowView | Completed | None:
    def act(step: Step, state: machine.SignInState, user: User) -> FlowView | Completed:
        if not state.challenge or form.get("challenge") != state.challenge:
            # An older page (another tab, the back button): show the current one.
            return _again(step, browser_token, state)
        result = runner.answer_challenge(step.orm, services, tenant_id, user, state.challenge, form, meta)
        if isinstance(result, Waiting):
            return _again(step, browser_token, state)
        if isinstance(result, Rejected):
            if result.reason is Reason.MALFORMED:
                # Not an attempt (a typo in the shape of the answer): say what is expected, log nothing.
                return _again(step, browser_token, state, result.message)
            kind = SPECS.get(_kind_of(step, state) or "")
            step.failed = failed_detail(kind.key if kind else "", "MFA", result.message, step.now)
            state = drive(step, state, machine.SecondFactorFailed(SignInError.STRONG_AUTH_FAILED))
            step.message = result.message
            if result.reason in _SPENT:
                # This prompt cannot be answered again: the page offers a new one.
                state = drive(step, state, machine.ChallengeStarted(state.method_id, ""))
            return conclude(step, browser_token, state)
        step.log_details[result.completed.method] = result.log_detail
        state = drive(step, state, machine.SecondFactorPassed(result.completed))
        return conclude(step, browser_token, state)

    return _in_stage(services, tenant_id, flow_id, browser_token, meta, machine.Stage.SATISFY, act)


#: Rejections after which the prompt is spent (a device's answer is final; a lock or throttle holds).
_SPENT = {Reason.DENIED, Reason.WRONG_NUMBER, Reason.EXPIRED, Reason.NOT_ALLOWED, Reason.UNAVAILABLE}


def _kind_of(step: Step, state: machine.SignInState) -> str | None:
    if state.method_id is None:
        return None
    row = next(
        (m for m in second_factors(step.orm, step.tenant_id, state.user_id or "") if m.id == state.method_id), None
    )
    return row.kind if row else None


def switch_method(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, method_id: str, meta: RequestMeta
) -> FlowView | Completed | None:
    """ "Other ways to sign in", or "send a new code": open a challenge for that method."""

    def act(step: Step, state: machine.SignInState, _user: User) -> FlowView | Completed:
        state = drive(step, state, open_challenge(step, state, method_id))
        return conclude(step, browser_token, state)

    return _in_stage(services, tenant_id, flow_id, browser_token, meta, machine.Stage.SATISFY, act)


# Registration interrupt --------------------------------------------------------------------------------


def start_registration(
    services: Services,
    tenant_id: str,
    flow_id: str,
    browser_token: str,
    kind: str,
    form: Mapping[str, str],
    meta: RequestMeta,
) -> FlowView | Completed | None:
    def act(step: Step, state: machine.SignInState, user: User) -> FlowView | Completed:
        started = runner.start_registration(step.orm, services, tenant_id, user, kind, form, meta)
        if isinstance(started, Rejected):
            return _again(step, browser_token, state, started.message)
        # In the register stage the state names the kind being added (there is no method id yet).
        state = drive(step, state, machine.ChallengeStarted(kind, started.challenge_id))
        return conclude(step, browser_token, state)

    return _in_stage(services, tenant_id, flow_id, browser_token, meta, machine.Stage.REGISTER, act)


def finish_registration(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, form: Mapping[str, str], meta: RequestMeta
) -> FlowView | Completed | None:
    def act(step: Step, state: machine.SignInState, user: User) -> FlowView | Completed:
        if not state.challenge or form.get("challenge") != state.challenge:
            return _again(step, browser_token, state)
        result = runner.finish_registration(step.orm, services, tenant_id, user, state.challenge, form, meta)
        if isinstance(result, Waiting):
            return _again(step, browser_token, state)
        if isinstance(result, Rejected):
            return _again(step, browser_token, state, result.message)
        method_spec = SPECS[result.method.kind]
        completed = completed_with(method_spec, step.now)
        step.account = account_of(user, True, step.orm.get(Tenant, tenant_id))
        step.log_details[method_spec.key] = result.method.display_name
        state = drive(step, state, machine.MethodRegistered(completed))
        return conclude(step, browser_token, state)

    return _in_stage(services, tenant_id, flow_id, browser_token, meta, machine.Stage.REGISTER, act)


def choose_other(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, meta: RequestMeta
) -> FlowView | Completed | None:
    """Back from a method's setup to the list of methods."""

    def act(step: Step, state: machine.SignInState, _user: User) -> FlowView | Completed:
        state = drive(step, state, machine.ChallengeStarted(None, ""))
        return conclude(step, browser_token, state)

    return _in_stage(services, tenant_id, flow_id, browser_token, meta, machine.Stage.REGISTER, act)


def skip_registration(
    services: Services, tenant_id: str, flow_id: str, browser_token: str, meta: RequestMeta
) -> FlowView | Completed | None:
    def act(step: Step, state: machine.SignInState, _user: User) -> FlowView | Completed:
        try:
            state = drive(step, state, machine.RegistrationSkipped())
        except machine.InvalidTransition:
            return _again(step, browser_token, state, "You need to add a method before you can continue.")
        return conclude(step, browser_token, state)

    return _in_stage(services, tenant_id, flow_id, browser_token, meta, machine.Stage.REGISTER, act)


__all__ = [
    "Account",
    "PageData",
    "answer_second_factor",
    "choose_other",
    "finish_registration",
    "page_data",
    "skip_registration",
    "start_registration",
    "switch_method",
]
