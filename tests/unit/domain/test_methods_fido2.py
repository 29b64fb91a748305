"""Passkeys (limen.domain.methods.fido2) against a software authenticator: registration and both kinds of
sign-in succeed, and every way a response can be wrong is refused with a Rejected, never an exception."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import pytest
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from limen.domain import methods
from limen.domain.methods import fido2
from limen.domain.methods.base import (
    ALL_STRENGTHS,
    Environment,
    Prompt,
    Reason,
    Registered,
    Rejected,
    StoredMethod,
    Subject,
    Verified,
)
from tests.support.soft_webauthn import SoftAuthenticator

ISSUER = "http://localhost:8000"
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ADELE = Subject(
    user_id="0f8fad5b-d9cb-469f-a165-70867728950e",
    user_principal_name="adele.vance@contoso.test",
    display_name="Adele Vance",
)
METHOD = fido2.METHOD


def env(issuer: str = ISSUER) -> Environment:
    return Environment(now=NOW, issuer=issuer, tenant_name="Contoso", digest=lambda value: value)


def options(prompt: Prompt | Rejected) -> dict[str, Any]:
    assert isinstance(prompt, Prompt)
    parsed: dict[str, Any] = json.loads(prompt.view["options"])
    return parsed


def register(authenticator: SoftAuthenticator, name: str = "") -> StoredMethod:
    prompt = METHOD.begin_registration(ADELE, {}, env())
    answer = {"credential": authenticator.create(options(prompt), ISSUER), "name": name}
    registered = METHOD.finish_registration(ADELE, prompt.pending, answer, env())
    assert isinstance(registered, Registered), registered
    return StoredMethod(
        id="method-1",
        key="fido2",
        display_name=registered.display_name,
        data=registered.data,
        secret=registered.secret,
        counter=registered.counter,
        created_at=NOW,
    )


def challenge(method: StoredMethod) -> Prompt:
    prompt = METHOD.begin_challenge(ADELE, method, env())
    assert isinstance(prompt, Prompt)
    return prompt


def rejected(result: object, reason: Reason) -> Rejected:
    assert isinstance(result, Rejected), result
    assert result.reason is reason, result
    assert result.message
    return result


def with_counter(method: StoredMethod, counter: int) -> StoredMethod:
    return StoredMethod(
        method.id, method.key, method.display_name, method.data, method.secret, counter, method.created_at
    )


# The spec ------------------------------------------------------------------------------------------------


def test_spec_is_a_phishing_resistant_passwordless_method_in_the_registry() -> None:
    spec = fido2.SPEC
    assert methods.spec("fido2") is spec and methods.method("fido2") is METHOD
    assert spec.graph_type == "#microsoft.graph.fido2AuthenticationMethod"
    assert spec.phishing_resistant and spec.first_factor and spec.second_factor and spec.multi_factor_alone
    assert spec.strengths == ALL_STRENGTHS and spec.mode == "fido2"


@pytest.mark.parametrize(
    ("issuer", "origin", "rp_id"),
    [
        ("http://localhost:8000", "http://localhost:8000", "localhost"),
        ("https://Login.Contoso.test", "https://login.contoso.test", "login.contoso.test"),
        ("https://login.contoso.test:443/tenant", "https://login.contoso.test", "login.contoso.test"),
        ("https://login.contoso.test:8443/", "https://login.contoso.test:8443", "login.contoso.test"),
        ("http://[::1]:8000", "http://[::1]:8000", "::1"),
    ],
)
def test_origin_and_rp_id_come_from_the_issuer(issuer: str, origin: str, rp_id: str) -> None:
    assert fido2.origin_of(issuer) == origin
    assert fido2.rp_id_of(issuer) == rp_id


# Registration --------------------------------------------------------------------------------------------


def test_registration_options_ask_for_a_discoverable_credential_with_user_verification() -> None:
    existing = bytes_to_base64url(b"\x01" * 16)
    prompt = METHOD.begin_registration(ADELE, {"exclude": f"{existing}, not*base64"}, env())
    opts = options(prompt)
    assert isinstance(prompt, Prompt) and prompt.view["ceremony"] == "create"
    assert opts["rp"] == {"id": "localhost", "name": "Contoso"}
    assert base64url_to_bytes(opts["user"]["id"]) == ADELE.user_id.encode()
    assert opts["user"]["name"] == ADELE.user_principal_name
    assert opts["authenticatorSelection"]["residentKey"] == "required"
    assert opts["authenticatorSelection"]["userVerification"] == "required"
    assert opts["attestation"] == "none"
    assert [c["id"] for c in opts["excludeCredentials"]] == [existing]
    assert prompt.pending == {"challenge": opts["challenge"]}
    assert prompt.expires_at == NOW + timedelta(minutes=fido2.CEREMONY_MINUTES)


def test_registration_stores_the_public_key_under_the_credential_id() -> None:
    authenticator = SoftAuthenticator()
    method = register(authenticator, name="  YubiKey 5 NFC  ")
    assert method.display_name == "YubiKey 5 NFC"
    assert method.data["credentialId"] == authenticator.id
    assert base64url_to_bytes(method.data["publicKey"])
    assert method.data["transports"] == ["internal"]
    assert method.data["backedUp"] is False and method.data["deviceType"] == "single_device"
    assert method.data["aaGuid"] == "00000000-0000-0000-0000-000000000000"
    assert method.counter == 0 and method.secret is None


def test_registration_without_a_name_is_called_passkey() -> None:
    assert register(SoftAuthenticator()).display_name == "Passkey"


def test_the_registered_lookup_key_is_the_credential_id() -> None:
    authenticator = SoftAuthenticator()
    prompt = METHOD.begin_registration(ADELE, {}, env())
    answer = {"credential": authenticator.create(options(prompt), ISSUER)}
    registered = METHOD.finish_registration(ADELE, prompt.pending, answer, env())
    assert isinstance(registered, Registered) and registered.lookup_key == authenticator.id


def _finish_registration(**bend: Any) -> Registered | Rejected:
    prompt = METHOD.begin_registration(ADELE, {}, env())
    opts = options(prompt)
    origin = bend.pop("origin", ISSUER)
    if bend.pop("other_challenge", False):
        opts["challenge"] = bytes_to_base64url(b"\x00" * 32)
    answer = {"credential": SoftAuthenticator().create(opts, origin, **bend)}
    return METHOD.finish_registration(ADELE, prompt.pending, answer, env())


def test_registration_refuses_another_origin() -> None:
    result = rejected(_finish_registration(origin="http://localhost:9000"), Reason.NOT_ALLOWED)
    assert "http://localhost:8000" in result.message and result.counts_as_failure


def test_registration_refuses_another_rp_id() -> None:
    rejected(_finish_registration(rp_id="evil.test"), Reason.NOT_ALLOWED)


def test_registration_refuses_another_challenge() -> None:
    assert not rejected(_finish_registration(other_challenge=True), Reason.EXPIRED).counts_as_failure


def test_registration_requires_user_verification() -> None:
    result = rejected(_finish_registration(uv=False), Reason.NOT_ALLOWED)
    assert "PIN, fingerprint or face" in result.message


def test_registration_refuses_a_public_key_that_is_not_on_its_curve() -> None:
    prompt = METHOD.begin_registration(ADELE, {}, env())
    credential = json.loads(SoftAuthenticator().create(options(prompt), ISSUER))
    attestation = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
    auth_data = bytearray(attestation["authData"])
    auth_data[-1] ^= 0x01  # the last byte of the COSE key's y coordinate
    attestation["authData"] = bytes(auth_data)
    credential["response"]["attestationObject"] = bytes_to_base64url(cbor2.dumps(attestation))
    result = METHOD.finish_registration(ADELE, prompt.pending, {"credential": json.dumps(credential)}, env())
    rejected(result, Reason.WRONG_CODE)


# Sign-in as the second step ------------------------------------------------------------------------------


def test_second_step_allows_only_this_credential_and_accepts_its_assertion() -> None:
    authenticator = SoftAuthenticator()
    method = register(authenticator, "Laptop")
    prompt = challenge(method)
    opts = options(prompt)
    assert prompt.view["ceremony"] == "get"
    assert [c["id"] for c in opts["allowCredentials"]] == [authenticator.id]
    assert opts["userVerification"] == "required" and opts["rpId"] == "localhost"
    result = METHOD.verify(ADELE, method, prompt.pending, {"credential": authenticator.get(opts, ISSUER)}, env())
    assert result == Verified(counter=1, data=None, log_detail="Laptop")


def test_a_passkey_that_does_not_count_signatures_is_accepted_at_zero() -> None:
    authenticator = SoftAuthenticator(counting=False)
    method = register(authenticator)
    for _ in range(2):
        prompt = challenge(method)
        answer = {"credential": authenticator.get(options(prompt), ISSUER)}
        assert METHOD.verify(ADELE, method, prompt.pending, answer, env()) == Verified(counter=0, log_detail="Passkey")


def test_a_sign_count_that_does_not_grow_is_refused_as_a_possible_clone() -> None:
    authenticator = SoftAuthenticator()
    method = with_counter(register(authenticator), 5)
    prompt = challenge(method)
    for count in (3, 5):
        answer = {"credential": authenticator.get(options(prompt), ISSUER, sign_count=count)}
        rejected(METHOD.verify(ADELE, method, prompt.pending, answer, env()), Reason.REPLAYED)
    answer = {"credential": authenticator.get(options(prompt), ISSUER, sign_count=6)}
    assert isinstance(METHOD.verify(ADELE, method, prompt.pending, answer, env()), Verified)


def _verify(method: StoredMethod, authenticator: SoftAuthenticator, **bend: Any) -> Verified | Rejected:
    prompt = challenge(method)
    opts = options(prompt)
    origin = bend.pop("origin", ISSUER)
    if bend.pop("other_challenge", False):
        opts["challenge"] = bytes_to_base64url(b"\x00" * 32)
    credential = authenticator.get(opts, origin, **bend)
    return METHOD.verify(ADELE, method, prompt.pending, {"credential": credential}, env())


@pytest.fixture
def adele_key() -> tuple[SoftAuthenticator, StoredMethod]:
    authenticator = SoftAuthenticator()
    return authenticator, register(authenticator)


def test_assertion_from_another_origin_is_refused(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    authenticator, method = adele_key
    result = rejected(_verify(method, authenticator, origin="https://login.contoso-secure.test"), Reason.NOT_ALLOWED)
    assert result.counts_as_failure


def test_assertion_for_another_rp_id_is_refused(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    authenticator, method = adele_key
    rejected(_verify(method, authenticator, rp_id="contoso-secure.test"), Reason.NOT_ALLOWED)


def test_assertion_for_another_challenge_is_refused(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    authenticator, method = adele_key
    assert not rejected(_verify(method, authenticator, other_challenge=True), Reason.EXPIRED).counts_as_failure


def test_assertion_without_user_verification_is_refused(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    authenticator, method = adele_key
    rejected(_verify(method, authenticator, uv=False), Reason.NOT_ALLOWED)


def test_assertion_with_a_bad_signature_is_refused(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    authenticator, method = adele_key
    prompt = challenge(method)
    credential = json.loads(authenticator.get(options(prompt), ISSUER))
    signature = bytearray(base64url_to_bytes(credential["response"]["signature"]))
    signature[-1] ^= 0x01
    credential["response"]["signature"] = bytes_to_base64url(bytes(signature))
    result = METHOD.verify(ADELE, method, prompt.pending, {"credential": json.dumps(credential)}, env())
    assert rejected(result, Reason.WRONG_CODE).counts_as_failure


def test_assertion_signed_by_another_key_under_the_same_id_is_refused(
    adele_key: tuple[SoftAuthenticator, StoredMethod],
) -> None:
    _, method = adele_key
    impostor = SoftAuthenticator(credential_id=base64url_to_bytes(method.data["credentialId"]))
    impostor.user_handle = ADELE.user_id.encode()
    rejected(_verify(method, impostor), Reason.WRONG_CODE)


def test_assertion_from_another_credential_is_refused(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    _, method = adele_key
    other = SoftAuthenticator(user_handle=ADELE.user_id.encode())
    rejected(_verify(method, other), Reason.NOT_ALLOWED)


def test_assertion_naming_another_user_is_refused(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    authenticator, method = adele_key
    authenticator.user_handle = b"someone-else"
    rejected(_verify(method, authenticator), Reason.NOT_ALLOWED)


def test_a_method_without_its_key_material_is_unavailable() -> None:
    broken = StoredMethod("m", "fido2", "Passkey", {}, None, 0, NOW)
    rejected(METHOD.begin_challenge(ADELE, broken, env()), Reason.UNAVAILABLE)


# Passwordless sign-in ------------------------------------------------------------------------------------


def test_passwordless_offers_any_discoverable_credential_and_finds_the_method_by_id(
    adele_key: tuple[SoftAuthenticator, StoredMethod],
) -> None:
    authenticator, method = adele_key
    prompt = fido2.passwordless_options(env())
    opts = options(prompt)
    assert opts["allowCredentials"] == [] and opts["userVerification"] == "required"
    answer = {"credential": authenticator.get(opts, ISSUER)}
    assert fido2.credential_id(answer) == method.data["credentialId"]
    assert isinstance(METHOD.verify(ADELE, method, prompt.pending, answer, env()), Verified)


# Malformed responses -------------------------------------------------------------------------------------

GARBAGE = [
    "",
    "not json",
    "[]",
    "null",
    '"a string"',
    "{}",
    '{"id": 5, "response": {}}',
    '{"id": "AAAA", "response": "x"}',
    '{"id": "not base64!", "response": {}}',
    '{"id": "AAAA", "response": {}}',
    '{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"clientDataJSON": 7}}',
    '{"id": "AAAA", "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AA"}}',
    '{"id": "\\ud800", "response": {}}',
    "x" * (fido2.MAX_RESPONSE_CHARS + 1),
]


@pytest.mark.parametrize("raw", GARBAGE)
def test_malformed_responses_are_rejected_without_counting(
    raw: str, adele_key: tuple[SoftAuthenticator, StoredMethod]
) -> None:
    _, method = adele_key
    pending = challenge(method).pending
    for result in (
        METHOD.verify(ADELE, method, pending, {"credential": raw}, env()),
        METHOD.finish_registration(ADELE, pending, {"credential": raw}, env()),
    ):
        assert isinstance(result, Rejected)
        assert result.reason in (Reason.MALFORMED, Reason.NOT_ALLOWED)
    assert fido2.credential_id({"credential": raw}) in (None, "AAAA")


def test_a_missing_credential_field_is_malformed(adele_key: tuple[SoftAuthenticator, StoredMethod]) -> None:
    _, method = adele_key
    result = METHOD.verify(ADELE, method, challenge(method).pending, {}, env())
    assert not rejected(result, Reason.MALFORMED).counts_as_failure
    assert fido2.credential_id({}) is None


def _mutations(value: Any, rng: random.Random) -> Any:
    """The same JSON with one leaf replaced by something of another shape or a corrupted string."""
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        return {**value, key: _mutations(value[key], rng)}
    if isinstance(value, str) and value and rng.random() < 0.6:
        i = rng.randrange(len(value))
        return value[:i] + rng.choice(["", "A", "-", "=", "%", "é", "\x00"]) + value[i + 1 :]
    return rng.choice([None, 0, -1, 2**70, 1.5, True, "", "AAAA", [], {}, ["internal"]])


#: Fields a verifier ignores or only records, and the user handle (not signed, and optional in an
#: assertion): changing them may leave a response valid. A foreign user handle has its own test.
_IGNORED = {"clientExtensionResults", "transports", "authenticatorAttachment", "userHandle"}


#: With attestation "none" nothing signs the attestation object: an altered AAGUID, flag or key is
#: accepted at registration (an altered key then fails every sign-in), so only its shape is checked.
_UNSIGNED_AT_REGISTRATION = _IGNORED | {"attestationObject"}


def _changed_only(ignored: set[str], original: Mapping[str, Any], mutated: Mapping[str, Any]) -> bool:
    for key in original:
        if original[key] == mutated[key] or key in ignored:
            continue
        if isinstance(original[key], dict) and isinstance(mutated[key], dict):
            return _changed_only(ignored, original[key], mutated[key])
        return False
    return True


def test_randomly_corrupted_responses_are_rejected_never_raised(
    adele_key: tuple[SoftAuthenticator, StoredMethod],
) -> None:
    authenticator, method = adele_key
    rng = random.Random(20250301)
    prompt = challenge(method)
    assertion = json.loads(authenticator.get(options(prompt), ISSUER, sign_count=100))
    registration_prompt = METHOD.begin_registration(ADELE, {}, env())
    attestation = json.loads(SoftAuthenticator().create(options(registration_prompt), ISSUER))
    for _ in range(300):
        mutated = _mutations(assertion, rng)
        result = METHOD.verify(ADELE, method, prompt.pending, {"credential": json.dumps(mutated)}, env())
        assert isinstance(result, Rejected) or _changed_only(_IGNORED, assertion, mutated), (mutated, result)
        mutated = _mutations(attestation, rng)
        answer = {"credential": json.dumps(mutated)}
        result = METHOD.finish_registration(ADELE, registration_prompt.pending, answer, env())
        valid = _changed_only(_UNSIGNED_AT_REGISTRATION, attestation, mutated)
        assert isinstance(result, Rejected) or valid, (mutated, result)
