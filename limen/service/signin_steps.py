"""Carrying out the sign-in state machine's effects: one loop for every step (password, second
factor, registration, Temporary Access Pass, passkey).

Every step ends here: the step feeds its event to `drive`, which applies the machine's effects
(decide, open a challenge, log, issue the session) inside the caller's transaction until the
machine waits for the person again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain import signin as machine
from limen.domain.access.decision import ClientAppType, Decision, PolicySet, SignInContext, decide
from limen.domain.defaults import DEFAULT_GRACE_DAYS
from limen.domain.ids import new_id
from limen.domain.methods import SPECS
from limen.domain.methods.base import Rejected
from limen.domain.session import CompletedMethod
from limen.domain.signin_log import CLIENT_APP_USED, AuthenticationDetail, SignInError, SignInRecord
from limen.domain.user_agent import device_detail, platform_of
from limen.service import access_policies, familiarity, sessions, signin_log, user_risk
from limen.service.context import Services
from limen.service.devices import record_sign_in, sign_in_device
from limen.service.directory import member_of_transitive, role_ids_of
from limen.service.geo import country_of
from limen.service.methods import runner
from limen.service.methods.store import has_registered_method, is_locked, second_factors
from limen.service.signin import _MARK_SIGNED_IN, PORTAL_APP_ID, PORTAL_APP_NAME, Db, RequestMeta, _Resolved
from limen.store.models import AuthMethod, Tenant, User


@dataclass(frozen=True)
class Account:
    """What the sign-in needs of a user and their tenant's defaults, read in one query."""

    id: str
    user_principal_name: str
    display_name: str
    password_hash: str | None
    enabled: bool
    has_methods: bool = False
    registration_required: bool = False
    registration_started_at: datetime | None = None
    security_defaults: bool = False
    registration_grace_days: int = DEFAULT_GRACE_DAYS
    policy_version: int = 0
    user_type: str = "Member"


def account_of(user: User, has_methods: bool, tenant: Tenant | None = None) -> Account:
    return Account(
        user.id,
        user.user_principal_name,
        user.display_name,
        None,
        user.account_enabled,
        has_methods,
        user.mfa_registration_required,
        user.mfa_registration_started_at,
        tenant.security_defaults_enabled if tenant else False,
        tenant.registration_grace_days if tenant else DEFAULT_GRACE_DAYS,
        tenant.policy_version if tenant else 0,
        user.user_type,
    )


def load_account(db: Session, tenant_id: str, user: User) -> Account:
    """`account_of` a user read by id, with their methods and tenant looked up."""
    return account_of(user, has_registered_method(db, tenant_id, user.id), db.get(Tenant, tenant_id))


@dataclass
class Step:
    """One step's inputs and what `drive` found out while running it."""

    db: sa.Connection
    services: Services
    tenant_id: str
    resolved: _Resolved
    meta: RequestMeta
    now: datetime
    account: Account | None
    #: The authentication detail of a step that failed, for the log row (its successes come from state).
    failed: AuthenticationDetail | None = None
    #: A password hash made with new parameters, stored on success.
    new_hash: str | None = None
    #: Set by drive.
    notice: machine.Notice | None = None
    session_token: str | None = None
    #: A message for the person from a method (a throttle, a lock), shown on the next page.
    message: str | None = None
    log_details: dict[str, str] = field(default_factory=dict)
    decision: Decision | None = None
    #: The completed methods `decision` was made on.
    decided_on: tuple[CompletedMethod, ...] | None = None
    _orm: Session | None = None

    @property
    def orm(self) -> Session:
        """An ORM session in the same transaction, for the method runner (the hot path uses Core)."""
        if self._orm is None:
            self._orm = Session(bind=self.db)
        return self._orm

    def close(self) -> None:
        if self._orm is not None:
            self._orm.flush()
            self._orm.close()

    @property
    def authorize_request(self) -> dict[str, Any] | None:
        return self.resolved.authorize_request

    @property
    def request_meta(self) -> RequestMeta:
        """The request's facts, with the client app type the flow was started for (a native app's
        authorization request, a device code) rather than the browser that carries it."""
        kind = (self.authorize_request or {}).get("client_app_type")
        if kind and kind != self.meta.client_app_type.value:
            return replace(self.meta, client_app_type=ClientAppType(kind))
        return self.meta


