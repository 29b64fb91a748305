"""Helpers shared by the OpenID Connect HTTP tests (test_oidc_*.py); this module holds no tests.

A relying party is played by hand over the in-process TestClient: authorization requests are built
explicitly, redirects are inspected rather than followed, and tokens are checked with joserfc against
the published JWKS only, never with Limen's own verification code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx2 as httpx
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.forms import form_with
from tests.support.seed import DEFAULT_PASSWORD, Client

ISSUER = "http://127.0.0.1:8000"
SCOPE = "openid profile email offline_access"
STATE = "state-3f9a"
NONCE = "nonce-7c21"


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorize_params(client: Client, pkce: Pkce | None = None, **overrides: str | None) -> dict[str, str]:
    """A valid authorization request for `client`; an override of None drops that parameter."""
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": client.app_id,
        "redirect_uri": client.redirect_uri,
        "scope": SCOPE,
        "state": STATE,
        "nonce": NONCE,
    }
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method="S256")
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def authorize(http: TestClient, params: Any) -> httpx.Response:
    return http.get("/oauth2/authorize", params=params, follow_redirects=False)


def query_of(location: str) -> dict[str, str]:
    """The query of a redirect, each parameter present exactly once."""
    parsed = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), location
    return {k: v[0] for k, v in parsed.items()}


def sign_in(http: TestClient, to_signin: httpx.Response, upn: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    """From authorize's redirect to /signin, fill the username and password forms; return the final answer."""
    assert to_signin.status_code == 303, to_signin.text
    location = to_signin.headers["location"]
    assert location.startswith("/signin?flow="), location
    page = http.get(location, follow_redirects=False)
    assert page.status_code == 200
    identify = form_with(page.text, "/signin/identify")
    page = http.post("/signin/identify", data={**identify.fields, "username": upn}, follow_redirects=False)
    assert page.status_code == 200
    password_form = form_with(page.text, "/signin/password")
    return http.post("/signin/password", data={**password_form.fields, "password": password}, follow_redirects=False)


def obtain_code(http: TestClient, client: Client, upn: str, pkce: Pkce | None = None, **overrides: str | None) -> str:
    """Run authorize (signing in if there is no session) and return the code from the callback."""
    params = authorize_params(client, pkce, **overrides)
    response = authorize(http, params)
    if response.headers.get("location", "").startswith("/signin"):
        response = sign_in(http, response, upn)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{client.redirect_uri}?"), location
    query = query_of(location)
    assert query.get("state") == params.get("state")
    assert query["iss"] == ISSUER
    return query["code"]


def basic(client_id: str, secret: str) -> str:
    """client_secret_basic: RFC 6749 §2.3.1 form-urlencodes both parts before base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def token(http: TestClient, client: Client, data: dict[str, str], *, auth: str = "auto") -> httpx.Response:
    """POST to the token endpoint authenticating as `client`: basic, post, none, or auto (by client type)."""
    if auth == "auto":
        auth = "basic" if client.secret else "none"
    headers: dict[str, str] = {}
    form = dict(data)
    if auth == "basic":
        assert client.secret is not None
        headers["Authorization"] = basic(client.app_id, client.secret)
    elif auth == "post":
        assert client.secret is not None
        form.update(client_id=client.app_id, client_secret=client.secret)
    elif auth == "none":
        form["client_id"] = client.app_id
    return http.post("/oauth2/token", data=form, headers=headers)


def redeem(
    http: TestClient,
    client: Client,
    code: str,
    pkce: Pkce | None = None,
    *,
    auth: str = "auto",
    **extra: str | None,
) -> httpx.Response:
    data: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": pkce.verifier if pkce else None,
    }
    data.update(extra)
    return token(http, client, {k: v for k, v in data.items() if v is not None}, auth=auth)


def refresh(http: TestClient, client: Client, refresh_token: str, **extra: str) -> httpx.Response:
    return token(http, client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra})


def tokens_for(http: TestClient, client: Client, upn: str, **overrides: str | None) -> dict[str, Any]:
    """The whole code flow with PKCE: the token endpoint's successful JSON answer."""
    pkce = new_pkce()
    code = obtain_code(http, client, upn, pkce, **overrides)
    response = redeem(http, client, code, pkce)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def oauth_error(response: httpx.Response, status: int = 400) -> str:
    """Assert an RFC 6749 §5.2 JSON error answer and return its `error` code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("cache-control") == "no-store"
    error: str = response.json()["error"]
    return error


def published_keys(http: TestClient) -> KeySet:
    response = http.get("/oauth2/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


def kids(http: TestClient) -> set[str]:
    return {key["kid"] for key in http.get("/oauth2/jwks").json()["keys"]}


def decode(http: TestClient, token_value: str) -> jwt.Token:
    """Verify a JWT's RS256 signature against the JWKS endpoint alone (claims are checked by the caller)."""
    return jwt.decode(token_value, published_keys(http), algorithms=["RS256"])


def userinfo(http: TestClient, access_token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {access_token}"} if access_token is not None else {}
    return http.get("/oauth2/userinfo", headers=headers)
