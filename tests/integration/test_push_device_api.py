"""The authenticator device API over HTTP (/authenticator/v1) with the method runner and a real database.

A "device" here is what `limen-authenticator` is: a P-256 key pair and a bearer token from enrolment.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from limen.domain.clock import FrozenClock
from limen.domain.methods import push
from limen.domain.methods.base import Reason, Rejected, Waiting
from limen.service.context import Services
from limen.service.methods import runner
from limen.service.signin import RequestMeta
from limen.store.db import transaction
from limen.store.models import AuthMethod, MethodChallenge, RiskDetection, User
from tests.support.seed import add_user

META = RequestMeta(ip_address="203.0.113.7", user_agent="pytest")
API = "/authenticator/v1"


@dataclass
class Device:
    key: ec.EllipticCurvePrivateKey
    device_id: str
    token: str
    user_id: str
    method_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def fresh(db: Session, user_id: str) -> User:
    user = db.get(User, user_id)
    assert user is not None
    return user


def start_registration(services: Services, tenant_id: str, user: User) -> tuple[str, str]:
    """The "add authenticator app" page: returns (challenge id, enrolment code)."""
    with transaction(services.db) as db:
        started = runner.start_registration(db, services, tenant_id, fresh(db, user.id), push.KEY, {}, META)
    assert isinstance(started, runner.Started)
    code = parse_qs(urlsplit(started.view["enrolment_uri"]).query)["code"][0]
    return started.challenge_id, code


def enrol_body(key: ec.EllipticCurvePrivateKey, code: str, **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "publicKey": push.public_jwk(key.public_key()),
        "deviceName": "Adele's phone",
        "platform": "cli",
    } | changes


def enrol(client: TestClient, services: Services, tenant_id: str, user: User) -> Device:
    _, code = start_registration(services, tenant_id, user)
    key = ec.generate_private_key(ec.SECP256R1())
    response = client.post(f"{API}/enrol", json=enrol_body(key, code))
    assert response.status_code == 201, response.text
    body = response.json()
    with services.db() as db:
        method = db.scalars(sa.select(AuthMethod).where(AuthMethod.lookup_key == body["deviceId"])).one()
    return Device(key, body["deviceId"], body["deviceToken"], user.id, method.id)


def start_signin(services: Services, tenant_id: str, device: Device) -> runner.Started:
    """The MFA page of a sign-in: starts a push request to `device`."""
    with transaction(services.db) as db:
        user = db.get(User, device.user_id)
        method = db.get(AuthMethod, device.method_id)
        assert user is not None and method is not None
        started = runner.start_challenge(db, services, tenant_id, user, method, "signin", META, "Contoso Portal")
    assert isinstance(started, runner.Started)
    return started


def check(services: Services, tenant_id: str, user_id: str, challenge_id: str) -> Any:
    """The MFA page re-posting its form: what the runner makes of the device's answer."""
    with transaction(services.db) as db:
        user = db.get(User, user_id)
        assert user is not None
        return runner.answer_challenge(db, services, tenant_id, user, challenge_id, {}, META)


def only_request(client: TestClient, device: Device) -> dict[str, Any]:
    response = client.get(f"{API}/requests", headers=device.headers)
    assert response.status_code == 200, response.text
    [request] = response.json()["value"]
    return dict(request)


def answer(client: TestClient, device: Device, request_id: str, decision: str, number: str, *, key: Any = None) -> Any:
    message = push.signed_message(request_id, decision, number, device.user_id)
    signature = push.sign_answer(key or device.key, message)
    return client.post(
        f"{API}/requests/{request_id}",
        json={"decision": decision, "number": number, "signature": signature},
        headers=device.headers,
    )


def challenge_row(services: Services, challenge_id: str) -> MethodChallenge:
    with services.db() as db:
        row = db.get(MethodChallenge, challenge_id)
        assert row is not None
        return row


def risk_rows(services: Services) -> list[RiskDetection]:
    with services.db() as db:
        return list(db.scalars(sa.select(RiskDetection)))


@pytest.fixture
def device(client: TestClient, services: Services, tenant_id: str, user: User) -> Device:
    return enrol(client, services, tenant_id, user)


# Enrolment -------------------------------------------------------------------------------------------


