"""The device API as the client sees it (docs/authenticator.md): enrol, list requests, answer one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from limen.authenticator.state import Account
from limen.domain.methods import push

API_PATH = "/authenticator/v1"
TIMEOUT = 15.0
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class ApiError(Exception):
    """Something the person must know about: the server's refusal or an unreachable server, in words."""


@dataclass(frozen=True)
class Enrolment:
    server: str
    code: str


def parse_enrolment_uri(uri: str, *, allow_http: bool = False) -> Enrolment:
    """`limen-authenticator://enrol?server=https://...&code=...`, as the Security info page shows it."""
    parts = urlsplit(uri.strip())
    if parts.scheme != push.URI_SCHEME or parts.netloc != "enrol":
        raise ApiError(f"That is not an enrolment link: it must start with {push.URI_SCHEME}://enrol?")
    query = parse_qs(parts.query)
    servers, codes = query.get("server", []), query.get("code", [])
    if len(servers) != 1 or len(codes) != 1:
        raise ApiError("The enrolment link must have exactly one server= and one code=. Copy it again from the page.")
    server = servers[0].rstrip("/")
    target = urlsplit(server)
    if target.scheme not in ("https", "http") or not target.hostname:
        raise ApiError(f"The enrolment link's server {server!r} is not an http(s) URL.")
    if target.scheme == "http" and target.hostname not in LOOPBACK_HOSTS and not allow_http:
        raise ApiError(
            f"{server} is plain http: the device token would travel unencrypted. "
            "Use an https server, or pass --allow-http if this is a test setup."
        )
    return Enrolment(server, codes[0])


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"{error['message']} (HTTP {response.status_code}, {error['code']})"
    except (ValueError, KeyError, TypeError):
        return f"the server answered HTTP {response.status_code} {response.reason_phrase}."


def _call(method: str, url: str, *, timeout: float = TIMEOUT, **kwargs: Any) -> httpx.Response:
    try:
        return httpx.request(method, url, timeout=timeout, **kwargs)
    except httpx.TimeoutException:
        raise ApiError(f"{url} did not answer within {timeout:.0f} seconds.") from None
    except httpx.HTTPError as exc:
        raise ApiError(f"Could not reach {url}: {exc}.") from None


def enrol(enrolment: Enrolment, key: ec.EllipticCurvePrivateKey, device_name: str, platform: str) -> dict[str, Any]:
    """Register `key` as a device with the enrolment code; the answer holds deviceId and deviceToken."""
    body = {
        "code": enrolment.code,
        "publicKey": push.public_jwk(key.public_key()),
        "deviceName": device_name,
        "platform": platform,
    }
    response = _call("POST", f"{enrolment.server}{API_PATH}/enrol", json=body)
    if response.status_code != 201:
        raise ApiError(f"Enrolment failed: {_error_message(response)}")
    answer: dict[str, Any] = response.json()
    return answer


def _headers(account: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.device_token}"}


def pending(account: Account, wait: int = 0) -> list[dict[str, Any]]:
    """The account's requests waiting for an answer, after waiting up to `wait` seconds for one."""
    url = f"{account.server}{API_PATH}/requests"
    response = _call("GET", url, params={"wait": str(wait)}, headers=_headers(account), timeout=TIMEOUT + wait)
    if response.status_code != 200:
        raise ApiError(f"{account.user_principal_name} at {account.server}: {_error_message(response)}")
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def private_key(account: Account) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(account.private_key_pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ApiError(f"The stored key of {account.user_principal_name} is not a P-256 key; enrol again.")
    return key


def answer(account: Account, request_id: str, decision: str, number: str) -> None:
    """Sign and send the answer to one request (the signed message binds request, decision, number, user)."""
    message = push.signed_message(request_id, decision, number, account.user_id)
    body = {"decision": decision, "number": number, "signature": push.sign_answer(private_key(account), message)}
    url = f"{account.server}{API_PATH}/requests/{quote(request_id, safe='')}"
    response = _call("POST", url, json=body, headers=_headers(account))
    if response.status_code != 202:
        raise ApiError(f"The answer was not accepted: {_error_message(response)}")


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
