"""Lint Conditional Access policies: the mistakes that lock people out or make a policy mean nothing.

`lint` reads stored Graph `conditionalAccessPolicy` JSON (it never raises on odd shapes: a stored
document may predate a validation rule) and reports four kinds of finding:

- **could lock everyone out**: a policy for All users that blocks or requires a control, with no
  emergency-access account (a user or group that exists) excluded. Microsoft's first advice for every
  policy (SPEC.md §4.6); Entra's portal warns the same way (SPEC §3.4).
- **blocks the admin portal for the acting admin**: the admin running lint (or saving the policy)
  would be blocked from `MicrosoftAdminPortals`, i.e. Limen's own admin console and API (SPEC §10).
- **contradicts itself**: the same object included and excluded (exclusion wins, SPEC §3.4), `None`
  targets, block with other controls, the passwordChange rules of SPEC §2.5, no controls at all.
- **references unknown objects**: user, group, role, application, named-location or authentication
  strength ids the directory does not have. Such references are kept and match nothing (issue 5), so a
  typo silently narrows a policy or, in an exclusion, protects nobody.

Severity: "error" for what would lock people out of an enabled policy or what Graph itself refuses;
"warning" for the rest, including lock-outs of report-only policies (they cannot lock anyone out until
someone turns them on, and the templates start that way).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from typing import Any

from limen.domain.access import strengths
from limen.domain.defaults import ADMIN_PORTALS_APP_ID
from limen.domain.directory import role_catalogue

ENABLED = "enabled"
REPORT_ONLY = "enabledForReportingButNotEnforced"

#: The three built-in authentication strengths (SPEC §2.5, §3.11).
BUILT_IN_STRENGTH_IDS = frozenset({strengths.MFA, strengths.PASSWORDLESS_MFA, strengths.PHISHING_RESISTANT_MFA})

# Keywords are values Graph defines, not references; compared case-insensitively because hand-written
# baselines spell them "all" as often as "All".
_USER_KEYWORDS = frozenset({"all", "none", "guestsorexternalusers"})
_APP_KEYWORDS = frozenset({"all", "none", "office365", "microsoftadminportals", "allagentidresources"})
_LOCATION_KEYWORDS = frozenset({"all", "alltrusted"})
_ADMIN_PORTAL_VALUES = frozenset({"microsoftadminportals", ADMIN_PORTALS_APP_ID})
_LEGACY_CLIENT_TYPES = frozenset({"exchangeactivesync", "easunsupported", "eassupported", "other"})
# Client types that reach the admin console (a web application) or the admin API (a native client).
_ADMIN_CLIENT_TYPES = frozenset({"all", "browser", "mobileappsanddesktopclients", "modern"})


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    policy_id: str | None
    display_name: str
    severity: Severity
    #: Stable, camelCase, for scripts and the API (e.g. "couldLockEveryoneOut").
    code: str
    message: str
    #: Where in the policy JSON, e.g. "conditions.users.excludeUsers[1]".
    path: str

    def to_json(self) -> dict[str, str | None]:
        return {
            "policyId": self.policy_id,
            "displayName": self.display_name,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "path": self.path,
        }


def _lower(values: frozenset[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(v.lower() for v in values)


@dataclass(frozen=True, slots=True)
class DirectoryFacts:
    """What exists in the tenant. A set left as None is not checked (e.g. no named-location store yet).

    Ids compare case-insensitively (GUIDs are written either way in exported policies).
    """

    user_ids: frozenset[str] | None = None
    group_ids: frozenset[str] | None = None
    application_ids: frozenset[str] | None = None
    named_location_ids: frozenset[str] | None = None
    #: Role template ids: Limen's catalogue of Entra built-in roles (SPEC §10).
    role_ids: frozenset[str] | None = field(default_factory=lambda: frozenset(role_catalogue()))
    authentication_strength_ids: frozenset[str] | None = BUILT_IN_STRENGTH_IDS
    #: Transitive group ids and role ids per user; only the acting admin's are needed.
    groups_of: Mapping[str, frozenset[str]] = field(default_factory=dict)
    roles_of: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen, so normalise through object.__setattr__ once here instead of at every lookup.
        for name in ("user_ids", "group_ids", "application_ids", "named_location_ids", "role_ids"):
            object.__setattr__(self, name, _lower(getattr(self, name)))
        object.__setattr__(self, "authentication_strength_ids", _lower(self.authentication_strength_ids))
        object.__setattr__(self, "groups_of", {k.lower(): _lower(v) or frozenset() for k, v in self.groups_of.items()})
        object.__setattr__(self, "roles_of", {k.lower(): _lower(v) or frozenset() for k, v in self.roles_of.items()})


def lint(
    policies: Sequence[Mapping[str, Any]], *, directory: DirectoryFacts, acting_user_id: str | None
) -> list[Finding]:
    """Findings for every policy, in policy order; an empty list means nothing to report."""
    return [finding for policy in policies for finding in lint_policy(policy, directory, acting_user_id)]


def lint_policy(policy: Mapping[str, Any], directory: DirectoryFacts, acting_user_id: str | None) -> list[Finding]:
    """Findings for one policy (what the API returns as warnings when a policy is created or changed)."""
    view = _Policy(policy)
    raw = chain(
        _lock_out(view, directory),
        _admin_portal(view, directory, acting_user_id),
        _contradictions(view),
        _unknown_references(view, directory),
    )
    return [Finding(view.id, view.display_name, *item) for item in raw]


_Raw = tuple[Severity, str, str, str]


class _Policy:
    """Tolerant accessors over one policy's JSON: wrong types read as absent, never raise."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        raw_id = document.get("id")
        self.id = raw_id if isinstance(raw_id, str) else None
        name = document.get("displayName")
        self.display_name = name if isinstance(name, str) and name else "(unnamed policy)"
        state = document.get("state")
        self.state = state if isinstance(state, str) else ""
        self.conditions = _mapping(document.get("conditions"))
        users = self.conditions.get("users")
        self.users = users if isinstance(users, Mapping) else None
        self.applications = _mapping(self.conditions.get("applications"))
        self.grant = _mapping(document.get("grantControls"))
        self.session = _mapping(document.get("sessionControls"))

    @property
    def active(self) -> bool:
        return self.state in (ENABLED, REPORT_ONLY)

    def users_list(self, key: str) -> list[str]:
        return _strings(self.users.get(key)) if self.users is not None else []

    def app_list(self, key: str) -> list[str]:
        return _strings(self.applications.get(key))

    def condition_list(self, key: str) -> list[str]:
        return _strings(self.conditions.get(key))

    @property
    def builtins(self) -> list[str]:
        return _strings(self.grant.get("builtInControls"))

    @property
    def strength_id(self) -> str | None:
        strength = self.grant.get("authenticationStrength")
        value = strength.get("id") if isinstance(strength, Mapping) else None
        return value if isinstance(value, str) and value else None

    @property
    def blocks(self) -> bool:
        return "block" in _folded(self.builtins)

    @property
    def has_grant(self) -> bool:
        return bool(
            self.builtins
            or self.strength_id
            or _strings(self.grant.get("termsOfUse"))
            or _strings(self.grant.get("customAuthenticationFactors"))
        )

    @property
    def has_session(self) -> bool:
        for value in self.session.values():
            if isinstance(value, Mapping):
                # Most session controls carry isEnabled; continuousAccessEvaluation carries a mode instead.
                if value.get("isEnabled", True):
                    return True
            elif value is True or (value is not None and not isinstance(value, bool)):
                return True
        return False

    @property
    def includes_all_users(self) -> bool:
        return "all" in _folded(self.users_list("includeUsers"))

    @property
    def targets_all_or_admin_apps(self) -> bool:
        included = _folded(self.app_list("includeApplications"))
        return "all" in included or bool(included & _ADMIN_PORTAL_VALUES)

    def narrowing_conditions(self) -> list[str]:
        """Conditions beyond users, applications and client types that limit when the policy applies."""
        narrowing = []
        for key in ("signInRiskLevels", "userRiskLevels", "servicePrincipalRiskLevels"):
            if self.condition_list(key):
                narrowing.append(key)
        for key in ("platforms", "locations", "devices", "authenticationFlows", "insiderRiskLevels"):
            if self.conditions.get(key):
                narrowing.append(key)
        return narrowing


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)]