def test_enrolment_registers_the_device_and_the_page_then_sees_it(
    client: TestClient, services: Services, tenant_id: str, user: User
) -> None:
    challenge_id, code = start_registration(services, tenant_id, user)
    with transaction(services.db) as db:
        before = runner.finish_registration(db, services, tenant_id, fresh(db, user.id), challenge_id, {}, META)
    assert isinstance(before, Waiting) and before.view["enrolment_uri"].startswith("limen-authenticator://enrol?")

    key = ec.generate_private_key(ec.SECP256R1())
    response = client.post(f"{API}/enrol", json=enrol_body(key, code))
    assert response.status_code == 201
    body = response.json()
    assert body["userPrincipalName"] == user.user_principal_name
    assert body["userId"] == user.id
    assert body["tenantName"]
    assert response.headers["cache-control"] == "no-store"

    with transaction(services.db) as db:
        after = runner.finish_registration(db, services, tenant_id, fresh(db, user.id), challenge_id, {}, META)
        assert isinstance(after, runner.Registration)
        method = after.method
        assert (method.kind, method.lookup_key, method.display_name) == (push.KEY, body["deviceId"], "Adele's phone")
        assert method.data["publicKey"] == push.public_jwk(key.public_key())
        # The token itself is nowhere in the database, only its keyed digest.
        assert body["deviceToken"] not in str(method.data)

    # The code was single-use.
    again = client.post(f"{API}/enrol", json=enrol_body(ec.generate_private_key(ec.SECP256R1()), code))
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalidEnrolmentCode"


