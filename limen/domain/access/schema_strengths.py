"""Graph's `authenticationStrengthPolicy` JSON: the three built-in strengths and custom ones (SPEC.md §3.11).

A strength lists `allowedCombinations`: each is one `authenticationMethodModes` value or several joined
by commas ("password,softwareOath"). Limen's methods each name their mode (`MethodSpec.mode`); a
combination that needs a mode no Limen method provides is valid Graph but can't be satisfied here,
and validation says so in a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from limen.domain.access.schema_types import (
    Checker,
    Issue,
    ObjectType,
    PolicyInvalid,
    child,
    item,
    objects,
    string,
    strings,
)
from limen.domain.access.strengths import BUILT_IN_DOCUMENTS, MFA
from limen.domain.methods import SPECS
from limen.domain.methods.tap import MODE_MULTI_USE, MODE_ONE_TIME

#: Graph's `authenticationMethodModes` (v1.0), without the `unknownFutureValue` sentinel.
AUTHENTICATION_METHOD_MODES = (
    "password",
    "voice",
    "hardwareOath",
    "softwareOath",
    "sms",
    "fido2",
    "windowsHelloForBusiness",
    "microsoftAuthenticatorPush",
    "deviceBasedPush",
    "temporaryAccessPassOneTime",
    "temporaryAccessPassMultiUse",
    "email",
    "x509CertificateSingleFactor",
    "x509CertificateMultiFactor",
    "federatedSingleFactor",
    "federatedMultiFactor",
    "qrCodePin",
)
#: Email one-time passcodes (for guests) can't be part of a strength (SPEC.md §3.11).
NOT_IN_STRENGTHS = frozenset({"email"})
#: Modes some Limen method provides.
LIMEN_MODES = frozenset({spec.mode for spec in SPECS.values()} | {MODE_ONE_TIME, MODE_MULTI_USE})

#: Entra allows up to 15 custom strengths per tenant (SPEC.md §3.11).
MAX_CUSTOM_STRENGTHS = 15
MAX_DISPLAY_NAME = 256

#: The three built-in strengths in Graph's JSON, read-only (SPEC.md §2.5, §3.11); the engine's module owns them.
BUILT_IN_STRENGTHS = BUILT_IN_DOCUMENTS
BUILT_IN_STRENGTH_IDS = frozenset(BUILT_IN_STRENGTHS)
#: Combinations that satisfy MFA, order-insensitive: those of the built-in MFA strength.
MFA_COMBINATIONS = frozenset(
    frozenset(combination.split(",")) for combination in BUILT_IN_STRENGTHS[MFA]["allowedCombinations"]
)


def _check_combination_configuration(checker: Checker, value: dict[str, Any], path: str) -> None:
    if not value["appliesToCombinations"]:
        checker.error(child(path, "appliesToCombinations"), "needs at least one combination")


COMBINATION_CONFIGURATION = ObjectType(
    "authenticationCombinationConfiguration",
    subtypes=(
        ObjectType(
            "fido2CombinationConfiguration",
            {"appliesToCombinations": strings(), "allowedAAGUIDs": strings()},
            ignored=frozenset({"id"}),
            check=_check_combination_configuration,
        ),
        ObjectType(
            "x509CertificateCombinationConfiguration",
            {"appliesToCombinations": strings(), "allowedIssuerSkis": strings(), "allowedPolicyOIDs": strings()},
            ignored=frozenset({"id"}),
            check=_check_combination_configuration,
        ),
    ),
)


def _normalise_combination(checker: Checker, raw: str, path: str) -> str | None:
    parts = [part.strip() for part in raw.split(",")]
    normalised: list[str] = []
    for part in parts:
        mode = next((m for m in AUTHENTICATION_METHOD_MODES if m.lower() == part.lower()), None)
        if mode is None:
            checker.error(
                path,
                f"'{part}' is not an authenticationMethodModes value; expected {', '.join(AUTHENTICATION_METHOD_MODES)}",
            )
            return None
        if mode in NOT_IN_STRENGTHS:
            checker.error(path, f"'{mode}' can't be used in an authentication strength")
            return None
        if mode in normalised:
            checker.error(path, f"'{raw}' names '{mode}' twice")
            return None
        normalised.append(mode)
    combination = ",".join(normalised)
    if combination != raw:
        checker.warn(path, f"'{raw}' normalised to '{combination}'")
    missing = [mode for mode in normalised if mode not in LIMEN_MODES]
    if missing:
        checker.warn(path, f"Limen has no method for {', '.join(missing)}: this combination can't be satisfied")
    return combination


def _check_strength(checker: Checker, value: dict[str, Any], path: str) -> None:
    combinations: list[str] = value["allowedCombinations"]
    where = child(path, "allowedCombinations")
    if not combinations:
        checker.error(where, "needs at least one combination")
        return
    normalised: list[str] = []
    for index, raw in enumerate(combinations):
        combination = _normalise_combination(checker, raw, item(where, index))
        if combination is None:
            continue
        if any(frozenset(combination.split(",")) == frozenset(c.split(",")) for c in normalised):
            checker.warn(item(where, index), f"'{combination}' is listed twice; kept once")
            continue
        normalised.append(combination)
    value["allowedCombinations"] = normalised
    for index, configuration in enumerate(value["combinationConfigurations"]):
        for position, combination in enumerate(configuration["appliesToCombinations"]):
            if combination not in normalised:
                checker.error(
                    item(
                        child(item(child(path, "combinationConfigurations"), index), "appliesToCombinations"), position
                    ),
                    f"'{combination}' is not one of the strength's allowedCombinations",
                )


STRENGTH = ObjectType(
    "authenticationStrengthPolicy",
    {
        "displayName": string(required=True, max_length=MAX_DISPLAY_NAME),
        "description": string(),
        "allowedCombinations": strings(),
        "combinationConfigurations": objects(COMBINATION_CONFIGURATION),
    },
    ignored=frozenset({"id", "createdDateTime", "modifiedDateTime", "policyType", "requirementsSatisfied"}),
    check=_check_strength,
)


@dataclass(frozen=True, slots=True)
class ValidatedStrength:
    """A valid custom strength: normalised Graph JSON without its server-set properties, and warnings."""

    document: dict[str, Any]
    warnings: tuple[Issue, ...]
    id: str | None = None


def validate_authentication_strength(doc: Mapping[str, Any]) -> ValidatedStrength:
    """Validate and normalise a custom `authenticationStrengthPolicy`; raise PolicyInvalid(path, reason).

    A document carrying a built-in strength's id is refused: built-ins are read-only.
    """
    if not isinstance(doc, Mapping):
        raise PolicyInvalid("", f"an authentication strength must be a JSON object, not {type(doc).__name__}")
    raw_id = doc.get("id")
    if raw_id in BUILT_IN_STRENGTH_IDS:
        raise PolicyInvalid("id", f"'{raw_id}' is a built-in authentication strength, which is read-only")
    if "allowedCombinations" not in doc:
        raise PolicyInvalid("allowedCombinations", "is required")
    checker = Checker()
    document = checker.object(dict(doc), STRENGTH, "")
    checker.raise_if_invalid()
    assert document is not None
    return ValidatedStrength(
        document=document,
        warnings=tuple(checker.warnings),
        id=raw_id if isinstance(raw_id, str) and raw_id else None,
    )


def requirements_satisfied(combinations: list[str]) -> str:
    """Graph's `requirementsSatisfied`: "mfa" when every combination is multifactor, else "none"."""
    if combinations and all(frozenset(c.split(",")) in MFA_COMBINATIONS for c in combinations):
        return "mfa"
    return "none"
