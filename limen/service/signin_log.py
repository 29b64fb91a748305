"""Writing and reading the sign-in log. One row per attempt, successful or not; never any secret."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.access.decision import Decision
from limen.domain.ids import new_id
from limen.domain.session import CompletedMethod, is_multi_factor
from limen.domain.signin_log import AuthenticationDetail, SignInError, SignInRecord
from limen.domain.user_agent import device_detail
from limen.store.models import SignInRow

_INSERT = sa.insert(SignInRow.metadata.tables["sign_ins"])


def append(db: Session | sa.Connection, tenant_id: str, record: SignInRecord) -> None:
    # A plain, prebuilt INSERT: the log is append-only, so the ORM's unit of work would only add cost.
    db.execute(
        _INSERT,
        dict(
            id=record.id,
            tenant_id=tenant_id,
            created_at=record.created_at,
            correlation_id=record.correlation_id,
            user_id=record.user_id,
            user_principal_name=record.user_principal_name[:384],
            user_display_name=record.user_display_name[:256],
            app_id=record.app_id,
            app_display_name=record.app_display_name[:256],
            ip_address=record.ip_address[:64],
            client_app_used=record.client_app_used,
            is_interactive=record.is_interactive,
            error_code=int(record.error),
            failure_reason=record.failure_reason,
            additional_details=record.additional_details[:1024],
            authentication_requirement=record.authentication_requirement,
            authentication_details=[d.to_graph() for d in record.authentication_details],
            conditional_access_status=record.conditional_access_status,
            applied_conditional_access_policies=list(record.applied_conditional_access_policies),
            authentication_requirement_policies=list(record.authentication_requirement_policies),
            risk_level_during_sign_in=record.risk_level_during_sign_in,
            risk_level_aggregated=record.risk_level_aggregated,
            risk_state=record.risk_state,
            risk_detail=record.risk_detail,
            risk_event_types=list(record.risk_event_types),
            location=record.location,
            device_detail=record.device_detail,
        ),
    )


def log_previously_satisfied(
    db: Session,
    tenant_id: str,
    *,
    now: datetime,
    user_id: str | None,
    user_principal_name: str,
    user_display_name: str,
    app_id: str,
    app_display_name: str,
    methods: tuple[CompletedMethod, ...],
    ip_address: str,
    user_agent: str,
    client_app_used: str,
    interactive: bool,
    error: SignInError = SignInError.SUCCESS,
    decision: Decision | None = None,
    device: Mapping[str, object] | None = None,
) -> None:
    """Log a sign-in that rode on earlier authentication: single sign-on from the browser session
    (interactive) or a refresh-token redemption (non-interactive), as Entra logs them, with the
    `decision` made on it (limen.service.session_reuse).
    """
    detail = AuthenticationDetail(
        "Previously satisfied",
        succeeded=error is SignInError.SUCCESS,
        step_at=now,
        result_detail="First factor requirement satisfied by claim in the token"
        if error is SignInError.SUCCESS
        else "",
    )
    append(
        db,
        tenant_id,
        SignInRecord(
            id=new_id(),
            created_at=now,
            correlation_id=new_id(),
            error=error,
            user_id=user_id,
            user_principal_name=user_principal_name,
            user_display_name=user_display_name,
            app_id=app_id,
            app_display_name=app_display_name,
            ip_address=ip_address,
            client_app_used=client_app_used,
            is_interactive=interactive,
            authentication_requirement=(
                "multiFactorAuthentication" if is_multi_factor(methods) else "singleFactorAuthentication"
            ),
            authentication_details=(detail,),
            conditional_access_status=decision.conditional_access_status if decision else "notApplied",
            applied_conditional_access_policies=decision.applied_policies if decision else (),
            authentication_requirement_policies=decision.requirement_policies if decision else (),
            device_detail=device_detail(user_agent, device),
        ),
    )


def to_graph(row: SignInRow) -> dict[str, Any]:
    """Graph `signIn` JSON for a stored row."""
    return {
        "id": row.id,
        "createdDateTime": row.created_at.isoformat().replace("+00:00", "Z"),
        "correlationId": row.correlation_id,
        "userId": row.user_id,
        "userPrincipalName": row.user_principal_name,
        "userDisplayName": row.user_display_name,
        "appId": row.app_id,
        "appDisplayName": row.app_display_name,
        "ipAddress": row.ip_address,
        "clientAppUsed": row.client_app_used,
        "isInteractive": row.is_interactive,
        "status": {
            "errorCode": row.error_code,
            "failureReason": row.failure_reason or None,
            "additionalDetails": row.additional_details or None,
        },
        "authenticationRequirement": row.authentication_requirement,
        "authenticationDetails": row.authentication_details,
        "conditionalAccessStatus": row.conditional_access_status,
        "appliedConditionalAccessPolicies": row.applied_conditional_access_policies,
        "authenticationRequirementPolicies": row.authentication_requirement_policies,
        "riskLevelDuringSignIn": row.risk_level_during_sign_in,
        "riskLevelAggregated": row.risk_level_aggregated,
        "riskState": row.risk_state,
        "riskDetail": row.risk_detail,
        "riskEventTypes_v2": row.risk_event_types,
        "location": row.location,
        "deviceDetail": row.device_detail,
    }


def recent(
    db: Session,
    tenant_id: str,
    *,
    limit: int = 50,
    user_principal_name: str | None = None,
    failures_only: bool = False,
) -> list[SignInRow]:
    """Newest first, as the console and `limen logs` show them."""
    query = sa.select(SignInRow).where(SignInRow.tenant_id == tenant_id)
    if user_principal_name:
        query = query.where(sa.func.lower(SignInRow.user_principal_name) == user_principal_name.strip().lower())
    if failures_only:
        query = query.where(SignInRow.error_code != 0)
    query = query.order_by(SignInRow.created_at.desc(), SignInRow.id).limit(limit)
    return list(db.scalars(query))
