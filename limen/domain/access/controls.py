"""Grant and session controls of a policy, compiled, and whether a sign-in meets them (SPEC.md §2.5, §2.6, §3.2).

A control is met from what the session has already done (`EvaluationContext.completed`, the device,
a password change), never from what it is about to do: calling the engine again after the person
did MFA is how a requirement goes away.

Limen can satisfy `mfa`, authentication strengths, `passwordChange` (during the sign-in) and
`compliantDevice` / `domainJoinedDevice` (from its device registry). Every other grant control
(approved or compliant client app, terms of use, custom controls, `riskRemediation`,
`compliantNetwork`, ...) is kept and shown but can never be met: a policy that needs one of them,
and offers no alternative it can meet, fails.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from limen.domain.access.conditions import strings
from limen.domain.access.context import Signals
from limen.domain.access.strengths import AuthenticationStrength, compile_strength


class Control(StrEnum):
    """What a sign-in can be asked for, in the order it is asked (SPEC §3.2, phase 2).

    `reauthenticate` (sign-in frequency) and `registerSecurityInfo` come first: a person signs in
    again, or registers a method, before any MFA can happen.
    """

    REAUTHENTICATE = "reauthenticate"
    REGISTER_SECURITY_INFO = "registerSecurityInfo"
    MFA = "mfa"
    AUTHENTICATION_STRENGTH = "authenticationStrength"
    COMPLIANT_DEVICE = "compliantDevice"
    DOMAIN_JOINED_DEVICE = "domainJoinedDevice"
    APPROVED_APPLICATION = "approvedApplication"
    COMPLIANT_APPLICATION = "compliantApplication"
    PASSWORD_CHANGE = "passwordChange"  # noqa: S105 - a control's name, not a password
    TERMS_OF_USE = "termsOfUse"
    CUSTOM_AUTHENTICATION_FACTOR = "customAuthenticationFactor"
    #: A built-in control Limen does not know how to meet (`riskRemediation`, `compliantNetwork`, ...).
    UNSUPPORTED = "unsupported"


_ORDER = {control: index for index, control in enumerate(Control)}
# The members read on every evaluation, as module names: `Control.MFA` goes through the enum
# metaclass's attribute hook, several times the cost of a global lookup, for each policy and sign-in.
_MFA = Control.MFA
_STRENGTH = Control.AUTHENTICATION_STRENGTH
_COMPLIANT_DEVICE = Control.COMPLIANT_DEVICE
_DOMAIN_JOINED_DEVICE = Control.DOMAIN_JOINED_DEVICE
_PASSWORD_CHANGE = Control.PASSWORD_CHANGE
#: What a person can do during the sign-in; the rest depends on the device or is unsupported.
INTERACTIVE = frozenset(
    {
        Control.REAUTHENTICATE,
        Control.REGISTER_SECURITY_INFO,
        Control.MFA,
        Control.AUTHENTICATION_STRENGTH,
        Control.PASSWORD_CHANGE,
    }
)

#: Graph's `enforcedGrantControls` name of `passwordChange` in `appliedConditionalAccessPolicies`.
REQUIRE_PASSWORD_CHANGE = "RequirePasswordChange"  # noqa: S105 - a control's name, not a password

#: `builtInControls` values -> (control, Graph's `enforcedGrantControls` string in sign-in logs).
_BUILT_IN: dict[str, tuple[Control, str]] = {
    "mfa": (Control.MFA, "Mfa"),
    "compliantdevice": (Control.COMPLIANT_DEVICE, "RequireCompliantDevice"),
    "domainjoineddevice": (Control.DOMAIN_JOINED_DEVICE, "RequireDomainJoinedDevice"),
    "approvedapplication": (Control.APPROVED_APPLICATION, "RequireApprovedApp"),
    "compliantapplication": (Control.COMPLIANT_APPLICATION, "RequireCompliantApp"),
    "passwordchange": (Control.PASSWORD_CHANGE, REQUIRE_PASSWORD_CHANGE),
}

#: Built-in controls Limen keeps but cannot meet (yet): no app protection broker, no compliant networks.
_NEVER_MET = frozenset({Control.APPROVED_APPLICATION, Control.COMPLIANT_APPLICATION, Control.UNSUPPORTED})

#: A Graph-level sign-in frequency of "every time" still allows five minutes of clock skew (SPEC §2.6).
EVERY_TIME_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class GrantControl:
    kind: Control
    #: The strength, terms-of-use, custom-control id, or the unsupported control's name.
    detail: str = ""
    strength: AuthenticationStrength | None = None
    #: For MFA and strengths: the "register a method first" control to put before it when the person
    #: has no method that could meet it. Built at compile time so that results can be shared.
    registration: GrantControl | None = field(default=None, compare=False, repr=False)

    @property
    def interactive(self) -> bool:
        if self.kind is _STRENGTH and self.strength is None:
            return False  # an unknown strength cannot be met by anything
        return self.kind in INTERACTIVE

    def met(self, s: Signals) -> bool:
        kind = self.kind
        context = s.context
        if kind is _MFA:
            return context.is_multi_factor
        if kind is _STRENGTH:
            return self.strength is not None and self.strength.satisfied_by(context.completed)
        if kind is _COMPLIANT_DEVICE:
            device = s.device
            return device is not None and device.get("iscompliant") == "true"
        if kind is _DOMAIN_JOINED_DEVICE:
            device = s.device
            return device is not None and device.get("trusttype") == "serverad"
        if kind is _PASSWORD_CHANGE:
            return context.password_changed
        return False


@dataclass(frozen=True, slots=True)
class Grant:
    """`grantControls`, compiled. `controls` are in prompt order."""

    block: bool = False
    require_all: bool = False
    controls: tuple[GrantControl, ...] = ()
    #: `enforcedGrantControls` of the sign-in log.
    graph_names: tuple[str, ...] = ()
    #: The strength, if the policy has one (for the log's `authenticationStrength`).
    strength_id: str | None = None

    @property
    def empty(self) -> bool:
        return not self.block and not self.controls


_REQUIRE_MFA = GrantControl(Control.MFA, registration=GrantControl(Control.REGISTER_SECURITY_INFO))


def compile_grant(document: Any, strengths: Mapping[str, AuthenticationStrength]) -> tuple[Grant, list[str]]:
    """`grantControls` compiled, with notes about controls Limen cannot meet."""
    if not isinstance(document, Mapping):
        return Grant(), []
    notes: list[str] = []
    controls: list[GrantControl] = []
    names: list[str] = []
    block = False
    for raw in strings(document.get("builtInControls")):
        key = raw.lower()
        if key == "block":
            block = True
            names.append("Block")
            continue
        control, name = _BUILT_IN.get(key, (Control.UNSUPPORTED, raw))
        controls.append(
            _REQUIRE_MFA if control is Control.MFA else GrantControl(control, "" if key in _BUILT_IN else raw)
        )
        names.append(name)
        if control in _NEVER_MET:
            notes.append(f"grantControls.builtInControls: {raw} cannot be met in Limen (kept, never satisfied)")
    for terms in strings(document.get("termsOfUse")):
        controls.append(GrantControl(Control.TERMS_OF_USE, terms))
        names.append(terms)
        notes.append(f"grantControls.termsOfUse: {terms} cannot be met in Limen (kept, never satisfied)")
    for factor in strings(document.get("customAuthenticationFactors")):
        controls.append(GrantControl(Control.CUSTOM_AUTHENTICATION_FACTOR, factor))
        names.append(factor)
        notes.append(f"grantControls.customAuthenticationFactors: {factor} cannot be met in Limen")
    strength_doc = document.get("authenticationStrength")
    strength_id: str | None = None
    if isinstance(strength_doc, Mapping) and strength_doc.get("id"):
        strength_id = str(strength_doc["id"]).lower()
        strength = strengths.get(strength_id)
        if strength is None and strength_doc.get("allowedCombinations"):
            # An export that embeds the strength: use it as written rather than fail.
            strength = compile_strength(strength_doc)
        if strength is None:
            notes.append(f"grantControls.authenticationStrength: unknown strength {strength_id} (never satisfied)")
        registration = (
            GrantControl(Control.REGISTER_SECURITY_INFO, strength_id, strength) if strength is not None else None
        )
        controls.append(GrantControl(Control.AUTHENTICATION_STRENGTH, strength_id, strength, registration))
        names.append("RequireAuthenticationStrength")
    operator = str(document.get("operator") or "OR").upper()
    controls.sort(key=lambda c: _ORDER[c.kind])
    return Grant(block, operator == "AND", tuple(controls), tuple(names), strength_id), notes


class GrantStatus(StrEnum):
    NONE = "none"  # no grant controls: nothing to meet
    BLOCK = "block"
    LEGACY = "legacyClient"  # a legacy client cannot meet any grant control (SPEC §3.10)
    MET = "met"
    UNMET = "unmet"  # the person can still meet it during this sign-in
    IMPOSSIBLE = "impossible"  # nothing the person can do now meets it


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    status: GrantStatus
    #: What to ask for (UNMET), or what cannot be met (IMPOSSIBLE), in prompt order.
    unmet: tuple[GrantControl, ...] = ()


_NONE = GrantOutcome(GrantStatus.NONE)
_BLOCK = GrantOutcome(GrantStatus.BLOCK)
_LEGACY = GrantOutcome(GrantStatus.LEGACY)
_MET = GrantOutcome(GrantStatus.MET)
_UNMET = GrantStatus.UNMET
_IMPOSSIBLE = GrantStatus.IMPOSSIBLE


def assess_grant(grant: Grant, s: Signals) -> GrantOutcome:
    """Whether this sign-in meets the policy's grant controls now, and if not, what is left."""
    if grant.block:
        return _BLOCK
    if not grant.controls:
        return _NONE
    if s.legacy_client:
        return _LEGACY
    if grant.require_all:
        missing = [control for control in grant.controls if not control.met(s)]
        if not missing:
            return _MET
        if not all(c.interactive for c in missing):
            return GrantOutcome(_IMPOSSIBLE, tuple(c for c in missing if not c.interactive))
        return GrantOutcome(_UNMET, _with_registration(missing, s))
    for control in grant.controls:
        if control.met(s):
            return _MET
    # OR: ask for the first control, in prompt order, that the person can meet (SPEC §3.3).
    for control in grant.controls:
        if control.interactive:
            return GrantOutcome(_UNMET, _with_registration([control], s))
    return GrantOutcome(_IMPOSSIBLE, grant.controls)