def _folded(values: Sequence[str]) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


def _known_exclusions(view: _Policy, directory: DirectoryFacts) -> tuple[list[str], list[str]]:
    """(excluded users and groups that exist, those that do not); keywords are neither."""
    known: list[str] = []
    unknown: list[str] = []
    for key, facts in (("excludeUsers", directory.user_ids), ("excludeGroups", directory.group_ids)):
        for value in view.users_list(key):
            if value.lower() in _USER_KEYWORDS:
                continue
            # Without facts (None) an exclusion is taken at its word.
            (known if facts is None or value.lower() in facts else unknown).append(value)
    return known, unknown


def _lock_out(view: _Policy, directory: DirectoryFacts) -> Iterator[_Raw]:
    if not view.active or view.users is None or not view.includes_all_users:
        return
    if not (view.blocks or view.has_grant):
        return
    known, unknown = _known_exclusions(view, directory)
    if known:
        return
    # Only an enabled policy for every application (or the admin portal) can lock everyone out today.
    severe = view.state == ENABLED and view.targets_all_or_admin_apps
    effect = "blocks all users" if view.blocks else "asks all users for grant controls"
    if unknown:
        why = f"its excluded ids ({', '.join(unknown)}) are not users or groups in this directory, so nobody is exempt"
    else:
        why = "no user or group is excluded"
    state_note = "" if view.state == ENABLED else " when it is turned on"
    yield (
        Severity.ERROR if severe else Severity.WARNING,
        "couldLockEveryoneOut",
        f"The policy {effect} and {why}: it could lock everyone out{state_note}. "
        "Exclude an emergency-access account (conditions.users.excludeUsers).",
        "conditions.users.excludeUsers",
    )


