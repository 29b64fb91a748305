"""Authenticator app codes: RFC 6238 appendix B vectors, the ±1 step window, replay and bad input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from limen.domain.methods.base import Environment, Reason, Registered, Rejected, StoredMethod, Subject, Verified
from limen.domain.methods.totp import METHOD, matching_step, normalise_code

# RFC 6238 appendix B, SHA-1 rows: the seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
SUBJECT = Subject("u1", "adele@contoso.test", "Adele")
NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def env(now: datetime = NOW) -> Environment:
    return Environment(now=now, issuer="https://id.contoso.test", tenant_name="Contoso", digest=lambda v: v)


def stored(secret: str, counter: int | None = None) -> StoredMethod:
    return StoredMethod("m1", "softwareOath", "Authenticator app", {}, secret, counter, NOW)


@pytest.mark.parametrize(("unix_time", "eight_digits"), RFC_VECTORS)
def test_rfc_6238_vectors(unix_time: int, eight_digits: str) -> None:
    when = datetime.fromtimestamp(unix_time, tz=UTC)
    # TOTP truncates modulo 10^digits, so the 6-digit code is the vector's last six digits.
    assert matching_step(RFC_SECRET, eight_digits[-6:], when) == unix_time // 30
    assert pyotp.TOTP(RFC_SECRET, digits=8).at(when) == eight_digits


def test_one_step_either_side_is_accepted_and_no_further() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    for offset, accepted in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        code = totp.at(NOW + timedelta(seconds=offset))
        assert (matching_step(secret, code, NOW) is not None) is accepted, offset


def test_registration_needs_a_current_code_and_stores_the_step() -> None:
    prompt = METHOD.begin_registration(SUBJECT, {}, env())
    secret = prompt.pending["secret"]
    assert prompt.view["otpauth_uri"].startswith("otpauth://totp/Contoso:adele%40contoso.test?secret=")
    wrong = METHOD.finish_registration(SUBJECT, prompt.pending, {"code": "000000"}, env())
    if isinstance(wrong, Rejected):
        assert wrong.reason is Reason.WRONG_CODE
    done = METHOD.finish_registration(SUBJECT, prompt.pending, {"code": pyotp.TOTP(secret).at(NOW)}, env())
    assert isinstance(done, Registered) and done.secret == secret and done.counter == pyotp.TOTP(secret).timecode(NOW)


def test_a_step_is_accepted_once() -> None:
    secret = pyotp.random_base32()
    code = pyotp.TOTP(secret).at(NOW)
    first = METHOD.verify(SUBJECT, stored(secret), {}, {"code": code}, env())
    assert isinstance(first, Verified)
    again = METHOD.verify(SUBJECT, stored(secret, first.counter), {}, {"code": code}, env())
    assert isinstance(again, Rejected) and again.reason is Reason.REPLAYED
    # An older step than the last accepted one is refused too.
    older = pyotp.TOTP(secret).at(NOW - timedelta(seconds=30))
    late = METHOD.verify(SUBJECT, stored(secret, first.counter), {}, {"code": older}, env())
    assert isinstance(late, Rejected) and late.reason is Reason.REPLAYED


@pytest.mark.parametrize("raw", ["", "12345", "1234567", "12a456", "１２３４５６", "123-456", " " * 6])
def test_malformed_codes_are_not_guesses(raw: str) -> None:
    assert normalise_code(raw) is None
    result = METHOD.verify(SUBJECT, stored(pyotp.random_base32()), {}, {"code": raw}, env())
    assert isinstance(result, Rejected) and result.reason is Reason.MALFORMED and not result.counts_as_failure


def test_spaces_inside_a_code_are_ignored() -> None:
    assert normalise_code(" 123 456 ") == "123456"