def reads_device(grant: Grant) -> bool:
    """Whether `assess_grant` reads the device for this grant (compliant or domain-joined device)."""
    return any(control.kind is _COMPLIANT_DEVICE or control.kind is _DOMAIN_JOINED_DEVICE for control in grant.controls)


def assessment_key(s: Signals, device: bool) -> Hashable:
    """Everything `assess_grant` reads of a sign-in (`device`: also what it reads of the device, for
    a grant that `reads_device`): sign-ins with equal keys get equal assessments of a grant."""
    facts = s.grant_facts
    if not device:
        return facts
    normalized = s.device
    return facts, None if normalized is None else (normalized.get("iscompliant"), normalized.get("trusttype"))


def _with_registration(controls: Sequence[GrantControl], s: Signals) -> tuple[GrantControl, ...]:
    """Prepend "register a method" when the person has none that could meet an MFA control."""
    # Unknown methods (What If), or registering right now: do not send the person to registration.
    registered = s.context.registered_modes
    if registered is None or s.user_action == "urn:user:registersecurityinfo":
        return tuple(controls)
    available = {m.lower() for m in registered} | {step.mode.lower() for step in s.context.completed}
    out: list[GrantControl] = []
    for control in controls:
        registration = control.registration
        if registration is not None and (
            not (available - {"password"})
            if control.strength is None
            else not control.strength.feasible_with(available)
        ):
            out.append(registration)
        out.append(control)
    return tuple(out)


