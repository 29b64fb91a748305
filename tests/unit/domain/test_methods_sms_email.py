"""Text-message and e-mail codes (SPEC.md §10): number and address parsing, code lengths and lifetimes,
codes kept only as salted digests, and what counts as a failed try."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from limen.domain import methods
from limen.domain.methods import email, sms
from limen.domain.methods.base import (
    Environment,
    Prompt,
    Reason,
    Registered,
    Rejected,
    StoredMethod,
    Strength,
    Subject,
    Verified,
)
from limen.domain.session import CompletedMethod, is_multi_factor

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ADELE = Subject(user_id="u1", user_principal_name="adele@contoso.test", display_name="Adele Vance")


def _env(key: str = "server-key", now: datetime = NOW) -> Environment:
    def digest(value: str) -> str:
        return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()

    return Environment(now=now, issuer="https://login.contoso.test", tenant_name="Contoso", digest=digest)


def _stored(key: str, data: dict[str, Any]) -> StoredMethod:
    return StoredMethod(
        id="m1", key=key, display_name="x", data=data, secret=None, counter=None, created_at=NOW - timedelta(days=1)
    )


def _prompt(result: Prompt | Rejected) -> Prompt:
    assert isinstance(result, Prompt), result
    return result


# ---- phone numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164", "graph"),
    [
        ("+1 555 123 4567", "+15551234567", "+1 5551234567"),
        ("+15551234567", "+15551234567", "+1 5551234567"),
        ("+1 (555) 123-4567", "+15551234567", "+1 5551234567"),
        ("+44 20 7946 0000", "+442079460000", "+44 2079460000"),
        ("+447700900123", "+447700900123", "+44 7700900123"),
        ("+353 1 234 5678", "+35312345678", "+353 12345678"),  # three-digit country code
        ("+7 912 345-67-89", "+79123456789", "+7 9123456789"),
        ("  +86 139 1234 5678 ", "+8613912345678", "+86 13912345678"),
        ("+49.151.12345678", "+4915112345678", "+49 15112345678"),
    ],
)
def test_phone_numbers_in_international_form_parse_to_e164_and_graph_form(typed: str, e164: str, graph: str) -> None:
    phone = sms.parse_phone(typed)
    assert phone is not None
    assert (phone.e164, phone.graph) == (e164, graph)


@pytest.mark.parametrize(
    "typed",
    [
        "555 123 4567",  # no country code
        "0044 20 7946 0000",  # international prefix instead of +
        "+0 5551234567",  # no country code starts with 0
        "+1 555",  # too short
        "+1 555 123 4567 8901 23",  # more than 15 digits
        "+1 555 123 4567 x123",  # extensions are for office phones, not texts
        "+1 555-CALL-NOW",
        "+44 20 7946 0000\n+1 555 123 4567",
        "",
        "+",
    ],
)
def test_anything_else_is_not_a_phone_number(typed: str) -> None:
    assert sms.parse_phone(typed) is None


def test_masked_numbers_keep_the_country_code_and_the_last_two_digits() -> None:
    assert sms.mask("+1 5551234567") == "+1 XXXXXXXX67"
    assert sms.mask("+44 7700900123") == "+44 XXXXXXXX23"
    assert sms.mask("nonsense") == "+XX XXXXXXXX"


# ---- SMS registration and sign-in ----------------------------------------------------------------------


def test_sms_registration_texts_a_six_digit_code_valid_five_minutes_and_keeps_only_its_digest() -> None:
    env = _env()
    prompt = _prompt(sms.METHOD.begin_registration(ADELE, {"phone": "+1 (555) 123-4567"}, env))
    assert prompt.deliver is not None
    code = prompt.deliver.code
    assert len(code) == 6 and code.isdigit()
    assert (prompt.deliver.channel, prompt.deliver.destination, prompt.deliver.valid_minutes) == (
        "sms",
        "+15551234567",
        5,
    )
    assert prompt.destination == "+15551234567"
    assert prompt.expires_at == NOW + timedelta(minutes=5)
    # The code is neither in the page's view nor in the pending state, only its salted digest is.
    assert code not in json.dumps(dict(prompt.view)).replace("+1 5551234567", "")
    assert code not in prompt.pending.values()
    assert set(prompt.pending) == {"salt", "digest", "phoneNumber"}
    assert prompt.pending["digest"] == env.digest(prompt.pending["salt"] + code)
    assert prompt.view["phone"] == "+1 5551234567" and prompt.view["destination"] == "+1 XXXXXXXX67"

    done = sms.METHOD.finish_registration(ADELE, prompt.pending, {"code": f"{code[:3]} {code[3:]}"}, env)
    assert isinstance(done, Registered)
    assert dict(done.data) == {"phoneNumber": "+1 5551234567", "phoneType": "mobile"}
    # Shown on the sign-in page to whoever typed the password: masked.
    assert done.display_name == "+1 XXXXXXXX67"
    assert done.secret is None


def test_sms_registration_asks_for_a_number_before_sending_anything() -> None:
    missing = sms.METHOD.begin_registration(ADELE, {}, _env())
    bad = sms.METHOD.begin_registration(ADELE, {"phone": "555 1234"}, _env())
    for result in (missing, bad):
        assert isinstance(result, Rejected)
        assert result.reason is Reason.MALFORMED and not result.counts_as_failure
        assert "country code" in result.message


def test_a_wrong_code_counts_as_a_failure_and_a_malformed_one_does_not() -> None:
    env = _env()
    prompt = _prompt(sms.METHOD.begin_registration(ADELE, {"phone": "+15551234567"}, env))
    assert prompt.deliver is not None
    wrong = "000000" if prompt.deliver.code != "000000" else "111111"
    refused = sms.METHOD.finish_registration(ADELE, prompt.pending, {"code": wrong}, env)
    assert isinstance(refused, Rejected) and refused.reason is Reason.WRONG_CODE and refused.counts_as_failure
    for shape in ("12345", "1234567", "12345a", "", "١٢٣٤٥٦"):  # the last: Arabic-Indic digits
        malformed = sms.METHOD.finish_registration(ADELE, prompt.pending, {"code": shape}, env)
        assert isinstance(malformed, Rejected) and malformed.reason is Reason.MALFORMED
        assert not malformed.counts_as_failure


def test_sms_challenge_texts_the_stored_number_and_logs_it_masked() -> None:
    env = _env()
    method = _stored("sms", {"phoneNumber": "+44 7700900123", "phoneType": "mobile"})
    prompt = _prompt(sms.METHOD.begin_challenge(ADELE, method, env))
    assert prompt.deliver is not None and prompt.deliver.destination == "+447700900123"
    assert dict(prompt.view) == {"destination": "+44 XXXXXXXX23", "digits": 6, "valid_minutes": 5}
    assert set(prompt.pending) == {"salt", "digest"}
    verified = sms.METHOD.verify(ADELE, method, prompt.pending, {"code": prompt.deliver.code}, env)
    assert isinstance(verified, Verified)
    assert verified.log_detail == "+44 XXXXXXXX23" and verified.counter is None


def test_each_prompt_has_its_own_code_and_salt_so_an_old_code_does_not_answer_a_new_prompt() -> None:
    env = _env()
    method = _stored("sms", {"phoneNumber": "+1 5551234567"})
    first = _prompt(sms.METHOD.begin_challenge(ADELE, method, env))
    second = _prompt(sms.METHOD.begin_challenge(ADELE, method, env))
    assert first.pending["salt"] != second.pending["salt"]
    assert first.deliver is not None and second.deliver is not None
    if first.deliver.code != second.deliver.code:  # one chance in a million that they are equal
        old = sms.METHOD.verify(ADELE, method, second.pending, {"code": first.deliver.code}, env)
        assert isinstance(old, Rejected) and old.reason is Reason.WRONG_CODE


def test_codes_are_checked_under_the_servers_key() -> None:
    prompt = _prompt(sms.METHOD.begin_challenge(ADELE, _stored("sms", {"phoneNumber": "+15551234567"}), _env()))
    assert prompt.deliver is not None
    other_server = sms.METHOD.verify(
        ADELE, _stored("sms", {}), prompt.pending, {"code": prompt.deliver.code}, _env(key="another-key")
    )
    assert isinstance(other_server, Rejected) and other_server.reason is Reason.WRONG_CODE


def test_codes_are_uniformly_drawn_six_digit_strings_with_leading_zeros_kept() -> None:
    env = _env()
    method = _stored("sms", {"phoneNumber": "+15551234567"})
    drawn = set()
    for _ in range(300):
        prompt = _prompt(sms.METHOD.begin_challenge(ADELE, method, env))
        assert prompt.deliver is not None
        drawn.add(prompt.deliver.code)
    assert all(len(code) == 6 and code.isdigit() for code in drawn)
    assert len(drawn) > 290  # 300 draws from a million collide rarely
    assert {code[0] for code in drawn} >= set("0123456789")


def test_a_stored_number_that_no_longer_parses_is_unavailable_not_a_crash() -> None:
    result = sms.METHOD.begin_challenge(ADELE, _stored("sms", {"phoneNumber": "call me"}), _env())
    assert isinstance(result, Rejected) and result.reason is Reason.UNAVAILABLE


# ---- e-mail ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("adele@contoso.com", "adele@contoso.com"),
        (" Adele.Vance+mfa@Contoso.COM ", "Adele.Vance+mfa@contoso.com"),
        ("o'brien@mail.example.co.uk", "o'brien@mail.example.co.uk"),
        ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
    ],
)
def test_sane_addresses_parse_with_the_domain_in_lower_case(typed: str, parsed: str) -> None:
    assert email.parse_address(typed) == parsed


@pytest.mark.parametrize(
    "typed",
    [
        "adele",
        "adele@",
        "@contoso.com",
        "adele@contoso",
        "adele@@contoso.com",
        "ad ele@contoso.com",
        "adele.@contoso.com",
        "ad..ele@contoso.com",
        "adele@contoso..com",
        "adele@-contoso.com",
        "adele@contoso.c0m",
        '"adele"@contoso.com',
        "adele@contoso.com\r\nBcc: all@contoso.com",
        "a" * 65 + "@contoso.com",
        "adele@" + "a" * 250 + ".com",
    ],
)
def test_anything_else_is_not_an_address(typed: str) -> None:
    assert email.parse_address(typed) is None


def test_masked_addresses_show_two_letters_and_hide_the_length() -> None:
    assert email.mask("adele.vance@contoso.com") == "ad*****@contoso.com"
    assert email.mask("bo@contoso.com") == "b*****@contoso.com"


def test_email_registration_sends_an_eight_digit_code_valid_ten_minutes() -> None:
    env = _env()
    prompt = _prompt(email.METHOD.begin_registration(ADELE, {"email": "Adele.Vance@Contoso.com"}, env))
    assert prompt.deliver is not None
    code = prompt.deliver.code
    assert len(code) == 8 and code.isdigit()
    assert (prompt.deliver.channel, prompt.deliver.destination, prompt.deliver.valid_minutes) == (
        "email",
        "Adele.Vance@contoso.com",
        10,
    )
    # One mailbox, one rate limit, however its owner capitalises it.
    assert prompt.destination == "adele.vance@contoso.com"
    assert prompt.expires_at == NOW + timedelta(minutes=10)
    assert set(prompt.pending) == {"salt", "digest", "emailAddress"}
    six = email.METHOD.finish_registration(ADELE, prompt.pending, {"code": code[:6]}, env)
    assert isinstance(six, Rejected) and six.reason is Reason.MALFORMED
    done = email.METHOD.finish_registration(ADELE, prompt.pending, {"code": f"{code[:4]}-{code[4:]}"}, env)
    assert isinstance(done, Registered)
    assert dict(done.data) == {"emailAddress": "Adele.Vance@contoso.com"}
    assert done.display_name == "Ad*****@contoso.com"


def test_email_challenge_and_verify() -> None:
    env = _env()
    method = _stored("email", {"emailAddress": "adele@contoso.com"})
    prompt = _prompt(email.METHOD.begin_challenge(ADELE, method, env))
    assert prompt.deliver is not None and prompt.deliver.destination == "adele@contoso.com"
    assert prompt.view["destination"] == "ad*****@contoso.com"
    wrong = email.METHOD.verify(ADELE, method, prompt.pending, {"code": "0" * 8}, env)
    right = email.METHOD.verify(ADELE, method, prompt.pending, {"code": prompt.deliver.code}, env)
    if prompt.deliver.code != "0" * 8:
        assert isinstance(wrong, Rejected) and wrong.reason is Reason.WRONG_CODE
    assert isinstance(right, Verified) and right.log_detail == "ad*****@contoso.com"


def test_email_registration_asks_for_an_address() -> None:
    for answer in ({}, {"email": "not an address"}):
        result = email.METHOD.begin_registration(ADELE, answer, _env())
        assert isinstance(result, Rejected) and result.reason is Reason.MALFORMED and not result.counts_as_failure


# ---- what the methods are --------------------------------------------------------------------------------


def test_specs_sms_counts_for_mfa_email_for_no_strength_both_are_possession_second_factors() -> None:
    assert methods.method("sms") is sms.METHOD and methods.method("email") is email.METHOD
    assert sms.SPEC.graph_type == "#microsoft.graph.phoneAuthenticationMethod"
    assert email.SPEC.graph_type == "#microsoft.graph.emailAuthenticationMethod"
    assert (sms.SPEC.log_name, email.SPEC.log_name) == ("Text message", "Email verification code")
    assert (sms.SPEC.amr, email.SPEC.amr) == (("sms",), ("otp",))
    assert sms.SPEC.strengths == frozenset({Strength.MFA})
    assert email.SPEC.strengths == frozenset()
    for spec in (sms.SPEC, email.SPEC):
        assert spec.second_factor and spec.self_service and not spec.first_factor and not spec.multi_factor_alone
    password = CompletedMethod("password", "pwd", "knowledge", NOW)
    texted = CompletedMethod("sms", "sms", sms.SPEC.factor.value, NOW)
    mailed = CompletedMethod("email", "otp", email.SPEC.factor.value, NOW)
    assert is_multi_factor((password, texted)) and is_multi_factor((password, mailed))
    assert not is_multi_factor((texted,))
