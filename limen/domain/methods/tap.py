"""Temporary Access Pass: a time-limited passcode an administrator issues, to sign in without a password
(first day at work, lost phone) and register real methods (SPEC.md §7.5).

The rules that need no storage live here: generating a pass, its terms (start, lifetime, one-time),
whether it is usable now, and its Graph shape. Issuing, revoking and spending a pass are in
`limen.service.methods.tap`. A pass is stored only as `lookup_key(value, digest)`: in the method's
`lookup_key` column (to find a pass by its value within a tenant) and, encrypted, as its `secret`
(so `verify` can compare it when the pass is used as the second step). The service counts uses in
the method's counter with a conditional update, so a one-time pass works once even when two nodes
receive it at the same moment.

`amr`: RFC 8176 has no value for an administrator-issued pass. Limen sends `otp` (a passcode, not the
user's password) and, because a pass is multi-factor on its own as in Entra, `mfa`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from limen.domain.errors import ValidationFailed
from limen.domain.methods.base import (
    Answer,
    Environment,
    Factor,
    MethodSpec,
    Prompt,
    Reason,
    Rejected,
    StoredMethod,
    Strength,
    Subject,
    Verified,
)
from limen.domain.timestamps import graph_time

#: Letters and digits without the look-alikes 0/O/o, 1/I/l/i: a pass is read aloud or copied from a
#: screen by someone on their first day, and 55 symbols still give 46 bits in 8 characters.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"
MIN_LENGTH, MAX_LENGTH, DEFAULT_LENGTH = 8, 48, 8
MIN_LIFETIME_MINUTES, MAX_LIFETIME_MINUTES, DEFAULT_LIFETIME_MINUTES = 10, 43_200, 60
#: How far in the past a requested start may lie (clock skew between the admin's machine and Limen).
START_SKEW = timedelta(minutes=5)
CHALLENGE_MINUTES = 10

MODE_ONE_TIME = "temporaryAccessPassOneTime"
MODE_MULTI_USE = "temporaryAccessPassMultiUse"

SPEC = MethodSpec(
    key="temporaryAccessPass",
    graph_type="#microsoft.graph.temporaryAccessPassAuthenticationMethod",
    display_name="Temporary Access Pass",
    log_name="Temporary Access Pass",
    factor=Factor.KNOWLEDGE,
    phishing_resistant=False,
    amr=("otp",),
    strengths=frozenset({Strength.MFA}),
    # A pass is one-time or multi-use; `mode_of` tells which. Both satisfy the MFA strength.
    mode=MODE_MULTI_USE,
    first_factor=True,
    # A pass replaces the password to get in and register real methods; it is not a registered second
    # factor, so having one does not make a user "registered for MFA".
    second_factor=False,
    self_service=False,
    multi_factor_alone=True,
)


class Usability(StrEnum):
    """Graph's `methodUsabilityReason` values."""

    ENABLED_BY_POLICY = "EnabledByPolicy"
    DISABLED_BY_POLICY = "DisabledByPolicy"
    EXPIRED = "Expired"
    NOT_YET_VALID = "NotYetValid"
    ONE_TIME_USED = "OneTimeUsed"


