"""Authenticator push with number matching: numbers, the signed message, device keys (domain only)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from limen.domain import methods as registry
from limen.domain.methods import push
from limen.domain.methods.base import (
    Environment,
    Reason,
    Registered,
    Rejected,
    StoredMethod,
    Strength,
    Subject,
    Verified,
    Waiting,
)

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
ADELE = Subject(
    user_id="0f8fad5b-d9cb-469f-a165-70867728950e", user_principal_name="adele@contoso.test", display_name="Adele"
)


def digest(value: str) -> str:
    # A stand-in for the server's keyed digest (an HMAC): the domain only needs a one-way function.
    return hashlib.sha256(f"test-key:{value}".encode()).hexdigest()


def env(now: datetime = NOW) -> Environment:
    return Environment(now=now, issuer="https://id.contoso.test/", tenant_name="Contoso", digest=digest)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def device_answer(key: ec.EllipticCurvePrivateKey, code: str, **overrides: str) -> dict[str, str]:
    answer = {
        "code": code,
        "publicKey": json.dumps(push.public_jwk(key.public_key())),
        "deviceName": "Adele's phone",
        "platform": "cli",
    }
    return answer | overrides


def enrol(key: ec.EllipticCurvePrivateKey) -> tuple[StoredMethod, Registered]:
    prompt = push.METHOD.begin_registration(ADELE, {}, env())
    code = parse_qs(urlsplit(prompt.view["enrolment_uri"]).query)["code"][0]
    registered = push.METHOD.finish_registration(ADELE, prompt.pending, device_answer(key, code), env())
    assert isinstance(registered, Registered)
    stored = StoredMethod(
        id="m1",
        key=push.KEY,
        display_name=registered.display_name,
        data=registered.data,
        secret=None,
        counter=None,
        created_at=NOW,
    )
    return stored, registered


def signed(
    key: ec.EllipticCurvePrivateKey, pending: Any, decision: str, number: str, user_id: str = ADELE.user_id
) -> dict[str, str]:
    message = push.signed_message(pending["requestId"], decision, number, user_id)
    return {"decision": decision, "number": number, "signature": push.sign_answer(key, message)}


def test_spec_is_mobile_app_notification_for_mfa_only() -> None:
    assert registry.spec("microsoftAuthenticator") is push.SPEC
    assert registry.method("microsoftAuthenticator") is push.METHOD
    assert push.SPEC.log_name == "Mobile app notification"
    assert push.SPEC.graph_type == "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
    assert push.SPEC.strengths == {Strength.MFA}
    assert push.SPEC.mode == "microsoftAuthenticatorPush"
    assert not push.SPEC.phishing_resistant


# Numbers ---------------------------------------------------------------------------------------------


def test_numbers_are_two_digits_from_10_to_99_and_all_of_them_occur() -> None:
    drawn = Counter(int(push.draw_number(None)) for _ in range(20_000))
    assert set(drawn) == set(range(10, 100))


@pytest.mark.parametrize("previous", [10, 42, 98, 99])
def test_a_number_is_never_the_previous_one_and_the_others_all_occur(previous: int) -> None:
    drawn = {int(push.draw_number(previous)) for _ in range(20_000)}
    assert drawn == set(range(10, 100)) - {previous}


def test_a_previous_value_that_is_not_a_number_is_ignored() -> None:
    assert {int(push.draw_number(v)) for v in ("", "abc", 7, 100, None) for _ in range(50)} <= set(range(10, 100))


def test_begin_challenge_avoids_the_number_remembered_in_the_method_data() -> None:
    stored, _ = enrol(new_key())
    for _ in range(500):
        prompt = push.METHOD.begin_challenge(ADELE, stored, env())
        number = prompt.pending["number"]
        assert prompt.view["number"] == number and 10 <= int(number) <= 99
        assert prompt.expires_at == NOW + timedelta(seconds=60)
        # The device finds the request by the digest of its id; the number is not in any lookup.
        assert prompt.lookup_key == digest(prompt.pending["requestId"])
        following = push.METHOD.begin_challenge(ADELE, replace_data(stored, lastNumber=number), env())
        assert following.pending["number"] != number


def replace_data(stored: StoredMethod, **data: Any) -> StoredMethod:
    return StoredMethod(
        stored.id, stored.key, stored.display_name, {**stored.data, **data}, None, None, stored.created_at
    )


# Registration ----------------------------------------------------------------------------------------


def test_registration_shows_an_enrolment_uri_whose_code_is_found_by_its_digest() -> None:
    prompt = push.METHOD.begin_registration(ADELE, {}, env())
    uri = urlsplit(prompt.view["enrolment_uri"])
    assert (uri.scheme, uri.netloc) == ("limen-authenticator", "enrol")
    query = parse_qs(uri.query)
    assert query["server"] == ["https://id.contoso.test"]
    code = query["code"][0]
    assert len(code) >= 20
    assert prompt.lookup_key == digest(code)
    assert prompt.expires_at == NOW + timedelta(minutes=10)
    assert code not in json.dumps(prompt.pending).replace(prompt.pending["enrolmentUri"], "")


def test_registration_stores_the_key_and_a_token_digest_and_reveals_the_token_once() -> None:
    key = new_key()
    _, registered = enrol(key)
    token = registered.reveal["deviceToken"]
    assert registered.lookup_key == registered.reveal["deviceId"]
    assert push.device_id_of_token(token) == registered.lookup_key
    assert registered.data["publicKey"] == push.public_jwk(key.public_key())
    assert registered.data[push.TOKEN_DIGEST_FIELD] == digest(token)
    assert token not in json.dumps(dict(registered.data))
    assert (registered.data["deviceName"], registered.data["platform"]) == ("Adele's phone", "cli")
    assert registered.secret is None


def test_the_browser_asking_before_the_device_enrolled_waits_with_the_same_uri() -> None:
    prompt = push.METHOD.begin_registration(ADELE, {}, env())
    result = push.METHOD.finish_registration(ADELE, prompt.pending, {}, env(NOW + timedelta(minutes=9)))
    assert isinstance(result, Waiting)
    assert result.view["enrolment_uri"] == prompt.view["enrolment_uri"]


def test_an_enrolment_after_ten_minutes_or_with_another_code_is_refused() -> None:
    prompt = push.METHOD.begin_registration(ADELE, {}, env())
    code = parse_qs(urlsplit(prompt.view["enrolment_uri"]).query)["code"][0]
    late = push.METHOD.finish_registration(
        ADELE, prompt.pending, device_answer(new_key(), code), env(NOW + timedelta(minutes=10))
    )
    assert isinstance(late, Rejected) and late.reason is Reason.EXPIRED
    wrong = push.METHOD.finish_registration(ADELE, prompt.pending, device_answer(new_key(), code + "x"), env())
    assert isinstance(wrong, Rejected) and wrong.reason is Reason.WRONG_CODE


def _jwk(**changes: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = dict(push.public_jwk(new_key().public_key()))
    for name, value in changes.items():
        if value is None:
            jwk.pop(name, None)
        else:
            jwk[name] = value
    return jwk


def _off_curve() -> dict[str, Any]:
    jwk = _jwk()
    y = bytearray(push.b64url_decode(jwk["y"]) or b"")
    y[-1] ^= 1
    return jwk | {"y": push.b64url_encode(bytes(y))}


P256_PRIME = 2**256 - 2**224 + 2**192 + 2**96 - 1


@pytest.mark.parametrize(
    ("jwk", "why"),
    [
        (_off_curve(), "point not on the curve"),
        (_jwk(crv="P-384"), "another curve"),
        (_jwk(kty="RSA"), "another key type"),
        (_jwk(kty=None), "no key type"),
        (_jwk(x=None), "no x"),
        (_jwk(x=push.b64url_encode(b"\x01" * 31)), "x too short"),
        (_jwk(y=push.b64url_encode(b"\x01" * 33)), "y too long"),
        (_jwk(x=push.b64url_encode(P256_PRIME.to_bytes(32, "big"))), "x not below the prime"),
        (_jwk(x=push.b64url_encode(b"\x00" * 32), y=push.b64url_encode(b"\x00" * 32)), "the origin"),
        (_jwk(x="not base64!"), "x not base64url"),
        (_jwk(x=_jwk()["x"] + "="), "padded base64"),
        (_jwk(x=42), "x not a string"),
        (_jwk(d=push.b64url_encode(b"\x01" * 32)), "a private key"),
        (_jwk(alg="RS256"), "another algorithm"),
        (_jwk(use="enc"), "not for signatures"),
    ],
)
def test_device_keys_are_validated_strictly(jwk: dict[str, Any], why: str) -> None:
    assert push.public_key_from_jwk(jwk) is None, why
    prompt = push.METHOD.begin_registration(ADELE, {}, env())
    code = parse_qs(urlsplit(prompt.view["enrolment_uri"]).query)["code"][0]
    answer = device_answer(new_key(), code, publicKey=json.dumps(jwk))
    result = push.METHOD.finish_registration(ADELE, prompt.pending, answer, env())
    assert isinstance(result, Rejected) and result.reason is Reason.MALFORMED, why
    assert not result.counts_as_failure


@pytest.mark.parametrize(
    "overrides",
    [
        {"publicKey": "{not json"},
        {"publicKey": "[]"},
        {"publicKey": ""},
        {"deviceName": "   "},
        {"deviceName": "x" * 65},
        {"deviceName": "bell\x07"},
        {"platform": ""},
        {"platform": "iOS 17!"},
    ],
)
def test_device_submissions_with_bad_fields_are_refused_as_malformed(overrides: dict[str, str]) -> None:
    prompt = push.METHOD.begin_registration(ADELE, {}, env())
    code = parse_qs(urlsplit(prompt.view["enrolment_uri"]).query)["code"][0]
    result = push.METHOD.finish_registration(ADELE, prompt.pending, device_answer(new_key(), code, **overrides), env())
    assert isinstance(result, Rejected) and result.reason is Reason.MALFORMED


def test_a_stored_jwk_keeps_only_the_public_members() -> None:
    jwk = _jwk(kid="phone-1", alg="ES256", use="sig")
    key = push.public_key_from_jwk(jwk)
    assert key is not None and set(push.public_jwk(key)) == {"kty", "crv", "x", "y"}


# The signed message and verification -------------------------------------------------------------------


def test_the_signed_message_is_the_documented_lines() -> None:
    assert (
        push.signed_message("req", "approve", "42", "user") == b"limen-authenticator/v1/answer\nreq\napprove\n42\nuser"
    )
    with pytest.raises(ValueError):
        push.signed_message("req", "approve", "4\n2", "user")


def challenge(key: ec.EllipticCurvePrivateKey) -> tuple[StoredMethod, dict[str, Any]]:
    stored, _ = enrol(key)
    prompt = push.METHOD.begin_challenge(ADELE, stored, env())
    return stored, dict(prompt.pending)


def test_no_answer_yet_waits_and_shows_the_number() -> None:
    stored, pending = challenge(new_key())
    result = push.METHOD.verify(ADELE, stored, pending, {}, env(NOW + timedelta(seconds=30)))
    assert isinstance(result, Waiting) and result.view["number"] == pending["number"]


def test_approving_with_the_right_number_signed_by_the_device_passes_and_remembers_the_number() -> None:
    key = new_key()
    stored, pending = challenge(key)
    result = push.METHOD.verify(ADELE, stored, pending, signed(key, pending, "approve", pending["number"]), env())
    assert isinstance(result, Verified)
    assert result.data is not None and result.data["lastNumber"] == pending["number"]
    assert result.data["publicKey"] == stored.data["publicKey"]


def test_a_typed_number_with_spaces_is_accepted() -> None:
    key = new_key()
    stored, pending = challenge(key)
    typed = f"{pending['number'][0]} {pending['number'][1]}"
    assert isinstance(
        push.METHOD.verify(ADELE, stored, pending, signed(key, pending, "approve", typed), env()), Verified
    )


def other_number(number: str) -> str:
    return "11" if number != "11" else "12"


def test_the_wrong_number_is_refused_and_counts_as_a_failure() -> None:
    key = new_key()
    stored, pending = challenge(key)
    wrong = other_number(pending["number"])
    result = push.METHOD.verify(ADELE, stored, pending, signed(key, pending, "approve", wrong), env())
    assert isinstance(result, Rejected) and result.reason is Reason.WRONG_NUMBER and result.counts_as_failure


def test_deny_and_report() -> None:
    key = new_key()
    stored, pending = challenge(key)
    denied = push.METHOD.verify(ADELE, stored, pending, signed(key, pending, "deny", ""), env())
    assert isinstance(denied, Rejected) and denied.reason is Reason.DENIED and not denied.reported_fraud
    reported = push.METHOD.verify(ADELE, stored, pending, signed(key, pending, "report", ""), env())
    assert isinstance(reported, Rejected) and reported.reason is Reason.DENIED and reported.reported_fraud


def test_after_sixty_seconds_the_request_has_expired_even_if_approved() -> None:
    key = new_key()
    stored, pending = challenge(key)
    answer = signed(key, pending, "approve", pending["number"])
    assert isinstance(push.METHOD.verify(ADELE, stored, pending, answer, env(NOW + timedelta(seconds=59))), Verified)
    late = push.METHOD.verify(ADELE, stored, pending, answer, env(NOW + timedelta(seconds=60)))
    assert isinstance(late, Rejected) and late.reason is Reason.EXPIRED and not late.counts_as_failure


def _tampered(key: ec.EllipticCurvePrivateKey, pending: dict[str, Any], field: str) -> dict[str, str]:
    """A correctly signed answer with one field of the signed message changed afterwards."""
    number = pending["number"]
    if field == "decision":
        # Signed as a denial, presented as an approval.
        return signed(key, pending, "deny", number) | {"decision": "approve"}
    if field == "number":
        return signed(key, pending, "approve", other_number(number)) | {"number": number}
    if field == "request":
        return signed(key, pending | {"requestId": "00000000-0000-0000-0000-000000000000"}, "approve", number)
    if field == "user":
        return signed(key, pending, "approve", number, user_id="11111111-1111-1111-1111-111111111111")
    if field == "key":
        return signed(new_key(), pending, "approve", number)
    if field == "signature":
        answer = signed(key, pending, "approve", number)
        raw = bytearray(push.b64url_decode(answer["signature"]) or b"")
        raw[10] ^= 0x40
        return answer | {"signature": push.b64url_encode(bytes(raw))}
    if field == "encoding":
        return signed(key, pending, "approve", number) | {"signature": "not base64url!"}
    raise AssertionError(field)


@pytest.mark.parametrize("field", ["decision", "number", "request", "user", "key", "signature", "encoding"])
def test_changing_any_signed_field_fails_verification(field: str) -> None:
    key = new_key()
    stored, pending = challenge(key)
    result = push.METHOD.verify(ADELE, stored, pending, _tampered(key, pending, field), env())
    assert isinstance(result, Rejected) and result.reason is Reason.MALFORMED


def test_a_der_signature_is_not_accepted_only_r_and_s() -> None:
    key = new_key()
    message = push.signed_message("r", "approve", "42", "u")
    der = key.sign(message, ec.ECDSA(hashes.SHA256()))
    assert not push.check_signature(push.public_jwk(key.public_key()), message, push.b64url_encode(der))
    assert push.check_signature(push.public_jwk(key.public_key()), message, push.sign_answer(key, message))


def test_an_unknown_decision_is_malformed() -> None:
    key = new_key()
    stored, pending = challenge(key)
    answer = signed(key, pending, "approve", pending["number"]) | {"decision": "maybe"}
    result = push.METHOD.verify(ADELE, stored, pending, answer, env())
    assert isinstance(result, Rejected) and result.reason is Reason.MALFORMED


def test_device_tokens_name_their_device() -> None:
    assert push.device_id_of_token("not-a-token") is None
    assert push.device_id_of_token("0f8fad5b-d9cb-469f-a165-70867728950e.") is None
    assert push.device_id_of_token("0f8fad5b-d9cb-469f-a165-70867728950e.abc") == "0f8fad5b-d9cb-469f-a165-70867728950e"