# --- session controls ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInFrequency:
    """`signInFrequency`: how old the session's authentication may be. `period` None = every time."""

    period: timedelta | None
    #: `authenticationType: secondaryAuthentication`: only the MFA step has to be fresh.
    secondary_only: bool = False

    @property
    def every_time(self) -> bool:
        return self.period is None

    @property
    def window(self) -> timedelta:
        return EVERY_TIME_SKEW if self.period is None else self.period

    def stale_for(self, s: Signals, now: datetime) -> bool:
        """Whether the person must authenticate again: the oldest completed step (other than the password
        with `secondaryAuthentication`) is older than the window. With nothing completed yet there is
        nothing to refresh (the sign-in in progress is the authentication)."""
        oldest = s.oldest_secondary_step if self.secondary_only else s.oldest_step
        return oldest is not None and now - oldest > self.window


@dataclass(frozen=True, slots=True)
class Session:
    """`sessionControls`, compiled."""

    sign_in_frequency: SignInFrequency | None = None
    #: "always" or "never".
    persistent_browser: str | None = None
    #: `enforcedSessionControls` of the sign-in log.
    graph_names: tuple[str, ...] = ()
    #: Configured session controls Limen stores but does not enforce.
    not_enforced: tuple[str, ...] = ()


_SESSION_NAMES = {
    "signinfrequency": "SignInFrequency",
    "persistentbrowser": "PersistentBrowserSessionMode",
    "applicationenforcedrestrictions": "AppEnforcedRestrictions",
    "cloudappsecurity": "CloudAppSecurity",
    "continuousaccessevaluation": "ContinuousAccessEvaluation",
    "disableresiliencedefaults": "DisableResilienceDefaults",
    "securesigninsession": "SecureSignInSession",
}
_HOURS = range(1, 24)  # SPEC §10
_DAYS = range(1, 366)


