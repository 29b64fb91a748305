"""The `decide` step of the sign-in pipeline (DESIGN.md): a pure function of context, policies and time.

Today no policy source exists, so the decision is "allow with the first factor". Security defaults
and the Conditional Access engine return requirements and blocks through this same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from limen.domain import defaults
from limen.domain.access.context import EvaluationContext
from limen.domain.access.controls import Control
from limen.domain.access.engine import CompiledPolicySet, Evaluation, evaluate
from limen.domain.access.strengths import CompletedStep
from limen.domain.methods import SPECS
from limen.domain.session import CompletedMethod, is_multi_factor
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
    #: Conditional Access facts (gathered only when the tenant has policies).
    user_type: str = "member"
    platform: str | None = None
    country: str | None = None
    user_risk: str = "none"
    completed: tuple[CompletedMethod, ...] = ()
    authentication_flow: str | None = None
    user_action: str | None = None
    #: The registered device the browser proved it is (limen_device cookie), or None: unregistered.
    device: Mapping[str, object] | None = None
    #: The sign-in reuses authentication done earlier (single sign-on from a browser session, a refresh
    #: token): `completed` holds those earlier steps, and a stale sign-in frequency means signing in again.
    reusing_session: bool = False


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The tenant's compiled policies: security defaults now; Conditional Access policies later."""

    version: int = 0
    policies: tuple[object, ...] = ()
    security_defaults: bool = False
    registration_grace_days: int = defaults.DEFAULT_GRACE_DAYS
    #: The tenant's Conditional Access policies, compiled (enabled, report-only and disabled ones).
    conditional_access: CompiledPolicySet | None = None

    @property
    def has_conditional_access(self) -> bool:
        return self.conditional_access is not None and bool(self.conditional_access.policies)

    @property
    def needs_directory(self) -> bool:
        """Whether any policy can look at the user's groups or roles (so the caller must load them)."""
        return bool(self.policies) or self.security_defaults or self.has_conditional_access

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
    #: Sign-in log `conditionalAccessStatus` and `appliedConditionalAccessPolicies`.
    conditional_access_status: str = "notApplied"
    applied_policies: tuple[dict[str, Any], ...] = ()
    #: Method keys that can meet the required authentication strength (None: any second factor).
    mfa_methods: frozenset[str] | None = None
    #: Conditional Access `persistentBrowser` of the applicable enabled policies: "always", "never" or None.
    persistent_browser: str | None = None

    @property
    def is_blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK


#: The requirement to authenticate again (sign-in frequency), for sign-ins that reuse a session.
REAUTHENTICATE = "reauthenticate"
#: The requirement to change the password securely (grant `passwordChange`), after every other one.
PASSWORD_CHANGE = "passwordChange"  # noqa: S105 - a requirement's name, not a password

#: Entra's documented default: when no policy applies, the sign-in is allowed with what the user did.
NO_POLICY_DECISION = Decision(outcome=Outcome.ALLOW)


def decide(context: SignInContext, policies: PolicySet, now: datetime) -> Decision:
    """Decide what this sign-in needs. Pure: no I/O, the caller passes `now`.

    With security defaults on, they decide (limen.domain.defaults). Otherwise two per-user rules
    apply (docs/methods.md): a user who has registered a second factor does MFA at every
    interactive sign-in (like Entra's per-user MFA), and a user an admin marked with
    `limen user require-mfa-registration` must register one before the sign-in completes.

    The requirements are what `context.completed` does not meet yet: security defaults and per-user MFA
    are met by any multi-factor sign-in (a passkey, a Temporary Access Pass, password and a second
    factor), Conditional Access by what its grant controls and authentication strengths accept.
    """
    evaluation = (
        evaluate(policies.conditional_access, evaluation_context(context), now)
        if policies.conditional_access is not None and policies.has_conditional_access
        else None
    )
    if policies.security_defaults:
        # Enabled policies and security defaults exclude each other; report-only ones are still logged.
        decision = _security_defaults(context, policies, now)
    elif evaluation is not None:
        decision = _conditional_access(evaluation, context)
    else:
        decision = _per_user(context)
    if evaluation is None:
        return decision
    return replace(
        decision,
        conditional_access_status=evaluation.conditional_access_status,
        applied_policies=tuple(evaluation.applied_policies),
        persistent_browser=evaluation.persistent_browser if decision.reason == "conditionalAccess" else None,
    )