def _admin_in_scope(view: _Policy, directory: DirectoryFacts, user_id: str) -> bool:
    uid = user_id.lower()
    groups = directory.groups_of.get(uid, frozenset())
    roles = directory.roles_of.get(uid, frozenset())
    if uid in _folded(view.users_list("excludeUsers")):
        return False
    if groups & _folded(view.users_list("excludeGroups")) or roles & _folded(view.users_list("excludeRoles")):
        return False
    # GuestsOrExternalUsers is not taken to include the admin: an admin is a member of the tenant.
    return bool(
        view.includes_all_users
        or uid in _folded(view.users_list("includeUsers"))
        or groups & _folded(view.users_list("includeGroups"))
        or roles & _folded(view.users_list("includeRoles"))
    )


def _admin_portal(view: _Policy, directory: DirectoryFacts, acting_user_id: str | None) -> Iterator[_Raw]:
    if acting_user_id is None or not view.active or view.users is None or not view.blocks:
        return
    if not view.targets_all_or_admin_apps or _folded(view.app_list("excludeApplications")) & _ADMIN_PORTAL_VALUES:
        return
    client_types = _folded(view.condition_list("clientAppTypes"))
    if client_types and not client_types & _ADMIN_CLIENT_TYPES:
        return  # legacy clients only: the admin console and API are not reached that way
    if not _admin_in_scope(view, directory, acting_user_id):
        return
    narrowing = view.narrowing_conditions()
    if narrowing:
        severity, when = Severity.WARNING, f" when its conditions ({', '.join(narrowing)}) match"
    else:
        severity, when = (Severity.ERROR if view.state == ENABLED else Severity.WARNING), ""
    state_note = "" if view.state == ENABLED else " once it is turned on"
    yield (
        severity,
        "blocksAdminPortalForActingAdmin",
        f"The policy blocks you from the admin portal (MicrosoftAdminPortals: Limen's admin console and API){when}"
        f"{state_note}. Exclude yourself or an emergency-access account, or exclude MicrosoftAdminPortals.",
        "conditions.applications.includeApplications",
    )


