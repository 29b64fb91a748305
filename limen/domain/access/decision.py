"""The `decide` step of the sign-in pipeline (DESIGN.md): a pure function of context, policies and time.

Today no policy source exists, so the decision is "allow with the first factor". Security defaults
and the Conditional Access engine return requirements and blocks through this same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The tenant's compiled policies. Empty until security defaults and Conditional Access exist."""

    version: int = 0
    policies: tuple[object, ...] = ()

    @property
    def needs_directory(self) -> bool:
        """Whether any policy can look at the user's groups or roles (so the caller must load them)."""
        return bool(self.policies)


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
    #: When registration is required: whether the person may still skip it this time.
    registration_skippable: bool = False

    @property
    def is_blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK


#: Entra's documented default: when no policy applies, the sign-in is allowed with what the user did.
NO_POLICY_DECISION = Decision(outcome=Outcome.ALLOW)


def decide(context: SignInContext, policies: PolicySet, now: datetime) -> Decision:
    """Decide what this sign-in needs. Pure: no I/O, the caller passes `now`.

    Until security defaults and Conditional Access compile into PolicySet, two per-user rules
    apply (docs/methods.md): a user who has registered a second factor does MFA at every
    interactive sign-in (like Entra's per-user MFA), and a user an admin marked with
    `limen user require-mfa-registration` must register one before the sign-in completes.
    """
    del policies, now
    if context.registration_required and not context.registered_methods:
        return Decision(
            outcome=Outcome.ALLOW, requirements=frozenset({"registerSecurityInfo"}), reason="userMustRegister"
        )
    if context.registered_methods and context.is_interactive:
        return Decision(outcome=Outcome.ALLOW, requirements=frozenset({"mfa"}), reason="perUserMfa")
    return NO_POLICY_DECISION
