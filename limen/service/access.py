"""Deciding and logging sign-ins that cannot interact: the OAuth password grant (ROPC) and HTTP Basic
credentials (legacy authentication, forward-auth). They run the same `decide` as the interactive
sign-in, but nothing can be asked of the person, so any requirement left is a failure.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from limen.domain.access.decision import ClientAppType, Decision
from limen.domain.ids import new_id
from limen.domain.session import CompletedMethod, is_multi_factor
from limen.domain.signin import MFA, REGISTER_SECURITY_INFO
from limen.domain.signin_log import CLIENT_APP_USED, AuthenticationDetail, SignInError, SignInRecord
from limen.domain.user_agent import device_detail
from limen.service import signin_log
from limen.service.context import Services
from limen.service.signin import RequestMeta
from limen.service.signin_steps import completed_details, decide_for
from limen.store.models import User


def assess_credentials(
    db: Session,
    services: Services,
    tenant_id: str,
    user: User,
    *,
    app_id: str,
    meta: RequestMeta,
    completed: tuple[CompletedMethod, ...],
) -> tuple[SignInError, Decision]:
    """Decide a non-interactive sign-in whose first factor succeeded.

    Returns SUCCESS, or why it fails: blocked (530035 security defaults, 53003 Conditional Access), MFA
    required (50076: the client cannot do it), or registration required with no skip left (50079).
    """
    decision = decide_for(
        db, services, tenant_id, user, app_id=app_id, meta=meta, completed=completed, interactive=False
    )
    if decision.is_blocked:
        return decision.error or SignInError.BLOCKED_BY_CONDITIONAL_ACCESS, decision
    requirements = set(decision.requirements) - {"password"}
    if MFA in requirements and not is_multi_factor(completed):
        return SignInError.STRONG_AUTH_REQUIRED, decision
    if REGISTER_SECURITY_INFO in requirements and not decision.registration_skippable:
        return SignInError.STRONG_AUTH_ENROLLMENT_REQUIRED, decision
    return SignInError.SUCCESS, decision


def log_credentials_sign_in(
    db: Session,
    tenant_id: str,
    *,
    user: User | None,
    username: str,
    app_id: str,
    app_display_name: str,
    meta: RequestMeta,
    now: datetime,
    error: SignInError,
    completed: tuple[CompletedMethod, ...] = (),
    failed: AuthenticationDetail | None = None,
    decision: Decision | None = None,
    interactive: bool = False,
) -> None:
    """One sign-in log row for a credentials sign-in (success or failure)."""
    details = completed_details(completed, {})
    if failed is not None:
        details.append(failed)
    required = decision is not None and MFA in decision.requirements
    signin_log.append(
        db,
        tenant_id,
        SignInRecord(
            id=new_id(),
            created_at=now,
            correlation_id=meta.correlation_id,
            error=error,
            user_id=user.id if user else None,
            user_principal_name=user.user_principal_name if user else username,
            user_display_name=user.display_name if user else "",
            app_id=app_id,
            app_display_name=app_display_name,
            ip_address=meta.ip_address,
            client_app_used=CLIENT_APP_USED[meta.client_app_type.value],
            is_interactive=interactive,
            authentication_requirement=(
                "multiFactorAuthentication" if required or is_multi_factor(completed) else "singleFactorAuthentication"
            ),
            authentication_details=tuple(details),
            device_detail=device_detail(meta.user_agent),
            authentication_requirement_policies=decision.requirement_policies if decision else (),
            conditional_access_status=decision.conditional_access_status if decision else "notApplied",
            applied_conditional_access_policies=decision.applied_policies if decision else (),
        ),
    )


__all__ = ["ClientAppType", "assess_credentials", "log_credentials_sign_in"]