def drive(step: Step, state: machine.SignInState, event: machine.Event) -> machine.SignInState:
    """Apply `event` and the effects that follow until the machine waits for the person."""
    while True:
        state, effects = machine.advance(state, event, step.now)
        next_event: machine.Event | None = None
        for effect in effects:
            if isinstance(effect, machine.Show):
                step.notice = effect.notice
            elif isinstance(effect, machine.LogAttempt):
                signin_log.append(step.db, step.tenant_id, _record(step, state, effect))
            elif isinstance(effect, machine.RunDecision):
                next_event = machine.Decided(decide_step(step, state))
            elif isinstance(effect, machine.StartChallenge):
                next_event = open_challenge(step, state, effect.method_id)
            elif isinstance(effect, machine.OfferPasswordChange):
                user = step.orm.get(User, state.user_id)
                next_event = machine.PasswordChangeOffered(user is not None and user.password_hash is not None)
            elif isinstance(effect, machine.IssueSession):
                assert state.user_id is not None
                step.session_token = sessions.create(
                    step.db,
                    tenant_id=step.tenant_id,
                    user_id=state.user_id,
                    methods=state.completed,
                    now=step.now,
                    lifetime=timedelta(hours=step.services.settings.session_lifetime_hours),
                )
                _after_success(step.db, state.user_id, step.new_hash, step.now)
                if step.account is not None and step.account.security_defaults:
                    meta = step.request_meta
                    familiarity.remember(
                        step.db, step.tenant_id, state.user_id, meta.device_key, meta.ip_address, step.now
                    )
        if next_event is None:
            step.close()
            return state
        event = next_event


def open_challenge(step: Step, state: machine.SignInState, method_id: str | None) -> machine.Event:
    """Open a challenge for the chosen method, else the default one that is not locked."""
    assert state.user_id is not None
    db = step.orm
    user = db.get(User, state.user_id)
    assert user is not None
    candidates = second_factors(db, step.tenant_id, state.user_id)
    if state.mfa_kinds:
        # Only methods that meet the authentication strength a policy requires.
        candidates = [m for m in candidates if m.kind in state.mfa_kinds]
    chosen: AuthMethod | None = next((m for m in candidates if m.id == method_id), None) if method_id else None
    if chosen is None:
        chosen = next((m for m in candidates if not is_locked(m, step.now)), candidates[0] if candidates else None)
    if chosen is None:
        return machine.ChallengeStarted(None, "")
    started = runner.start_challenge(
        db, step.services, step.tenant_id, user, chosen, "signin", step.meta, app_name=app_display_name(step)
    )
    if isinstance(started, Rejected):
        step.message = started.message
        return machine.ChallengeStarted(chosen.id, "")
    return machine.ChallengeStarted(chosen.id, started.challenge_id)


def decide_step(step: Step, state: machine.SignInState) -> Decision:
    assert state.user_id is not None
    account = step.account
    policies = PolicySet(
        security_defaults=account.security_defaults if account else False,
        registration_grace_days=account.registration_grace_days if account else DEFAULT_GRACE_DAYS,
        conditional_access=access_policies.compiled(step.services, step.tenant_id, account.policy_version)
        if account
        else None,
    )
    decision = _decide_with(
        step.orm if (policies.needs_directory or account is None or account.has_methods) else None,
        step.tenant_id,
        state.user_id,
        account,
        policies,
        app_id=app_id(step.authorize_request),
        meta=step.request_meta,
        now=step.now,
        interactive=True,
        completed=state.completed,
        authorize_request=step.authorize_request,
    )
    if decision.starts_registration_window:
        _start_registration_window(step.db, state.user_id, step.now)
    step.decision, step.decided_on = decision, state.completed
    return decision