@dataclass(frozen=True, slots=True)
class Terms:
    """When a pass may be used and how often; what `AuthMethod.data` keeps for it."""

    start: datetime
    lifetime_minutes: int
    one_time: bool

    @property
    def expires_at(self) -> datetime:
        return self.start + timedelta(minutes=self.lifetime_minutes)

    def to_data(self) -> dict[str, Any]:
        return {
            "startDateTime": self.start.astimezone(UTC).isoformat(),
            "lifetimeInMinutes": self.lifetime_minutes,
            "isUsableOnce": self.one_time,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Terms:
        return cls(
            start=datetime.fromisoformat(str(data["startDateTime"])),
            lifetime_minutes=int(data["lifetimeInMinutes"]),
            one_time=bool(data["isUsableOnce"]),
        )


def terms(
    now: datetime,
    *,
    lifetime_minutes: int | None = None,
    one_time: bool = False,
    start: datetime | None = None,
) -> Terms:
    """The terms of a new pass, checked against Entra's limits; ValidationFailed says what is wrong."""
    lifetime = DEFAULT_LIFETIME_MINUTES if lifetime_minutes is None else lifetime_minutes
    if isinstance(lifetime, bool) or not MIN_LIFETIME_MINUTES <= lifetime <= MAX_LIFETIME_MINUTES:
        raise ValidationFailed(
            f"lifetimeInMinutes must be between {MIN_LIFETIME_MINUTES} and {MAX_LIFETIME_MINUTES} (30 days)."
        )
    if start is None:
        start = now
    elif start.tzinfo is None:
        raise ValidationFailed("startDateTime needs a time zone, e.g. 2026-05-04T09:00:00Z.")
    elif start < now - START_SKEW:
        # A start in the past would silently shorten the pass, possibly to nothing.
        raise ValidationFailed("startDateTime is in the past: leave it out to start the pass now.")
    return Terms(start=start.astimezone(UTC), lifetime_minutes=lifetime, one_time=one_time)


def generate(length: int = DEFAULT_LENGTH) -> str:
    """A new pass value: `length` symbols of ALPHABET, uniformly random."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValidationFailed(f"A Temporary Access Pass has {MIN_LENGTH} to {MAX_LENGTH} characters.")
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise(raw: str) -> str:
    """The pass as typed, without whitespace (the alphabet has none; people copy spaces around it)."""
    return "".join(raw.split())


def lookup_key(value: str, digest: Callable[[str], str]) -> str:
    """What is stored instead of the pass: a keyed digest, namespaced so it matches no other digest."""
    return digest("temporaryAccessPass\x1f" + normalise(value))


def usable(data: Mapping[str, Any], now: datetime, *, uses: int = 0) -> Usability | None:
    """None if the pass may be used at `now`, else Graph's reason why not.

    `uses` is how often it was used already (the method's counter): a one-time pass is spent by one.
    """
    pass_terms = Terms.from_data(data)
    if pass_terms.one_time and uses > 0:
        return Usability.ONE_TIME_USED
    if now < pass_terms.start:
        return Usability.NOT_YET_VALID
    if now >= pass_terms.expires_at:
        return Usability.EXPIRED
    return None


def mode_of(data: Mapping[str, Any]) -> str:
    """The `authenticationMethodModes` value of this pass, for authentication strength combinations."""
    return MODE_ONE_TIME if Terms.from_data(data).one_time else MODE_MULTI_USE


def graph_shape(
    method_id: str,
    created_at: datetime,
    data: Mapping[str, Any],
    now: datetime,
    *,
    uses: int = 0,
    value: str | None = None,
) -> dict[str, Any]:
    """Graph's `temporaryAccessPassAuthenticationMethod`. `value` is given only in the response that
    creates the pass; Graph returns `temporaryAccessPass: null` on every later read."""
    pass_terms = Terms.from_data(data)
    reason = usable(data, now, uses=uses)
    return {
        "@odata.type": SPEC.graph_type,
        "id": method_id,
        "temporaryAccessPass": value,
        "createdDateTime": graph_time(created_at),
        "startDateTime": graph_time(pass_terms.start),
        "lifetimeInMinutes": pass_terms.lifetime_minutes,
        "isUsableOnce": pass_terms.one_time,
        "isUsable": reason is None,
        "methodUsabilityReason": str(reason or Usability.ENABLED_BY_POLICY),
    }


_MESSAGES = {
    Usability.NOT_YET_VALID: "Your Temporary Access Pass isn't valid yet. Try again later or ask your administrator.",
    Usability.EXPIRED: "Your Temporary Access Pass has expired. Ask your administrator for a new one.",
    Usability.ONE_TIME_USED: "Your Temporary Access Pass was already used. Ask your administrator for a new one.",
    Usability.DISABLED_BY_POLICY: "Temporary Access Passes are turned off for you. Use another method.",
}


def refusal(reason: Usability) -> Rejected:
    """What to tell the person when a pass is not usable (not a failed guess: they had the pass)."""
    code = Reason.EXPIRED if reason in {Usability.EXPIRED, Usability.ONE_TIME_USED} else Reason.NOT_ALLOWED
    return Rejected(code, _MESSAGES[reason], counts_as_failure=False)


_ISSUED_BY_ADMIN = Rejected(
    Reason.NOT_ALLOWED, "An administrator issues Temporary Access Passes; you can't add one yourself.", False
)


class TemporaryAccessPass:
    """The pass as a step of the sign-in (typed in the `code` field). Registration is refused:
    passes are issued by administrators (`limen user tap issue`, Graph's temporaryAccessPassMethods)."""

    spec = SPEC

    def begin_registration(self, subject: Subject, answer: Answer, env: Environment) -> Rejected:
        return _ISSUED_BY_ADMIN

    def finish_registration(
        self, subject: Subject, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Rejected:
        return _ISSUED_BY_ADMIN

    def begin_challenge(self, subject: Subject, method: StoredMethod, env: Environment) -> Prompt | Rejected:
        if (reason := usable(method.data, env.now, uses=method.counter or 0)) is not None:
            return refusal(reason)
        return Prompt(view={}, pending={}, expires_at=env.now + timedelta(minutes=CHALLENGE_MINUTES))

    def verify(
        self, subject: Subject, method: StoredMethod, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Verified | Rejected:
        value = normalise(answer.get("code", ""))
        if not value:
            return Rejected(Reason.MALFORMED, "Enter your Temporary Access Pass.", counts_as_failure=False)
        if method.secret is None:
            return Rejected(Reason.UNAVAILABLE, "This Temporary Access Pass can't be used. Ask for a new one.")
        # The value is checked before its terms, so a guesser learns nothing about the pass.
        if not hmac.compare_digest(lookup_key(value, env.digest), method.secret):
            return Rejected(Reason.WRONG_CODE, "That Temporary Access Pass didn't work. Check it and try again.")
        uses = method.counter or 0
        if (reason := usable(method.data, env.now, uses=uses)) is not None:
            return refusal(reason)
        one_time = Terms.from_data(method.data).one_time
        # Growing the counter makes the service's conditional update spend a one-time pass exactly once;
        # a multi-use pass leaves it alone, so concurrent uses do not refuse each other.
        return Verified(counter=uses + 1 if one_time else None, log_detail="one-time" if one_time else "multi-use")


METHOD = TemporaryAccessPass()