def compile_session(document: Any) -> tuple[Session, list[str]]:
    if not isinstance(document, Mapping):
        return Session(), []
    notes: list[str] = []
    frequency: SignInFrequency | None = None
    browser: str | None = None
    names: list[str] = []
    not_enforced: list[str] = []
    for key, value in document.items():
        if "@" in key or not _configured(value):
            continue
        lower = key.lower()
        name = _SESSION_NAMES.get(lower, key[:1].upper() + key[1:])
        if lower == "signinfrequency" and isinstance(value, Mapping):
            frequency = _sign_in_frequency(value)
            if frequency is None:
                notes.append("sessionControls.signInFrequency: no valid interval (hours 1-23, days 1-365); ignored")
                continue
        elif lower == "persistentbrowser" and isinstance(value, Mapping):
            mode = str(value.get("mode") or "").lower()
            if mode not in ("always", "never"):
                notes.append(f"sessionControls.persistentBrowser: unknown mode {value.get('mode')!r}; ignored")
                continue
            browser = mode
        else:
            not_enforced.append(key)
            notes.append(f"sessionControls.{key}: stored, not enforced by Limen")
        names.append(name)
    return Session(frequency, browser, tuple(names), tuple(not_enforced)), notes


def _configured(value: Any) -> bool:
    if isinstance(value, Mapping):
        return value.get("isEnabled", True) is not False and any(k for k in value if "@" not in k)
    return bool(value)


def _sign_in_frequency(value: Mapping[str, Any]) -> SignInFrequency | None:
    secondary = str(value.get("authenticationType") or "").lower() == "secondaryauthentication"
    if str(value.get("frequencyInterval") or "").lower() == "everytime":
        return SignInFrequency(None, secondary)
    unit = str(value.get("type") or "").lower()
    amount = value.get("value")
    if isinstance(amount, bool) or not isinstance(amount, int):
        return None
    if unit == "hours" and amount in _HOURS:
        return SignInFrequency(timedelta(hours=amount), secondary)
    if unit == "days" and amount in _DAYS:
        return SignInFrequency(timedelta(days=amount), secondary)
    return None


def stricter(a: SignInFrequency | None, b: SignInFrequency | None) -> SignInFrequency | None:
    """The shorter of two sign-in frequencies (for the session's lifetime)."""
    if a is None or b is None:
        return a or b
    if a.window != b.window:
        return a if a.window < b.window else b
    return a if not a.secondary_only else b