def _decide_with(
    orm: Session | None,
    tenant_id: str,
    user_id: str,
    account: Account | None,
    policies: PolicySet,
    *,
    app_id: str,
    meta: RequestMeta,
    now: datetime,
    interactive: bool,
    completed: tuple[CompletedMethod, ...] = (),
    authorize_request: dict[str, Any] | None = None,
    reusing_session: bool = False,
) -> Decision:
    """Gather the context `decide` needs (only what the policies look at) and decide."""
    groups: set[str] = set()
    roles: set[str] = set()
    registered: frozenset[str] = frozenset()
    familiar = True
    if orm is not None:
        if policies.needs_directory:
            # Directory facts cost two recursive queries; load them only when some policy can look at them.
            groups = set(member_of_transitive(orm, tenant_id, user_id))
            roles = set(role_ids_of(orm, tenant_id, user_id))
        if account is None or account.has_methods:
            # Most sign-ins of users without methods skip this query: the account read said there are none.
            registered = frozenset(m.kind for m in second_factors(orm, tenant_id, user_id))
        if policies.needs_familiarity:
            familiar = familiarity.is_familiar(orm, user_id, meta.device_key, meta.ip_address, now)
    context = SignInContext(
        tenant_id=tenant_id,
        user_id=user_id,
        group_ids=frozenset(groups),
        role_ids=frozenset(roles),
        app_id=app_id,
        client_app_type=meta.client_app_type,
        ip_address=meta.ip_address,
        is_interactive=interactive,
        registered_methods=registered,
        registration_required=account.registration_required if account else False,
        registration_started_at=account.registration_started_at if account else None,
        familiar=familiar,
        completed=completed,
        reusing_session=reusing_session,
    )
    if policies.has_conditional_access:
        # Facts only Conditional Access looks at: a GeoIP lookup and a User-Agent parse per sign-in.
        context = replace(
            context,
            user_type=(account.user_type if account else "Member").lower(),
            platform=platform_of(meta.user_agent),
            country=country_of(meta.ip_address),
            # One indexed query: the user's active risk detections (limen.service.user_risk).
            user_risk=user_risk.level(orm, tenant_id, user_id, now) if orm is not None else "none",
            authentication_flow="deviceCodeFlow" if is_device_code_flow(authorize_request) else None,
            device=None
            if orm is None
            else sign_in_device(
                orm, tenant_id, meta.device_secret, device_code_flow=is_device_code_flow(authorize_request)
            ),
        )
    return decide(context, policies, now)


def decide_for(
    db: Session,
    services: Services,
    tenant_id: str,
    user: User,
    *,
    app_id: str,
    meta: RequestMeta,
    completed: tuple[CompletedMethod, ...] = (),
    interactive: bool,
    reusing_session: bool = False,
    authorize_request: dict[str, Any] | None = None,
) -> Decision:
    """The decision for `user` signing in to `app_id`, outside the interactive pages (single sign-on,
    forward-auth, refresh tokens, the password grant, HTTP Basic). `reusing_session`: `completed` was done
    earlier (a browser session, a refresh token's grant). A non-interactive sign-in does not start a
    registration window."""
    account = load_account(db, tenant_id, user)
    policies = PolicySet(
        security_defaults=account.security_defaults,
        registration_grace_days=account.registration_grace_days,
        conditional_access=access_policies.compiled(services, tenant_id, account.policy_version),
    )
    decision = _decide_with(
        db,
        tenant_id,
        user.id,
        account,
        policies,
        app_id=app_id,
        meta=meta,
        now=services.clock.now(),
        interactive=interactive,
        completed=completed,
        reusing_session=reusing_session,
        authorize_request=authorize_request,
    )
    if interactive and decision.starts_registration_window:
        _start_registration_window(db, user.id, services.clock.now())
    return decision


def _start_registration_window(db: Db, user_id: str, now: datetime) -> None:
    db.execute(
        sa.update(User)
        .where(User.id == user_id, User.mfa_registration_started_at.is_(None))
        .values(mfa_registration_started_at=now)
        .execution_options(synchronize_session=False)
    )


def app_id(authorize_request: dict[str, Any] | None) -> str:
    return str(authorize_request["client_id"]) if authorize_request else PORTAL_APP_ID


def app_display_name(step: Step) -> str:
    request = step.authorize_request
    return str(request.get("app_display_name", "")) if request else PORTAL_APP_NAME


_RESULT_DETAILS = {
    "password": "Correct password",
    "temporaryAccessPass": "Temporary Access Pass validated",
}


