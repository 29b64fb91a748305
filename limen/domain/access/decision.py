"""The `decide` step of the sign-in pipeline (DESIGN.md): a pure function of context, policies and time.

Today no policy source exists, so the decision is "allow with the first factor". Security defaults
and the Conditional Access engine return requirements and blocks through this same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from limen.domain import defaults
from limen.domain.signin_log import SignInError


class ClientAppType(StrEnum):
    """Conditional Access `clientAppTypes` vocabulary (SPEC.md §3.10)."""

    BROWSER = "browser"
    MOBILE_APPS_AND_DESKTOP_CLIENTS = "mobileAppsAndDesktopClients"
    EXCHANGE_ACTIVE_SYNC = "exchangeActiveSync"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SignInContext:
    """Everything `decide` may look at; gathered by the service layer after the first factor.

    `group_ids` and `role_ids` are filled only when the policy set `needs_directory`; a policy set
    that does not look at them gets empty sets.
    """

    tenant_id: str
    user_id: str
    group_ids: frozenset[str]
    role_ids: frozenset[str]
    app_id: str
    client_app_type: ClientAppType
    ip_address: str
    is_interactive: bool = True
    #: Keys of the second-factor methods the user has registered (e.g. "softwareOath").
    registered_methods: frozenset[str] = frozenset()
    #: An admin asked the user to register a method at their next sign-in.
    registration_required: bool = False
    #: Security defaults' facts: the user's registration window, and whether the device or network is familiar.
    registration_started_at: datetime | None = None
    familiar: bool = True
    sign_in_risk: str = "none"
    changing_security_info: bool = False


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The tenant's compiled policies: security defaults now; Conditional Access policies later."""

    version: int = 0
    policies: tuple[object, ...] = ()
    security_defaults: bool = False
    registration_grace_days: int = defaults.DEFAULT_GRACE_DAYS

    @property
    def needs_directory(self) -> bool:
        """Whether any policy can look at the user's groups or roles (so the caller must load them)."""
        return bool(self.policies) or self.security_defaults

    @property
    def needs_familiarity(self) -> bool:
        """Whether `decide` looks at the device and network history (so the caller must load it)."""
        return self.security_defaults


class Outcome(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    #: Controls the user must still satisfy (e.g. "mfa"); empty means the first factor was enough.
    requirements: frozenset[str] = field(default_factory=frozenset)
    #: Which rule produced the decision, for the sign-in log.
    reason: str = "noPolicyApplied"
    #: When registration is required: whether the person may still skip it this time, and the days left.
    registration_skippable: bool = False
    registration_days_left: int | None = None
    #: Method kinds that count as registering (security defaults: an authenticator app).
    registration_methods: frozenset[str] | None = None
    #: This sign-in starts the user's registration window (the caller stores when).
    starts_registration_window: bool = False
    #: The sign-in log error of a block.
    error: SignInError | None = None
    #: Graph's `authenticationRequirementPolicies`: which rule asked for what.
    requirement_policies: tuple[dict[str, Any], ...] = ()

    @property
    def is_blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK


#: Entra's documented default: when no policy applies, the sign-in is allowed with what the user did.
NO_POLICY_DECISION = Decision(outcome=Outcome.ALLOW)


def decide(context: SignInContext, policies: PolicySet, now: datetime) -> Decision:
    """Decide what this sign-in needs. Pure: no I/O, the caller passes `now`.

    With security defaults on, they decide (limen.domain.defaults). Otherwise two per-user rules
    apply (docs/methods.md): a user who has registered a second factor does MFA at every
    interactive sign-in (like Entra's per-user MFA), and a user an admin marked with
    `limen user require-mfa-registration` must register one before the sign-in completes.
    """
    if policies.security_defaults:
        return _security_defaults(context, policies, now)
    if context.registration_required and not context.registered_methods:
        return Decision(
            outcome=Outcome.ALLOW, requirements=frozenset({"registerSecurityInfo"}), reason="userMustRegister"
        )
    if context.registered_methods:
        # Also for sign-ins that cannot interact (HTTP Basic, the password grant): they fail with 50076
        # rather than get past a second factor the user has.
        return Decision(outcome=Outcome.ALLOW, requirements=frozenset({"mfa"}), reason="perUserMfa")
    return NO_POLICY_DECISION


def _security_defaults(context: SignInContext, policies: PolicySet, now: datetime) -> Decision:
    outcome = defaults.evaluate(
        defaults.DefaultsContext(
            role_ids=context.role_ids,
            registered_methods=context.registered_methods,
            window_started_at=context.registration_started_at,
            legacy_client=context.client_app_type in LEGACY_CLIENT_APP_TYPES,
            app_id=context.app_id,
            familiar=context.familiar,
            sign_in_risk=context.sign_in_risk,
            changing_security_info=context.changing_security_info,
            grace_days=policies.registration_grace_days,
        ),
        now,
    )
    if outcome.blocked:
        return Decision(
            outcome=Outcome.BLOCK,
            reason="securityDefaults",
            error=SignInError.BLOCKED_BY_SECURITY_DEFAULTS,
            requirement_policies=({"requirementProvider": "securityDefaults", "detail": "Legacy authentication"},),
        )
    requirements: set[str] = set()
    policies_applied: list[dict[str, Any]] = []
    must_register = outcome.must_register or (context.registration_required and not context.registered_methods)
    if must_register:
        requirements.add("registerSecurityInfo")
        policies_applied.append(
            {"requirementProvider": "mfaRegistrationRequiredBySecurityDefaults", "detail": "Register for MFA"}
        )
    if outcome.mfa and context.registered_methods:
        requirements.add("mfa")
        detail = ", ".join(trigger.value for trigger in outcome.triggers)
        policies_applied.append({"requirementProvider": "securityDefaults", "detail": f"MFA ({detail})"})
    return Decision(
        outcome=Outcome.ALLOW,
        requirements=frozenset(requirements),
        reason="securityDefaults",
        # An admin's explicit requirement is not skippable; the security-defaults window is.
        registration_skippable=outcome.skip_allowed and not context.registration_required,
        registration_days_left=outcome.days_left,
        registration_methods=defaults.REQUIRED_METHODS if outcome.must_register else None,
        starts_registration_window=outcome.starts_window,
        requirement_policies=tuple(policies_applied),
    )


#: Legacy authentication: clients that cannot do modern authentication (SPEC.md §1.5, §3.10).
LEGACY_CLIENT_APP_TYPES = frozenset({ClientAppType.EXCHANGE_ACTIVE_SYNC, ClientAppType.OTHER})