_INCLUDE_EXCLUDE = (
    ("users", "includeUsers", "excludeUsers"),
    ("users", "includeGroups", "excludeGroups"),
    ("users", "includeRoles", "excludeRoles"),
    ("applications", "includeApplications", "excludeApplications"),
    ("locations", "includeLocations", "excludeLocations"),
    ("platforms", "includePlatforms", "excludePlatforms"),
)


def _contradictions(view: _Policy) -> Iterator[_Raw]:
    for section, include_key, exclude_key in _INCLUDE_EXCLUDE:
        block = _mapping(view.conditions.get(section))
        included = _folded(_strings(block.get(include_key)))
        for index, value in enumerate(_strings(block.get(exclude_key))):
            if value.lower() in included:
                yield (
                    Severity.WARNING,
                    "includedAndExcluded",
                    f"{value!r} is in both {include_key} and {exclude_key}; exclusion wins, so it is never in scope.",
                    f"conditions.{section}.{exclude_key}[{index}]",
                )
    yield from _includes_none(view)
    yield from _control_conflicts(view)
    yield from _password_change(view)


def _includes_none(view: _Policy) -> Iterator[_Raw]:
    users = view.users_list("includeUsers")
    # Workload-identity and agent policies say includeUsers None because they target service principals.
    workload = bool(view.conditions.get("clientApplications") or view.conditions.get("agents"))
    if view.users is not None and "none" in _folded(users) and not workload:
        others = [v for v in users if v.lower() != "none"] + view.users_list("includeGroups")
        others += view.users_list("includeRoles")
        if others:
            message = "includeUsers says None but the policy also includes users, groups or roles: remove None."
        else:
            message = "includeUsers is None: the policy applies to no user."
        yield (Severity.WARNING, "includesNone", message, "conditions.users.includeUsers")
    apps = view.app_list("includeApplications")
    # User actions and authentication contexts are targets in their own right (SPEC §3.5).
    other_targets = view.app_list("includeUserActions") or view.app_list("includeAuthenticationContextClassReferences")
    if "none" in _folded(apps) and not other_targets:
        if len(apps) > 1:
            message = "includeApplications says None together with applications: remove None."
        else:
            message = "includeApplications is None: the policy applies to no application."
        yield (Severity.WARNING, "includesNone", message, "conditions.applications.includeApplications")


def _control_conflicts(view: _Policy) -> Iterator[_Raw]:
    builtins = _folded(view.builtins)
    others = (builtins - {"block"}) or view.strength_id or _strings(view.grant.get("termsOfUse"))
    if view.blocks and (others or _strings(view.grant.get("customAuthenticationFactors"))):
        yield (
            Severity.ERROR,
            "blockWithOtherControls",
            "Block cannot be combined with other grant controls: a blocked sign-in never satisfies them.",
            "grantControls.builtInControls",
        )
    if "mfa" in builtins and view.strength_id:
        yield (
            Severity.ERROR,
            "mfaAndAuthenticationStrength",
            "mfa and an authentication strength cannot both be required (the built-in MFA strength is mfa).",
            "grantControls.authenticationStrength",
        )
    if not view.has_grant and not view.has_session:
        yield (
            Severity.WARNING,
            "noControls",
            "The policy has no grant controls and no session controls: it does nothing when it applies.",
            "grantControls",
        )
    client_types = _folded(view.condition_list("clientAppTypes"))
    if client_types and client_types <= _LEGACY_CLIENT_TYPES and view.has_grant and not view.blocks:
        yield (
            Severity.WARNING,
            "legacyClientsCannotSatisfyControls",
            "Exchange ActiveSync and other legacy clients cannot satisfy grant controls, so this policy blocks "
            "them (SPEC §3.10): use block to say so.",
            "grantControls.builtInControls",
        )