def completed_details(
    completed: tuple[CompletedMethod, ...], log_details: dict[str, str]
) -> list[AuthenticationDetail]:
    details = []
    for index, method in enumerate(completed):
        spec = SPECS.get(method.method)
        details.append(
            AuthenticationDetail(
                spec.log_name if spec else method.method,
                succeeded=True,
                step_at=method.at,
                step_requirement="Primary authentication" if index == 0 else "MFA",
                result_detail=_RESULT_DETAILS.get(method.method, "MFA successfully completed"),
                method_detail=log_details.get(method.method, ""),
            )
        )
    return details


def _record(step: Step, state: machine.SignInState, effect: machine.LogAttempt) -> SignInRecord:
    account = step.account
    request = step.authorize_request
    ca_status, applied = state.ca_status, state.applied_policies
    final = step.decision if step.decided_on == state.completed else None
    if final is None and effect.error is SignInError.SUCCESS and applied and state.user_id is not None:
        # The policies were judged before the second factor; the log shows the verdict at the end.
        final = _decide_with(
            step.orm,
            step.tenant_id,
            state.user_id,
            account,
            PolicySet(
                conditional_access=access_policies.compiled(
                    step.services, step.tenant_id, account.policy_version if account else 0
                )
            ),
            app_id=app_id(request),
            meta=step.request_meta,
            now=step.now,
            interactive=True,
            completed=state.completed,
            authorize_request=request,
        )
        # The session controls of the verdict at the end (persistentBrowser) apply to the new session.
        step.decision, step.decided_on = final, state.completed
    if final is not None and effect.error is SignInError.SUCCESS:
        ca_status, applied = final.conditional_access_status, final.applied_policies
    ca_status, applied = machine.credit_password_change(state, ca_status, applied)
    details = completed_details(state.completed, step.log_details)
    details.extend(machine.password_change_details(state))
    if step.failed is not None:
        details.append(step.failed)
    return SignInRecord(
        id=new_id(),
        created_at=step.now,
        correlation_id=step.meta.correlation_id,
        error=effect.error,
        user_id=account.id if account else None,
        user_principal_name=account.user_principal_name if account else state.username,
        user_display_name=account.display_name if account else "",
        app_id=app_id(request),
        app_display_name=app_display_name(step),
        ip_address=step.meta.ip_address,
        client_app_used=CLIENT_APP_USED[step.request_meta.client_app_type.value],
        is_interactive=True,
        authentication_requirement=effect.authentication_requirement,
        authentication_details=tuple(details),
        device_detail=device_detail(
            step.meta.user_agent,
            logged_device(
                step.orm,
                step.tenant_id,
                step.meta,
                step.authorize_request,
                now=step.now,
                succeeded=effect.error is SignInError.SUCCESS,
            ),
        ),
        authentication_requirement_policies=state.requirement_policies,
        conditional_access_status=ca_status,
        applied_conditional_access_policies=applied,
    )


def is_device_code_flow(authorize_request: Mapping[str, Any] | None) -> bool:
    """Whether a sign-in approves a device code flow (its browser is not the device signing in)."""
    return bool((authorize_request or {}).get("device_authorization"))


def logged_device(
    db: Session,
    tenant_id: str,
    meta: RequestMeta,
    authorize_request: Mapping[str, Any] | None,
    *,
    now: datetime,
    succeeded: bool,
) -> Mapping[str, object] | None:
    """The registered device of a sign-in's log row (`deviceDetail`), the one its decision saw; a
    successful sign-in is noted on the device."""
    device = sign_in_device(db, tenant_id, meta.device_secret, device_code_flow=is_device_code_flow(authorize_request))
    if device is not None and succeeded:
        record_sign_in(db, tenant_id, str(device["id"]), now)
    return device


def failed_detail(method_kind: str, requirement: str, result_detail: str, now: datetime) -> AuthenticationDetail:
    spec = SPECS.get(method_kind)
    return AuthenticationDetail(
        spec.log_name if spec else method_kind,
        succeeded=False,
        step_at=now,
        step_requirement=requirement,
        result_detail=result_detail,
    )


def _after_success(db: Db, user_id: str, new_hash: str | None, now: datetime) -> None:
    db.execute(_MARK_SIGNED_IN, {"user_id": user_id, "now": now})
    if new_hash is not None:
        # Transparent rehash: the parameters changed since this hash was made (config or upgrade).
        db.execute(sa.update(User).where(User.id == user_id).values(password_hash=new_hash))


__all__ = ["Account", "SignInError", "Step", "app_display_name", "drive"]
