"""The Conditional Access policies Limen recommends, as Graph `conditionalAccessPolicy` JSON builders.

Each template builds one policy in **report-only** (`enabledForReportingButNotEnforced`): Microsoft's
advice (SPEC.md §4.6, Entra's template how-tos) is to watch a new policy in the sign-in log before
turning it on. Every template puts the emergency-access accounts the caller names in `excludeUsers`.

The set follows Microsoft's "secure foundation" templates and the Zero Trust "starting point"
policies. Microsoft's own guidance for "Block clients that don't support multifactor authentication"
is "follow *Block legacy authentication*" (the same policy: `exchangeActiveSync` and `other`, block),
so that one is `block-legacy-authentication`, and the sixth template is Entra's "Block access for
unknown or unsupported device platform" (docs/conditional-access.md explains the choice).

Deliberate differences from Entra's templates, documented for admins:
- Policies for All users also exclude the Directory Synchronization Accounts role: SPEC §4.6 recommends
  excluding service accounts such as the Entra Connect sync account, which cannot do MFA.
- The unknown-platform template also excludes `linux`: Limen recognises Linux from the user agent and
  Linux desktops are common among the remote workers Limen serves; Microsoft says to exclude "any
  platforms that your organization knowingly uses".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from limen.domain.access import strengths
from limen.domain.defaults import admin_role_ids
from limen.domain.directory import DIRECTORY_SYNCHRONIZATION_ACCOUNTS, Plan
from limen.domain.errors import NotFound

REPORT_ONLY = "enabledForReportingButNotEnforced"
#: Built-in authentication strength "Multifactor authentication" (SPEC §2.5).
MFA_STRENGTH_ID = strengths.MFA
#: The platforms the unknown-platform template lets through; anything else (and an unrecognised user agent) is blocked.
SUPPORTED_PLATFORMS = ("android", "iOS", "windows", "macOS", "linux")

Builder = Callable[[Sequence[str]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Template:
    """A recommended policy: `build` returns a new Graph JSON document each call (callers may mutate it)."""

    key: str
    display_name: str
    description: str
    #: The lowest plan that can store the policy (risk conditions need `p2`, SPEC §10).
    plan: Plan
    builder: Builder

    def build(self, excluded_user_ids: Sequence[str]) -> dict[str, Any]:
        """The policy in report-only, with `excluded_user_ids` (emergency-access accounts) in `excludeUsers`."""
        if isinstance(excluded_user_ids, str):
            # A lone string is a sequence of characters: refuse it rather than exclude "a", "b", ...
            raise TypeError("excluded_user_ids must be a sequence of user ids, not a string")
        return self.builder(list(dict.fromkeys(excluded_user_ids)))


def _users(excluded: Sequence[str], *, include_all: bool = True, include_roles: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "includeUsers": ["All"] if include_all else [],
        "excludeUsers": list(excluded),
        "includeGroups": [],
        "excludeGroups": [],
        "includeRoles": list(include_roles),
        # Sync accounts cannot answer an MFA prompt; the admin template targets roles, so none to exclude.
        "excludeRoles": [DIRECTORY_SYNCHRONIZATION_ACCOUNTS] if include_all else [],
        "includeGuestsOrExternalUsers": None,
        "excludeGuestsOrExternalUsers": None,
    }


def _all_applications() -> dict[str, Any]:
    return {
        "includeApplications": ["All"],
        "excludeApplications": [],
        "includeUserActions": [],
        "includeAuthenticationContextClassReferences": [],
        "applicationFilter": None,
    }


def _policy(
    display_name: str,
    users: dict[str, Any],
    grant: dict[str, Any],
    *,
    client_app_types: Sequence[str] = ("all",),
    platforms: dict[str, Any] | None = None,
    sign_in_risk: Sequence[str] = (),
    user_risk: Sequence[str] = (),
    session: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A full policy in the shape Graph returns it (every condition present, unset ones null or empty)."""
    return {
        "displayName": display_name,
        "state": REPORT_ONLY,
        "conditions": {
            "userRiskLevels": list(user_risk),
            "signInRiskLevels": list(sign_in_risk),
            "clientAppTypes": list(client_app_types),
            "platforms": platforms,
            "locations": None,
            "devices": None,
            "clientApplications": None,
            "authenticationFlows": None,
            "applications": _all_applications(),
            "users": users,
        },
        "grantControls": grant,
        "sessionControls": session,
    }


def _grant(*controls: str, operator: str = "OR", strength_id: str | None = None) -> dict[str, Any]:
    return {
        "operator": operator,
        "builtInControls": list(controls),
        "customAuthenticationFactors": [],
        "termsOfUse": [],
        "authenticationStrength": {"id": strength_id} if strength_id else None,
    }