def _password_change(view: _Policy) -> Iterator[_Raw]:
    # SPEC §2.5 (Graph's validation rules for passwordChange).
    builtins = _folded(view.builtins)
    if "passwordchange" not in builtins:
        return
    if not view.condition_list("userRiskLevels"):
        yield (
            Severity.ERROR,
            "passwordChangeWithoutUserRisk",
            "passwordChange needs a userRiskLevels condition: it remediates user risk.",
            "conditions.userRiskLevels",
        )
    operator = view.grant.get("operator")
    # The built-in MFA strength is equivalent to mfa (SPEC §2.5), so it pairs with passwordChange too.
    if not ("mfa" in builtins or view.strength_id) or operator != "AND":
        yield (
            Severity.ERROR,
            "passwordChangeWithoutMfa",
            "passwordChange must be combined with mfa using the AND operator (MFA first, then the secure change).",
            "grantControls",
        )
    extra = builtins - {"mfa", "passwordchange"}
    if extra or _strings(view.grant.get("termsOfUse")) or _strings(view.grant.get("customAuthenticationFactors")):
        yield (
            Severity.ERROR,
            "passwordChangeWithOtherControls",
            "passwordChange cannot be combined with controls other than mfa.",
            "grantControls.builtInControls",
        )
    apps = _folded(view.app_list("includeApplications"))
    if apps != {"all"} or view.app_list("excludeApplications"):
        yield (
            Severity.ERROR,
            "passwordChangeNeedsAllApplications",
            "A passwordChange policy must target All applications with no exclusions.",
            "conditions.applications",
        )
    extra_conditions = [c for c in view.narrowing_conditions() if c != "userRiskLevels"]
    client_types = _folded(view.condition_list("clientAppTypes"))
    if client_types and client_types != {"all"}:
        extra_conditions.append("clientAppTypes")
    if extra_conditions:
        yield (
            Severity.ERROR,
            "passwordChangeWithOtherConditions",
            "A passwordChange policy may have no condition other than users, applications and userRiskLevels "
            f"(found {', '.join(extra_conditions)}).",
            "conditions",
        )


def _unknown_references(view: _Policy, directory: DirectoryFacts) -> Iterator[_Raw]:
    kinds: list[tuple[str, str, list[str], frozenset[str] | None, frozenset[str]]] = []
    for key in ("includeUsers", "excludeUsers"):
        kinds.append(("user", f"conditions.users.{key}", view.users_list(key), directory.user_ids, _USER_KEYWORDS))
    for key in ("includeGroups", "excludeGroups"):
        kinds.append(("group", f"conditions.users.{key}", view.users_list(key), directory.group_ids, frozenset()))
    for key in ("includeRoles", "excludeRoles"):
        kinds.append(("role", f"conditions.users.{key}", view.users_list(key), directory.role_ids, frozenset()))
    known_apps = None if directory.application_ids is None else directory.application_ids | {ADMIN_PORTALS_APP_ID}
    for key in ("includeApplications", "excludeApplications"):
        kinds.append(("application", f"conditions.applications.{key}", view.app_list(key), known_apps, _APP_KEYWORDS))
    locations = _mapping(view.conditions.get("locations"))
    for key in ("includeLocations", "excludeLocations"):
        values = _strings(locations.get(key))
        kinds.append(
            ("named location", f"conditions.locations.{key}", values, directory.named_location_ids, _LOCATION_KEYWORDS)
        )
    for kind, path, values, known, keywords in kinds:
        if known is None:
            continue
        for index, value in enumerate(values):
            if value.lower() not in keywords and value.lower() not in known:
                yield (
                    Severity.WARNING,
                    f"unknown{kind.title().replace(' ', '')}",
                    f"{value!r} is not a {kind} in this directory; it matches nothing.",
                    f"{path}[{index}]",
                )
    strength = view.strength_id
    strengths = directory.authentication_strength_ids
    if strength and strengths is not None and strength.lower() not in strengths:
        yield (
            Severity.WARNING,
            "unknownAuthenticationStrength",
            f"{strength!r} is not an authentication strength in this tenant; no sign-in can satisfy it.",
            "grantControls.authenticationStrength.id",
        )
