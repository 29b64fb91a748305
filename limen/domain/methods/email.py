"""E-mail codes: an 8-digit code sent to an address the user registered, valid 10 minutes (SPEC.md §10).

It proves access to a mailbox, so it counts as a possession factor after a password, and Limen adds
RFC 8176 `otp` to `amr` (Microsoft documents `otp` for "one-time passcode using an email or a text
message"). Like Entra's e-mail OTP it satisfies no built-in authentication strength (SPEC.md §3.11):
a mailbox is often reachable with the very password the code is meant to back up.

The code is longer than a text message's because e-mail is slower to arrive and easier to leave
lying around (forwarded, synced to other devices); it also lives longer, for the same delivery delay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from limen.domain.methods import codes
from limen.domain.methods.base import (
    Answer,
    Delivery,
    Environment,
    Factor,
    MethodSpec,
    Prompt,
    Reason,
    Registered,
    Rejected,
    StoredMethod,
    Subject,
    Verified,
)

DIGITS = 8
VALID_MINUTES = 10

SPEC = MethodSpec(
    key="email",
    graph_type="#microsoft.graph.emailAuthenticationMethod",
    display_name="Email",
    log_name="Email verification code",
    factor=Factor.POSSESSION,
    phishing_resistant=False,
    amr=("otp",),
    strengths=frozenset(),
    mode="email",
)

# A deliberately plain subset of RFC 5321: dot-atom local part, LDH host names with a dot. Quoted
# local parts and address literals are legal but are typos far more often than real addresses.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


def parse_address(raw: str) -> str | None:
    """The address with its domain in lower case (the local part is the mailbox's business), or None."""
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    if not at or len(text) > 254 or not 1 <= len(local) <= 64 or not _LOCAL.fullmatch(local):
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or not _TLD.fullmatch(labels[-1]):
        return None
    return f"{local}@{domain.lower()}"


def mask(address: str) -> str:
    """ "ad*****@contoso.com": recognisable to its owner; the stars do not tell the local part's length."""
    local, _, domain = address.rpartition("@")
    shown = local[:2] if len(local) > 3 else local[:1]
    return f"{shown}*****@{domain}"


_ASK = "Enter your e-mail address, for example name@example.com."


def _prompt(address: str, env: Environment, *, registering: bool) -> Prompt:
    code = codes.new_code(DIGITS)
    view: dict[str, Any] = {"destination": mask(address), "digits": DIGITS, "valid_minutes": VALID_MINUTES}
    pending: dict[str, Any] = codes.seal(code, env)
    if registering:
        view["email"] = address
        pending["emailAddress"] = address
    return Prompt(
        view=view,
        pending=pending,
        expires_at=env.now + timedelta(minutes=VALID_MINUTES),
        deliver=Delivery(channel="email", destination=address, code=code, valid_minutes=VALID_MINUTES),
        # Mail systems treat the local part case-insensitively in practice: one mailbox, one rate limit.
        destination=address.lower(),
    )


class Email:
    spec = SPEC

    def begin_registration(self, subject: Subject, answer: Answer, env: Environment) -> Prompt | Rejected:
        raw = answer.get("email", "")
        if not raw.strip():
            return Rejected(Reason.MALFORMED, _ASK, counts_as_failure=False)
        address = parse_address(raw)
        if address is None:
            return Rejected(Reason.MALFORMED, f"That isn't an e-mail address. {_ASK}", counts_as_failure=False)
        return _prompt(address, env, registering=True)

    def finish_registration(
        self, subject: Subject, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Registered | Rejected:
        if (refused := codes.check(pending, answer, env, DIGITS)) is not None:
            return refused
        address = str(pending["emailAddress"])
        # The display name is shown on the sign-in page to whoever typed the password: masked, as in Entra.
        return Registered(display_name=mask(address), data={"emailAddress": address})

    def begin_challenge(self, subject: Subject, method: StoredMethod, env: Environment) -> Prompt | Rejected:
        address = parse_address(str(method.data.get("emailAddress", "")))
        if address is None:
            return Rejected(
                Reason.UNAVAILABLE, "This e-mail address can't receive codes. Use another method or add it again."
            )
        return _prompt(address, env, registering=False)

    def verify(
        self, subject: Subject, method: StoredMethod, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Verified | Rejected:
        if (refused := codes.check(pending, answer, env, DIGITS)) is not None:
            return refused
        return Verified(log_detail=mask(str(method.data.get("emailAddress", ""))))


METHOD = Email()
