"""Authenticator app codes: RFC 6238 TOTP, SHA-1, 6 digits, 30 s steps, compatible with Microsoft and
Google Authenticator (SPEC.md §7.2, §10). The current step and one either side are accepted; the
service stores the step of the last accepted code as the method's counter and accepts only later
steps, so a code works once, on any node."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pyotp

from limen.domain.methods.base import (
    ALL_STRENGTHS,
    Answer,
    Environment,
    Factor,
    MethodSpec,
    Prompt,
    Reason,
    Registered,
    Rejected,
    StoredMethod,
    Strength,
    Subject,
    Verified,
)

DIGITS = 6
STEP_SECONDS = 30
WINDOW = 1
#: How long the person has to type the first code after the QR code is shown.
REGISTRATION_MINUTES = 10
CHALLENGE_MINUTES = 10

SPEC = MethodSpec(
    key="softwareOath",
    graph_type="#microsoft.graph.softwareOathAuthenticationMethod",
    display_name="Authenticator app code",
    log_name="Mobile app verification code",
    factor=Factor.POSSESSION,
    phishing_resistant=False,
    amr=("otp",),
    strengths=ALL_STRENGTHS - {Strength.PASSWORDLESS_MFA, Strength.PHISHING_RESISTANT_MFA},
    mode="softwareOath",
)


def normalise_code(raw: str) -> str | None:
    """Digits only (people type spaces: "123 456"); None unless exactly six remain."""
    code = "".join(raw.split())
    return code if len(code) == DIGITS and code.isascii() and code.isdigit() else None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (of now-1, now, now+1) whose code is `code`, compared in constant time."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    found: int | None = None
    for offset in range(-WINDOW, WINDOW + 1):
        moment = now + timedelta(seconds=offset * STEP_SECONDS)
        # Every candidate is compared, so timing does not tell which step matched.
        if hmac.compare_digest(totp.at(moment), code):
            found = totp.timecode(moment)
    return found


def provisioning_uri(secret: str, subject: Subject, issuer_name: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=subject.user_principal_name, issuer_name=issuer_name
    )


_WRONG = "That code didn't work. Check the code in your authenticator app and try again."
_SHAPE = "Enter the 6-digit code from your authenticator app."


class Totp:
    spec = SPEC

    def begin_registration(self, subject: Subject, answer: Answer, env: Environment) -> Prompt:
        secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
        return Prompt(
            view={
                "secret": secret,
                "secret_grouped": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
                "otpauth_uri": provisioning_uri(secret, subject, env.tenant_name),
                "account": subject.user_principal_name,
            },
            pending={"secret": secret},
            expires_at=env.now + timedelta(minutes=REGISTRATION_MINUTES),
        )

    def finish_registration(
        self, subject: Subject, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Registered | Rejected:
        code = normalise_code(answer.get("code", ""))
        if code is None:
            return Rejected(Reason.MALFORMED, _SHAPE, counts_as_failure=False)
        secret = str(pending["secret"])
        step = matching_step(secret, code, env.now)
        if step is None:
            return Rejected(Reason.WRONG_CODE, _WRONG)
        label = answer.get("name", "").strip()[:64] or "Authenticator app"
        return Registered(display_name=label, data={}, secret=secret, counter=step)

    def begin_challenge(self, subject: Subject, method: StoredMethod, env: Environment) -> Prompt:
        return Prompt(view={}, pending={}, expires_at=env.now + timedelta(minutes=CHALLENGE_MINUTES))

    def verify(
        self, subject: Subject, method: StoredMethod, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Verified | Rejected:
        code = normalise_code(answer.get("code", ""))
        if code is None:
            return Rejected(Reason.MALFORMED, _SHAPE, counts_as_failure=False)
        if method.secret is None:
            return Rejected(Reason.UNAVAILABLE, "This authenticator app can't be used. Set it up again.")
        step = matching_step(method.secret, code, env.now)
        if step is None:
            return Rejected(Reason.WRONG_CODE, _WRONG)
        if method.counter is not None and step <= method.counter:
            return Rejected(Reason.REPLAYED, "That code was already used. Wait for the next code and enter it.")
        return Verified(counter=step, log_detail=method.display_name)


METHOD = Totp()
