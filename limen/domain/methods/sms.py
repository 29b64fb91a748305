"""Text message codes: a 6-digit code sent to the user's mobile phone, valid 5 minutes (SPEC.md §7.3, §10).

Phone numbers are written the way Entra and Graph write them, "+<country code> <number>" (Graph's
`phoneAuthenticationMethod.phoneNumber`, e.g. "+1 5551234567"), and sent to the provider in E.164
("+15551234567"). People may type either, with spaces, dashes, dots or brackets; both forms of one
number are the same destination for rate limits.

Microsoft recommends moving away from SMS: it satisfies the MFA strength after a password, never the
passwordless or phishing-resistant ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
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
    Strength,
    Subject,
    Verified,
)

DIGITS = 6
VALID_MINUTES = 5

SPEC = MethodSpec(
    key="sms",
    graph_type="#microsoft.graph.phoneAuthenticationMethod",
    display_name="Text message",
    log_name="Text message",
    factor=Factor.POSSESSION,
    phishing_resistant=False,
    amr=("sms",),
    strengths=frozenset({Strength.MFA}),
    mode="sms",
)

# ITU-T E.164 country calling codes are prefix-free: 1 and 7 are the one-digit codes, the set below
# the two-digit ones, and every other code is three digits. That is all it takes to split "+4420..."
# into 44 and 20..., without a numbering-plan library.
_TWO_DIGIT_COUNTRY_CODES = frozenset(
    [
        "20",
        "27",
        "30",
        "31",
        "32",
        "33",
        "34",
        "36",
        "39",
        "40",
        "41",
        "43",
        "44",
        "45",
        "46",
        "47",
        "48",
        "49",
        "51",
        "52",
        "53",
        "54",
        "55",
        "56",
        "57",
        "58",
        "60",
        "61",
        "62",
        "63",
        "64",
        "65",
        "66",
        "81",
        "82",
        "84",
        "86",
        "90",
        "91",
        "92",
        "93",
        "94",
        "95",
        "98",
    ]
)
_ALLOWED = re.compile(r"\+[0-9 ()\-.]+")
#: E.164 allows at most 15 digits; fewer than 7 is no reachable mobile number anywhere.
_MIN_DIGITS, _MAX_DIGITS = 7, 15


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    country_code: str
    national: str

    @property
    def e164(self) -> str:
        """ "+15551234567": what SMS providers take, and the key rate limits count by."""
        return f"+{self.country_code}{self.national}"

    @property
    def graph(self) -> str:
        """ "+1 5551234567": Graph's and Entra's way of writing it."""
        return f"+{self.country_code} {self.national}"

    @property
    def masked(self) -> str:
        """ "+1 XXXXXXXX67": enough for the person to recognise their number, for pages and logs."""
        return f"+{self.country_code} {'X' * (len(self.national) - 2)}{self.national[-2:]}"


def parse_phone(raw: str) -> PhoneNumber | None:
    """A mobile number in international form ("+44 7700 900123"), or None if it is not one."""
    text = raw.strip()
    if not _ALLOWED.fullmatch(text):
        return None
    digits = re.sub(r"[^0-9]", "", text)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS or digits[0] == "0":
        return None
    if digits[0] in "17":
        split = 1
    elif digits[:2] in _TWO_DIGIT_COUNTRY_CODES:
        split = 2
    else:
        split = 3
    national = digits[split:]
    if len(national) < 4:
        return None
    return PhoneNumber(digits[:split], national)


def mask(phone_number: str) -> str:
    """The masked form of a stored or typed number; a fixed placeholder if it does not parse."""
    parsed = parse_phone(phone_number)
    return parsed.masked if parsed else "+XX XXXXXXXX"


_ASK = "Enter your mobile phone number with + and the country code, for example +44 7700 900123."


def _prompt(phone: PhoneNumber, env: Environment, *, registering: bool) -> Prompt:
    code = codes.new_code(DIGITS)
    view: dict[str, Any] = {"destination": phone.masked, "digits": DIGITS, "valid_minutes": VALID_MINUTES}
    pending: dict[str, Any] = codes.seal(code, env)
    if registering:
        # The person just typed the number: showing it whole lets them spot a typo.
        view["phone"] = phone.graph
        pending["phoneNumber"] = phone.graph
    return Prompt(
        view=view,
        pending=pending,
        expires_at=env.now + timedelta(minutes=VALID_MINUTES),
        deliver=Delivery(channel="sms", destination=phone.e164, code=code, valid_minutes=VALID_MINUTES),
        destination=phone.e164,
    )


class Sms:
    spec = SPEC

    def begin_registration(self, subject: Subject, answer: Answer, env: Environment) -> Prompt | Rejected:
        raw = answer.get("phone", "")
        if not raw.strip():
            return Rejected(Reason.MALFORMED, _ASK, counts_as_failure=False)
        phone = parse_phone(raw)
        if phone is None:
            return Rejected(
                Reason.MALFORMED, f"That isn't a phone number Limen can text. {_ASK}", counts_as_failure=False
            )
        return _prompt(phone, env, registering=True)

    def finish_registration(
        self, subject: Subject, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Registered | Rejected:
        if (refused := codes.check(pending, answer, env, DIGITS)) is not None:
            return refused
        number = str(pending["phoneNumber"])
        # The display name is shown on the sign-in page to whoever typed the password: masked, as in Entra.
        return Registered(display_name=mask(number), data={"phoneNumber": number, "phoneType": "mobile"})

    def begin_challenge(self, subject: Subject, method: StoredMethod, env: Environment) -> Prompt | Rejected:
        phone = parse_phone(str(method.data.get("phoneNumber", "")))
        if phone is None:
            return Rejected(
                Reason.UNAVAILABLE, "This phone number can't receive codes. Use another method or add it again."
            )
        return _prompt(phone, env, registering=False)

    def verify(
        self, subject: Subject, method: StoredMethod, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Verified | Rejected:
        if (refused := codes.check(pending, answer, env, DIGITS)) is not None:
            return refused
        return Verified(log_detail=mask(str(method.data.get("phoneNumber", ""))))


METHOD = Sms()
