"""Authentication strengths: which combinations of methods satisfy a grant (SPEC.md §2.5, §3.11).

A strength is a list of `authenticationMethodModes` combinations such as `"password,softwareOath"`
or `"fido2"`. A sign-in satisfies it when every mode of at least one combination was completed in
the session. The three built-in strengths are known here without being stored; custom ones come
from the tenant's `authenticationStrengthPolicy` documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MFA = "00000000-0000-0000-0000-000000000002"
PASSWORDLESS_MFA = "00000000-0000-0000-0000-000000000003"
PHISHING_RESISTANT_MFA = "00000000-0000-0000-0000-000000000004"

_PHISHING_RESISTANT = ("windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor")
_PASSWORDLESS = (*_PHISHING_RESISTANT, "deviceBasedPush")
# Entra's own lists (as returned by GET .../authenticationStrength/policies); Limen offers only some
# of these methods, but keeping the lists whole keeps exports and What If identical to Entra's.
_MFA = (
    *_PASSWORDLESS,
    "temporaryAccessPassOneTime",
    "temporaryAccessPassMultiUse",
    "password,microsoftAuthenticatorPush",
    "password,softwareOath",
    "password,hardwareOath",
    "password,sms",
    "password,voice",
    "federatedMultiFactor",
    "microsoftAuthenticatorPush,federatedSingleFactor",
    "softwareOath,federatedSingleFactor",
    "hardwareOath,federatedSingleFactor",
    "sms,federatedSingleFactor",
    "voice,federatedSingleFactor",
)


def _built_in(strength_id: str, name: str, description: str, combinations: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id": strength_id,
        "createdDateTime": "2021-12-01T08:00:00Z",
        "modifiedDateTime": "2021-12-01T08:00:00Z",
        "displayName": name,
        "description": description,
        "policyType": "builtIn",
        "requirementsSatisfied": "mfa",
        "allowedCombinations": list(combinations),
        "combinationConfigurations": [],
    }


#: The built-in strengths as Graph `authenticationStrengthPolicy` documents (read-only in Entra).
BUILT_IN_DOCUMENTS: dict[str, dict[str, Any]] = {
    MFA: _built_in(
        MFA,
        "Multifactor authentication",
        "Combinations of methods that satisfy strong authentication, such as a password + SMS",
        _MFA,
    ),
    PASSWORDLESS_MFA: _built_in(
        PASSWORDLESS_MFA,
        "Passwordless MFA",
        "Passwordless methods that satisfy strong authentication, such as Passwordless sign-in with the "
        "Microsoft Authenticator",
        _PASSWORDLESS,
    ),
    PHISHING_RESISTANT_MFA: _built_in(
        PHISHING_RESISTANT_MFA,
        "Phishing-resistant MFA",
        "Phishing-resistant, Passwordless methods for the strongest authentication, such as a FIDO2 security key",
        _PHISHING_RESISTANT,
    ),
}


@dataclass(frozen=True, slots=True)
class CompletedStep:
    """One authentication step the session completed, as strengths and sign-in frequency see it.

    `mode` is the `authenticationMethodModes` value (`MethodSpec.mode`; for a Temporary Access Pass
    the one-time or multi-use mode of the pass used). `aaguid` is the passkey model, for strengths
    that allow only some FIDO2 authenticators.
    """

    mode: str
    at: datetime
    aaguid: str | None = None


@dataclass(frozen=True, slots=True)
class AuthenticationStrength:
    id: str
    display_name: str
    #: Graph's strings, as configured (for logs and What If).
    allowed_combinations: tuple[str, ...]
    #: The same, each as a set of lower-case modes.
    combinations: tuple[frozenset[str], ...]
    #: FIDO2 authenticator models (lower-case AAGUIDs) allowed by a fido2CombinationConfiguration, or
    #: None for any.
    fido2_aaguids: frozenset[str] | None = None

    def satisfied_by(self, steps: Iterable[CompletedStep]) -> bool:
        """Whether the completed steps include every mode of at least one allowed combination."""
        modes = {
            step.mode.lower()
            for step in steps
            if not (
                self.fido2_aaguids is not None
                and step.mode.lower() == "fido2"
                and (step.aaguid or "").lower() not in self.fido2_aaguids
            )
        }
        return any(combination <= modes for combination in self.combinations)

    def feasible_with(self, modes: Iterable[str]) -> bool:
        """Whether a person who has these modes (registered or already completed) could satisfy it."""
        available = {mode.lower() for mode in modes}
        return any(combination <= available for combination in self.combinations)


def compile_strength(document: Mapping[str, Any]) -> AuthenticationStrength:
    """An `authenticationStrengthPolicy` document compiled (unknown modes are kept: they never match)."""
    allowed = tuple(str(c) for c in document.get("allowedCombinations") or ())
    fido2: set[str] | None = None
    for config in document.get("combinationConfigurations") or ():
        if not isinstance(config, Mapping):
            continue
        kind = str(config.get("@odata.type") or "").lower()
        applies = {str(c).lower() for c in config.get("appliesToCombinations") or ()}
        if "fido2combinationconfiguration" in kind and (not applies or "fido2" in applies):
            fido2 = (fido2 or set()) | {str(a).lower() for a in config.get("allowedAAGUIDs") or ()}
    return AuthenticationStrength(
        id=str(document.get("id") or "").lower(),
        display_name=str(document.get("displayName") or ""),
        allowed_combinations=allowed,
        # An empty combination would be satisfied by anything; it can only come from a malformed string.
        combinations=tuple(
            combo
            for combo in (frozenset(m.strip().lower() for m in c.split(",") if m.strip()) for c in allowed)
            if combo
        ),
        fido2_aaguids=frozenset(fido2) if fido2 is not None else None,
    )


#: The built-in strengths, compiled.
BUILT_IN: dict[str, AuthenticationStrength] = {key: compile_strength(doc) for key, doc in BUILT_IN_DOCUMENTS.items()}