def _per_user(context: SignInContext) -> Decision:
    if context.registration_required and not context.registered_methods:
        return Decision(
            outcome=Outcome.ALLOW, requirements=frozenset({"registerSecurityInfo"}), reason="userMustRegister"
        )
    if context.registered_methods and not is_multi_factor(context.completed):
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
    if outcome.mfa and context.registered_methods and not is_multi_factor(context.completed):
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


#: Limen applications that belong to Graph's application keywords.
APP_KEYWORDS = {defaults.ADMIN_PORTALS_APP_ID: frozenset({"MicrosoftAdminPortals"})}


def evaluation_context(context: SignInContext) -> EvaluationContext:
    """What the Conditional Access engine sees of a sign-in."""
    registered_modes = frozenset(SPECS[k].mode for k in context.registered_methods if k in SPECS)
    return EvaluationContext(
        user_id=context.user_id,
        user_type=context.user_type,
        group_ids=frozenset(g.lower() for g in context.group_ids),
        role_ids=context.role_ids,
        app_id=context.app_id,
        app_keywords=APP_KEYWORDS.get(context.app_id, frozenset()),
        user_action=context.user_action,
        client_app_type=context.client_app_type.value,
        platform=context.platform,
        ip_address=context.ip_address,
        country=context.country,
        sign_in_risk=context.sign_in_risk,
        user_risk=context.user_risk,
        authentication_flow=context.authentication_flow,
        device=context.device,
        completed=tuple(CompletedStep(SPECS[m.method].mode, m.at) for m in context.completed if m.method in SPECS),
        is_multi_factor=is_multi_factor(context.completed),
        registered_modes=registered_modes | {"password"},
    )


#: Controls a sign-in can meet by asking the person for something; the others block (for now).
_ASKABLE = {
    Control.MFA,
    Control.AUTHENTICATION_STRENGTH,
    Control.REGISTER_SECURITY_INFO,
    Control.REAUTHENTICATE,
    Control.PASSWORD_CHANGE,
}


#: What a Conditional Access block decides (a block control, or a requirement this sign-in cannot meet).
BLOCKED_BY_POLICY = Decision(
    outcome=Outcome.BLOCK, reason="conditionalAccess", error=SignInError.BLOCKED_BY_CONDITIONAL_ACCESS
)


def _conditional_access(evaluation: Evaluation, context: SignInContext) -> Decision:
    if evaluation.blocked:
        return BLOCKED_BY_POLICY
    requirements: set[str] = set()
    mfa_methods: frozenset[str] | None = None
    for requirement in evaluation.requirements:
        if requirement.control not in _ASKABLE:
            # compliantDevice, terms of use...: nothing Limen can ask for in this sign-in yet.
            return BLOCKED_BY_POLICY
        if requirement.control is Control.REGISTER_SECURITY_INFO:
            requirements.add("registerSecurityInfo")
        elif requirement.control is Control.PASSWORD_CHANGE:
            if not context.is_interactive:
                # Only the sign-in pages, right after the person proved who they are, can change a
                # password; the password grant, HTTP Basic and refresh tokens fail closed.
                return BLOCKED_BY_POLICY
            # Single sign-on sends the person to sign in again, where the change is offered after MFA.
            requirements.add(REAUTHENTICATE if context.reusing_session else PASSWORD_CHANGE)
        elif requirement.control is Control.REAUTHENTICATE:
            if context.reusing_session:
                # Single sign-on or a refresh token past the sign-in frequency: the person signs in again.
                requirements.add(REAUTHENTICATE)
            elif not context.is_interactive:
                # The password grant, HTTP Basic: they cannot re-authenticate, so they fail like MFA would.
                requirements.add("mfa")
            # Otherwise an interactive sign-in has just authenticated: nothing more to ask.
        else:
            requirements.add("mfa")
            if requirement.control is Control.AUTHENTICATION_STRENGTH:
                modes = {part.strip() for combo in requirement.allowed_combinations for part in combo.split(",")}
                allowed = frozenset(key for key, spec in SPECS.items() if spec.second_factor and spec.mode in modes)
                mfa_methods = allowed if mfa_methods is None else mfa_methods & allowed
    if PASSWORD_CHANGE in requirements and "registerSecurityInfo" in requirements:
        # SPEC.md §4.4: self-remediation needs MFA registered beforehand. Someone at risk who has no
        # method is blocked: whoever holds the stolen password must not register theirs, then change it.
        return BLOCKED_BY_POLICY
    return Decision(
        outcome=Outcome.ALLOW,
        requirements=frozenset(requirements),
        reason="conditionalAccess",
        mfa_methods=mfa_methods,
        requirement_policies=(
            ({"requirementProvider": "multiConditionalAccess", "detail": "Conditional Access"},) if requirements else ()
        ),
    )
