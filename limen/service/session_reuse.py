"""Sign-ins that reuse earlier authentication: single sign-on from a browser session (OIDC /authorize,
forward-auth, the device code confirmation page) and refresh-token redemptions.

Entra evaluates Conditional Access on each of them, not only on the sign-in that created the session:
a policy added since, a new location, an application that needs more than the session has, or a
sign-in frequency that has run out all count. Each reuse is decided exactly as an interactive sign-in
to that application would be (`decide_for` with the session's completed methods), and the verdict
says what the browser must do next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from limen.domain.access.decision import REAUTHENTICATE, Decision
from limen.domain.session import CompletedMethod
from limen.domain.signin import MFA, REGISTER_SECURITY_INFO
from limen.domain.signin_log import CLIENT_APP_USED, SignInError
from limen.service import signin_log
from limen.service.context import Services
from limen.service.sessions import ActiveSession
from limen.service.signin import PASSWORD_METHOD, RequestMeta
from limen.service.signin_steps import decide_for, logged_device
from limen.store.models import User


class Verdict(StrEnum):
    ALLOWED = "allowed"
    #: The session is not enough but the person can add to it without signing in again: MFA (or a
    #: stronger method), registering security info. The sign-in pages continue from the session.
    STEP_UP = "stepUp"
    #: Sign in again from the start: no usable session, or its authentication is older than a policy's
    #: sign-in frequency, or it needs something only a new sign-in gives.
    SIGN_IN = "signIn"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Reuse:
    verdict: Verdict
    decision: Decision


#: Requirements the sign-in pages can meet for a person who is already signed in.
_STEP_UP_REQUIREMENTS = frozenset({MFA, REGISTER_SECURITY_INFO, PASSWORD_METHOD})


def requirements_met(decision: Decision) -> bool:
    """Whether a session meets a decision made on its own methods. `decide` lists only what they do not
    meet ("mfa" means no second factor yet, or one an authentication strength does not accept), so only
    the password (done) and a registration the person may still skip let it through. A requirement this
    check does not know (a future control) counts as unmet: fail closed."""
    return all(
        requirement == PASSWORD_METHOD or (requirement == REGISTER_SECURITY_INFO and decision.registration_skippable)
        for requirement in decision.requirements
    )


def assess(
    db: Session,
    services: Services,
    tenant_id: str,
    *,
    app_id: str,
    user: User,
    methods: tuple[CompletedMethod, ...],
    meta: RequestMeta,
    interactive: bool = True,
    authorize_request: dict[str, Any] | None = None,
) -> Reuse:
    """Decide a sign-in to `app_id` that rides on `methods`, completed earlier."""
    decision = decide_for(
        db,
        services,
        tenant_id,
        user,
        app_id=app_id,
        meta=meta,
        completed=methods,
        interactive=interactive,
        reusing_session=True,
        authorize_request=authorize_request,
    )
    if decision.is_blocked:
        return Reuse(Verdict.BLOCKED, decision)
    if REAUTHENTICATE in decision.requirements:
        return Reuse(Verdict.SIGN_IN, decision)
    if requirements_met(decision):
        return Reuse(Verdict.ALLOWED, decision)
    if interactive and decision.requirements <= _STEP_UP_REQUIREMENTS:
        return Reuse(Verdict.STEP_UP, decision)
    return Reuse(Verdict.SIGN_IN, decision)


def assess_session(
    db: Session,
    services: Services,
    tenant_id: str,
    session: ActiveSession,
    *,
    app_id: str,
    app_display_name: str,
    meta: RequestMeta,
    authorize_request: dict[str, Any],
    logged: Callable[[Verdict], bool],
) -> Reuse:
    """Decide single sign-on from a browser session to `app_id`, and log it when `logged(verdict)`
    (a step-up or a new sign-in logs its own row when it ends)."""
    reuse = assess(
        db,
        services,
        tenant_id,
        app_id=app_id,
        user=session.user,
        methods=session.methods,
        meta=meta,
        authorize_request=authorize_request,
    )
    if logged(reuse.verdict):
        _log(
            db,
            tenant_id,
            now=services.clock.now(),
            user=session.user,
            app_id=app_id,
            app_display_name=app_display_name,
            methods=session.methods,
            meta=meta,
            authorize_request=authorize_request,
            reuse=reuse,
        )
    return reuse


def error_of(reuse: Reuse) -> SignInError:
    """The sign-in log error of a reuse that did not get through on its own."""
    if reuse.verdict is Verdict.ALLOWED:
        return SignInError.SUCCESS
    if reuse.verdict is Verdict.BLOCKED:
        return reuse.decision.error or SignInError.BLOCKED_BY_CONDITIONAL_ACCESS
    if REAUTHENTICATE in reuse.decision.requirements:
        return SignInError.BAD_TOKEN_DUE_TO_SIGN_IN_FREQUENCY
    if REGISTER_SECURITY_INFO in reuse.decision.requirements:
        return SignInError.STRONG_AUTH_ENROLLMENT_REQUIRED
    if MFA in reuse.decision.requirements:
        return SignInError.STRONG_AUTH_REQUIRED
    return SignInError.SESSION_NOT_SUFFICIENT


def _log(
    db: Session,
    tenant_id: str,
    *,
    now: datetime,
    user: User,
    app_id: str,
    app_display_name: str,
    methods: tuple[CompletedMethod, ...],
    meta: RequestMeta,
    authorize_request: dict[str, Any],
    reuse: Reuse,
) -> None:
    """The log row of single sign-on (an interactive sign-in to the app), with the decision made on
    it and the registered device it came from (noted on the device when the sign-in got through)."""
    error = error_of(reuse)
    device = logged_device(db, tenant_id, meta, authorize_request, now=now, succeeded=error is SignInError.SUCCESS)
    signin_log.log_previously_satisfied(
        db,
        tenant_id,
        now=now,
        user_id=user.id,
        user_principal_name=user.user_principal_name,
        user_display_name=user.display_name,
        app_id=app_id,
        app_display_name=app_display_name,
        methods=methods,
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
        client_app_used=CLIENT_APP_USED[meta.client_app_type.value],
        interactive=True,
        error=error,
        decision=reuse.decision,
        device=device,
    )
