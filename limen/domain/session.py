"""What a session has proved: the completed authentication methods and what they add up to.

OIDC `amr`/`acr`, authentication strengths and sign-in frequency all read this one list
(STYLE.md L3, after Kratos' Session.AMR).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from limen.domain.methods import SPECS
from limen.domain.methods.base import MethodSpec

#: `acr` values Limen emits: one factor, or more than one factor of distinct kinds.
ACR_SINGLE_FACTOR = "urn:limen:acr:1fa"
ACR_MULTI_FACTOR = "urn:limen:acr:mfa"


@dataclass(frozen=True, slots=True)
class CompletedMethod:
    """One authentication step that succeeded: `method` is Limen's method key, `amr` its RFC 8176
    value(s), space-separated when a method yields several (a passkey: "hwk user")."""

    method: str
    amr: str
    factor: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "amr": self.amr, "factor": self.factor, "at": self.at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompletedMethod:
        return cls(
            method=str(data["method"]),
            amr=str(data["amr"]),
            factor=str(data["factor"]),
            at=datetime.fromisoformat(str(data["at"])),
        )


def completed_with(spec: MethodSpec, at: datetime) -> CompletedMethod:
    """The record of having just used a method successfully."""
    return CompletedMethod(method=spec.key, amr=" ".join(spec.amr), factor=spec.factor.value, at=at)


def amr_values(methods: tuple[CompletedMethod, ...]) -> list[str]:
    """RFC 8176 `amr`: each method's value once, in the order completed, plus `mfa` when it was MFA."""
    values: list[str] = []
    for m in methods:
        for value in m.amr.split():
            if value not in values:
                values.append(value)
    if is_multi_factor(methods) and "mfa" not in values:
        values.append("mfa")
    return values


def is_multi_factor(methods: tuple[CompletedMethod, ...]) -> bool:
    """MFA means at least two distinct factor kinds (knowledge, possession, inherence), or one method
    that is multi-factor by itself (a passkey with user verification, a Temporary Access Pass)."""
    if any((spec := SPECS.get(m.method)) is not None and spec.multi_factor_alone for m in methods):
        return True
    return len({m.factor for m in methods}) >= 2


def acr_value(methods: tuple[CompletedMethod, ...]) -> str:
    return ACR_MULTI_FACTOR if is_multi_factor(methods) else ACR_SINGLE_FACTOR


def auth_time(methods: tuple[CompletedMethod, ...]) -> datetime | None:
    """OIDC `auth_time`: when the user last actively authenticated, i.e. the latest completed step."""
    return max((m.at for m in methods), default=None)
