"""Sign-in log records in Microsoft Graph's `signIn` shape (SPEC.md §8.1) and the AADSTS codes Limen uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any


class SignInError(IntEnum):
    """AADSTS numbers (SPEC.md §8.2) so admins can look errors up in Microsoft's reference."""

    SUCCESS = 0
    USER_ACCOUNT_NOT_FOUND = 50034
    IDS_LOCKED = 50053
    USER_DISABLED = 50057
    SESSION_NOT_SUFFICIENT = 50058
    INVALID_USERNAME_OR_PASSWORD = 50126
    FRESH_TOKEN_NEEDED = 50173
    BLOCKED_BY_CONDITIONAL_ACCESS = 53003
    BLOCKED_BY_SECURITY_DEFAULTS = 530035
    STRONG_AUTH_FAILED = 500121
    STRONG_AUTH_REQUIRED = 50076
    STRONG_AUTH_ENROLLMENT_REQUIRED = 50079
    BAD_TOKEN_DUE_TO_SIGN_IN_FREQUENCY = 70043


FAILURE_REASONS: dict[SignInError, str] = {
    SignInError.SUCCESS: "",
    SignInError.USER_ACCOUNT_NOT_FOUND: (
        "The user account does not exist in the directory. To sign into this application, "
        "the account must be added to the directory."
    ),
    SignInError.IDS_LOCKED: "The account is locked: too many sign-in attempts with an incorrect user ID or password.",
    SignInError.USER_DISABLED: "The account is disabled.",
    SignInError.SESSION_NOT_SUFFICIENT: "Session information is not sufficient for single-sign-on.",
    SignInError.INVALID_USERNAME_OR_PASSWORD: "Error validating credentials due to invalid username or password.",
    SignInError.FRESH_TOKEN_NEEDED: (
        "The provided grant has been revoked: a refresh token was presented again after it had been used."
    ),
    SignInError.BLOCKED_BY_CONDITIONAL_ACCESS: "Access has been blocked by Conditional Access policies.",
    SignInError.BLOCKED_BY_SECURITY_DEFAULTS: "Access has been blocked by security defaults.",
    SignInError.STRONG_AUTH_FAILED: "Authentication failed during strong authentication request.",
    SignInError.STRONG_AUTH_REQUIRED: (
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        "you must use multi-factor authentication to access this resource."
    ),
    SignInError.STRONG_AUTH_ENROLLMENT_REQUIRED: (
        "The user is required to use multi-factor authentication and must register security info first."
    ),
    SignInError.BAD_TOKEN_DUE_TO_SIGN_IN_FREQUENCY: (
        "The session or refresh token has expired due to sign-in frequency checks by Conditional Access."
    ),
}

#: Graph's `clientAppUsed` strings (SPEC.md §8.1) for each Conditional Access client app type.
CLIENT_APP_USED = {
    "browser": "Browser",
    "mobileAppsAndDesktopClients": "Mobile Apps and Desktop clients",
    "exchangeActiveSync": "Exchange ActiveSync",
    "other": "Other clients",
}


@dataclass(frozen=True, slots=True)
class AuthenticationDetail:
    """One step of the sign-in, as Graph's `authenticationDetail`."""

    authentication_method: str
    succeeded: bool
    step_at: datetime
    step_requirement: str = "Primary authentication"
    result_detail: str = ""
    method_detail: str = ""

    def to_graph(self) -> dict[str, Any]:
        return {
            "authenticationMethod": self.authentication_method,
            "authenticationMethodDetail": self.method_detail or None,
            "authenticationStepDateTime": self.step_at.isoformat().replace("+00:00", "Z"),
            "authenticationStepRequirement": self.step_requirement,
            "authenticationStepResultDetail": self.result_detail,
            "succeeded": self.succeeded,
        }


@dataclass(frozen=True, slots=True)
class SignInRecord:
    """Everything one sign-in attempt leaves in the log (stored by limen.service.signin_log, which renders Graph's `signIn`)."""

    id: str
    created_at: datetime
    correlation_id: str
    error: SignInError
    user_id: str | None
    user_principal_name: str
    user_display_name: str
    app_id: str
    app_display_name: str
    ip_address: str
    client_app_used: str
    is_interactive: bool
    authentication_requirement: str = "singleFactorAuthentication"
    authentication_details: tuple[AuthenticationDetail, ...] = ()
    conditional_access_status: str = "notApplied"
    applied_conditional_access_policies: tuple[dict[str, Any], ...] = ()
    authentication_requirement_policies: tuple[dict[str, Any], ...] = ()
    risk_level_during_sign_in: str = "none"
    risk_level_aggregated: str = "none"
    risk_state: str = "none"
    risk_detail: str = "none"
    risk_event_types: tuple[str, ...] = ()
    location: dict[str, Any] = field(default_factory=dict)
    device_detail: dict[str, Any] = field(default_factory=dict)
    additional_details: str = ""

    @property
    def failure_reason(self) -> str:
        return FAILURE_REASONS.get(self.error, "")