def _every_time() -> dict[str, Any]:
    """Sign-in frequency "every time": Microsoft's session control for both risk policies (SPEC §4.6)."""
    return {
        "disableResilienceDefaults": None,
        "applicationEnforcedRestrictions": None,
        "cloudAppSecurity": None,
        "persistentBrowser": None,
        "signInFrequency": {
            "value": None,
            "type": None,
            "authenticationType": "primaryAndSecondaryAuthentication",
            "frequencyInterval": "everyTime",
            "isEnabled": True,
        },
    }


def _mfa_for_admins(excluded: Sequence[str]) -> dict[str, Any]:
    # The roles security defaults treat as admin roles (SPEC §1.3), sorted so the JSON is stable.
    roles = sorted(admin_role_ids())
    return _policy(
        "Require multifactor authentication for admins",
        _users(excluded, include_all=False, include_roles=roles),
        _grant("mfa"),
    )


def _mfa_for_all_users(excluded: Sequence[str]) -> dict[str, Any]:
    return _policy("Require multifactor authentication for all users", _users(excluded), _grant("mfa"))


def _block_legacy_authentication(excluded: Sequence[str]) -> dict[str, Any]:
    return _policy(
        "Block legacy authentication",
        _users(excluded),
        _grant("block"),
        client_app_types=("exchangeActiveSync", "other"),
    )


def _mfa_for_risky_sign_ins(excluded: Sequence[str]) -> dict[str, Any]:
    # SPEC §4.6: the built-in "Multifactor authentication" strength rather than the `mfa` control, as in
    # Microsoft's current how-to; both are satisfied by the same methods (SPEC §2.5).
    return _policy(
        "Require multifactor authentication for risky sign-ins",
        _users(excluded),
        _grant(strength_id=MFA_STRENGTH_ID),
        sign_in_risk=("high", "medium"),
        session=_every_time(),
    )


def _block_unknown_platforms(excluded: Sequence[str]) -> dict[str, Any]:
    return _policy(
        "Block access for unknown or unsupported device platform",
        _users(excluded),
        _grant("block"),
        platforms={"includePlatforms": ["all"], "excludePlatforms": list(SUPPORTED_PLATFORMS)},
    )


def _password_change_for_risky_users(excluded: Sequence[str]) -> dict[str, Any]:
    # SPEC §2.5: passwordChange needs mfa with AND, userRiskLevels, All applications without exclusions,
    # and no other condition (clientAppTypes "all" is the unconfigured default, not a condition).
    return _policy(
        "Require password change for high-risk users",
        _users(excluded),
        _grant("mfa", "passwordChange", operator="AND"),
        user_risk=("high",),
        session=_every_time(),
    )


TEMPLATES: tuple[Template, ...] = (
    Template(
        "require-mfa-admins",
        "Require multifactor authentication for admins",
        "Holders of the administrator roles security defaults protect do MFA at every sign-in, to every application.",
        Plan.P1,
        _mfa_for_admins,
    ),
    Template(
        "require-mfa-all-users",
        "Require multifactor authentication for all users",
        "Every user does MFA at every sign-in, to every application.",
        Plan.P1,
        _mfa_for_all_users,
    ),
    Template(
        "block-legacy-authentication",
        "Block legacy authentication",
        "Blocks Exchange ActiveSync and other clients that cannot do modern authentication (and so cannot do MFA). "
        "This is also Microsoft's 'Block clients that don't support multifactor authentication'.",
        Plan.P1,
        _block_legacy_authentication,
    ),
    Template(
        "require-mfa-risky-sign-ins",
        "Require multifactor authentication for risky sign-ins",
        "Sign-ins with medium or high risk need MFA (the built-in Multifactor authentication strength), every time.",
        Plan.P2,
        _mfa_for_risky_sign_ins,
    ),
    Template(
        "block-unknown-platforms",
        "Block access for unknown or unsupported device platform",
        "Blocks sign-ins from device platforms other than Android, iOS, Windows, macOS and Linux, "
        "including user agents Limen cannot recognise.",
        Plan.P1,
        _block_unknown_platforms,
    ),
    Template(
        "require-password-change-high-risk-users",
        "Require password change for high-risk users",
        "Users at high risk do MFA and then change their password securely, which remediates their risk.",
        Plan.P2,
        _password_change_for_risky_users,
    ),
)

_BY_KEY = {template.key: template for template in TEMPLATES}


def template_keys() -> tuple[str, ...]:
    return tuple(_BY_KEY)


def find_template(key: str) -> Template:
    """The template with `key` (case-insensitive), or NotFound naming the keys that exist."""
    template = _BY_KEY.get(key.strip().lower())
    if template is None:
        raise NotFound(f"There is no policy template {key!r}. Templates: {', '.join(_BY_KEY)}.")
    return template