def test_unknown_and_expired_codes_are_refused_clearly(
    client: TestClient, services: Services, clock: FrozenClock, tenant_id: str, user: User
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    unknown = client.post(f"{API}/enrol", json=enrol_body(key, "no-such-code"))
    assert unknown.status_code == 400
    assert "expired or was already used" in unknown.json()["error"]["message"]

    _, code = start_registration(services, tenant_id, user)
    clock.advance(timedelta(minutes=10))
    expired = client.post(f"{API}/enrol", json=enrol_body(key, code))
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invalidEnrolmentCode"
    with services.db() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(AuthMethod)) == 0


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ("not json", 400, "not valid JSON"),
        ([], 400, "JSON object"),
        ({"publicKey": {}, "deviceName": "x", "platform": "cli"}, 422, "code"),
        ({"code": "c", "deviceName": "x", "platform": "cli"}, 422, "publicKey"),
        ({"code": "c", "publicKey": "pem?", "deviceName": "x", "platform": "cli"}, 422, "publicKey"),
        ({"code": "c", "publicKey": {}, "platform": "cli"}, 422, "deviceName"),
        ({"code": 5, "publicKey": {}, "deviceName": "x", "platform": "cli"}, 422, "code"),
    ],
)
def test_malformed_enrolments_get_clear_errors(client: TestClient, body: Any, status: int, says: str) -> None:
    if isinstance(body, str):
        response = client.post(f"{API}/enrol", content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(f"{API}/enrol", json=body)
    assert response.status_code == status
    assert says in response.json()["error"]["message"]


def test_an_invalid_key_leaves_the_code_usable(
    client: TestClient, services: Services, tenant_id: str, user: User
) -> None:
    _, code = start_registration(services, tenant_id, user)
    key = ec.generate_private_key(ec.SECP256R1())
    bad = enrol_body(key, code, publicKey=push.public_jwk(key.public_key()) | {"crv": "P-384"})
    response = client.post(f"{API}/enrol", json=bad)
    assert response.status_code == 422 and "P-256" in response.json()["error"]["message"]
    assert client.post(f"{API}/enrol", json=enrol_body(key, code)).status_code == 201


# Requests and answers --------------------------------------------------------------------------------


def test_approving_with_the_right_number_passes(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    started = start_signin(services, tenant_id, device)
    number = started.view["number"]
    assert isinstance(check(services, tenant_id, device.user_id, started.challenge_id), Waiting)

    request = only_request(client, device)
    assert request["appDisplayName"] == "Contoso Portal"
    assert request["ipAddress"] == "203.0.113.7"
    assert request["userPrincipalName"] == "adele.vance@contoso.test"
    assert request["expiresDateTime"] > request["requestedDateTime"]
    # Number matching: the device is never told the number. The fields are fixed and none
    # carries it (a substring search would trip on "11" inside an IP address or an id).
    assert set(request) == {
        "id",
        "appDisplayName",
        "ipAddress",
        "location",
        "requestedDateTime",
        "expiresDateTime",
        "userPrincipalName",
    }
    assert number not in {str(value) for value in request.values()}

    response = answer(client, device, request["id"], "approve", number)
    assert response.status_code == 202
    assert challenge_row(services, started.challenge_id).status == "answered"
    # An answered request is no longer listed.
    assert client.get(f"{API}/requests", headers=device.headers).json() == {"value": []}

    result = check(services, tenant_id, device.user_id, started.challenge_id)
    assert isinstance(result, runner.Passed)
    assert result.completed.method == push.KEY and result.completed.amr == "swk"
    assert challenge_row(services, started.challenge_id).status == "completed"
    # The number is remembered, so the next request shows another one.
    with services.db() as db:
        method = db.get(AuthMethod, device.method_id)
        assert method is not None and method.data["lastNumber"] == number


def test_the_wrong_number_fails_the_sign_in(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    started = start_signin(services, tenant_id, device)
    wrong = "11" if started.view["number"] != "11" else "12"
    request = only_request(client, device)
    assert answer(client, device, request["id"], "approve", wrong).status_code == 202
    result = check(services, tenant_id, device.user_id, started.challenge_id)
    assert isinstance(result, Rejected) and result.reason is Reason.WRONG_NUMBER
    assert challenge_row(services, started.challenge_id).status == "failed"
    with services.db() as db:
        method = db.get(AuthMethod, device.method_id)
        assert method is not None and method.failed_attempts == 1


def test_deny_fails_the_sign_in_without_risk(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    started = start_signin(services, tenant_id, device)
    request = only_request(client, device)
    assert answer(client, device, request["id"], "deny", "").status_code == 202
    result = check(services, tenant_id, device.user_id, started.challenge_id)
    assert isinstance(result, Rejected) and result.reason is Reason.DENIED and not result.reported_fraud
    assert risk_rows(services) == []


def test_deny_and_report_records_user_risk(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    started = start_signin(services, tenant_id, device)
    request = only_request(client, device)
    assert answer(client, device, request["id"], "report", "").status_code == 202

    [risk] = risk_rows(services)
    assert (risk.user_id, risk.risk_event_type, risk.risk_level, risk.risk_state) == (
        device.user_id,
        "userReportedSuspiciousActivity",
        "high",
        "atRisk",
    )
    assert (risk.detection_timing_type, risk.activity, risk.ip_address) == ("realtime", "signin", "203.0.113.7")
    assert risk.additional_info["challengeId"] == started.challenge_id

    result = check(services, tenant_id, device.user_id, started.challenge_id)
    assert isinstance(result, Rejected) and result.reason is Reason.DENIED and result.reported_fraud


def test_an_expired_request_is_gone_for_the_device_and_the_page(
    client: TestClient, services: Services, clock: FrozenClock, tenant_id: str, device: Device
) -> None:
    started = start_signin(services, tenant_id, device)
    request = only_request(client, device)
    clock.advance(timedelta(seconds=60))
    assert client.get(f"{API}/requests", headers=device.headers).json() == {"value": []}
    response = answer(client, device, request["id"], "approve", started.view["number"])
    assert response.status_code == 410
    assert "expired" in response.json()["error"]["message"]
    assert challenge_row(services, started.challenge_id).status == "pending"
    result = check(services, tenant_id, device.user_id, started.challenge_id)
    assert isinstance(result, Rejected) and result.reason is Reason.EXPIRED


def test_a_second_answer_is_refused_and_the_first_stands(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    started = start_signin(services, tenant_id, device)
    request = only_request(client, device)
    assert answer(client, device, request["id"], "deny", "").status_code == 202
    again = answer(client, device, request["id"], "approve", started.view["number"])
    assert again.status_code == 409 and "already answered" in again.json()["error"]["message"]
    assert (challenge_row(services, started.challenge_id).answer or {}).get("decision") == "deny"


def test_a_bad_signature_is_refused_and_changes_nothing(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    started = start_signin(services, tenant_id, device)
    request = only_request(client, device)
    number = started.view["number"]
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert answer(client, device, request["id"], "approve", number, key=stranger).status_code == 400
    # Signed for one number, sent with another.
    message = push.signed_message(request["id"], "approve", "10" if number != "10" else "11", device.user_id)
    forged = {"decision": "approve", "number": number, "signature": push.sign_answer(device.key, message)}
    response = client.post(f"{API}/requests/{request['id']}", json=forged, headers=device.headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "badSignature"

    row = challenge_row(services, started.challenge_id)
    assert (row.status, row.answer) == ("pending", None)
    # The genuine answer still works afterwards.
    assert answer(client, device, request["id"], "approve", number).status_code == 202
    assert isinstance(check(services, tenant_id, device.user_id, started.challenge_id), runner.Passed)


def test_a_device_cannot_see_or_answer_another_devices_request(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    megans = enrol(client, services, tenant_id, add_user(services, "megan.bowen@contoso.test", name="Megan Bowen"))
    adeles_second = enrol(client, services, tenant_id, user_of(services, device))
    started = start_signin(services, tenant_id, device)
    request = only_request(client, device)

    for intruder in (megans, adeles_second):
        assert client.get(f"{API}/requests", headers=intruder.headers).json() == {"value": []}
        # Even a correct signature by the intruder's own key over the right fields gets a 404.
        response = answer(client, intruder, request["id"], "approve", started.view["number"])
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "requestNotFound"
    row = challenge_row(services, started.challenge_id)
    assert (row.status, row.answer) == ("pending", None)
    assert answer(client, device, request["id"], "approve", started.view["number"]).status_code == 202


def user_of(services: Services, device: Device) -> User:
    with services.db() as db:
        user = db.get(User, device.user_id)
        assert user is not None
        return user


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthenticated"),
        ({"Authorization": "Basic YWRlbGU6cHc="}, "unauthenticated"),
        ({"Authorization": "Bearer nonsense"}, "invalidToken"),
        ({"Authorization": "Bearer 0f8fad5b-d9cb-469f-a165-70867728950e.forged"}, "invalidToken"),
    ],
)
def test_requests_need_a_valid_device_token(
    client: TestClient, services: Services, tenant_id: str, device: Device, headers: dict[str, str], code: str
) -> None:
    started = start_signin(services, tenant_id, device)
    listed = client.get(f"{API}/requests", headers=headers)
    assert listed.status_code == 401 and listed.json()["error"]["code"] == code
    assert listed.headers["www-authenticate"].startswith('Bearer realm="limen-authenticator"')
    request_id = only_request(client, device)["id"]
    message = push.signed_message(request_id, "approve", started.view["number"], device.user_id)
    body = {"decision": "approve", "number": started.view["number"], "signature": push.sign_answer(device.key, message)}
    answered = client.post(f"{API}/requests/{request_id}", json=body, headers=headers)
    assert answered.status_code == 401
    assert challenge_row(services, started.challenge_id).status == "pending"


def test_a_token_with_the_right_device_id_but_another_secret_is_refused(client: TestClient, device: Device) -> None:
    forged = f"{device.device_id}.{'A' * 43}"
    response = client.get(f"{API}/requests", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_disabled_users_device_is_refused(client: TestClient, services: Services, device: Device) -> None:
    with transaction(services.db) as db:
        user = db.get(User, device.user_id)
        assert user is not None
        user.account_enabled = False
    assert client.get(f"{API}/requests", headers=device.headers).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"number": "42", "signature": "x"}, 422, "decision"),
        ({"decision": "maybe", "number": "42", "signature": "x"}, 422, "approve, deny, report"),
        ({"decision": "approve", "signature": "x"}, 422, "number"),
        ({"decision": "approve", "number": "7", "signature": "x"}, 422, "two-digit"),
        ({"decision": "approve", "number": "42"}, 422, "signature"),
        ("[1, 2", 400, "not valid JSON"),
    ],
)
def test_malformed_answers_get_clear_errors_and_change_nothing(
    client: TestClient, services: Services, tenant_id: str, device: Device, body: Any, status: int, says: str
) -> None:
    started = start_signin(services, tenant_id, device)
    request_id = only_request(client, device)["id"]
    url = f"{API}/requests/{request_id}"
    if isinstance(body, str):
        response = client.post(url, content=body, headers=device.headers | {"Content-Type": "application/json"})
    else:
        response = client.post(url, json=body, headers=device.headers)
    assert response.status_code == status
    assert says in response.json()["error"]["message"]
    assert challenge_row(services, started.challenge_id).status == "pending"


def test_the_wait_parameter_is_checked(client: TestClient, device: Device) -> None:
    for bad in ("-1", "26", "soon"):
        response = client.get(f"{API}/requests", params={"wait": bad}, headers=device.headers)
        assert response.status_code == 422 and "0 to 25" in response.json()["error"]["message"]


def test_a_long_poll_returns_at_its_deadline_when_nothing_comes(client: TestClient, device: Device) -> None:
    started = time.monotonic()
    response = client.get(f"{API}/requests", params={"wait": "1"}, headers=device.headers)
    assert response.status_code == 200 and response.json() == {"value": []}
    assert 0.9 <= time.monotonic() - started < 5


def test_a_long_poll_returns_a_request_that_arrives_while_it_waits(
    client: TestClient, services: Services, tenant_id: str, device: Device
) -> None:
    # The sign-in page starts the request from another thread while the device's GET is waiting.
    timer = threading.Timer(0.6, start_signin, args=(services, tenant_id, device))
    started = time.monotonic()
    timer.start()
    try:
        response = client.get(f"{API}/requests", params={"wait": "10"}, headers=device.headers)
    finally:
        timer.join()
    assert response.status_code == 200 and len(response.json()["value"]) == 1
    assert time.monotonic() - started < 5


def test_the_next_request_never_repeats_the_number_even_after_a_deny_or_no_answer(
    client: TestClient, services: Services, clock: FrozenClock, tenant_id: str, device: Device
) -> None:
    previous = None
    # With a repeat chance of 1/90 per pair, 1000 requests show one with near certainty if repeats happen.
    for _ in range(1000):
        started = start_signin(services, tenant_id, device)
        assert started.view["number"] != previous
        previous = started.view["number"]
        clock.advance(timedelta(seconds=61))  # abandoned: nobody answers
