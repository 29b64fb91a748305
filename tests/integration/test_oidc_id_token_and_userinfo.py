"""ID tokens and access tokens checked independently (joserfc + the JWKS endpoint), and the userinfo
endpoint's answers to good and bad bearer tokens (OIDC Core §2, §3.1.3.7, §5.3; RFC 9068; RFC 6750 §3).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jwt import JWTClaimsRegistry

from limen.crypto.tokens import secret_hash
from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import User
from tests.support.oidc import (
    ISSUER,
    NONCE,
    decode,
    kids,
    new_pkce,
    obtain_code,
    redeem,
    token,
    tokens_for,
    userinfo,
)
from tests.support.seed import Client, add_client


def test_the_id_token_verifies_against_jwks_with_every_required_claim(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    signed_in_at = int(clock.now().timestamp())
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    clock.advance(timedelta(seconds=5))
    body = redeem(client, rp, code, pkce).json()

    id_token = decode(client, body["id_token"])
    assert id_token.header["alg"] == "RS256"
    assert id_token.header["kid"] in kids(client)
    now = int(clock.now().timestamp())
    JWTClaimsRegistry(
        now=now,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": rp.app_id},
        sub={"essential": True, "value": user.id},
        nonce={"essential": True, "value": NONCE},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
    ).validate(id_token.claims)
    claims = id_token.claims
    assert claims["iat"] == now
    assert claims["exp"] == now + services.settings.id_token_seconds
    assert claims["auth_time"] == signed_in_at
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:limen:acr:1fa"
    assert claims["azp"] == rp.app_id
    # sid is derived from the session's stored hash, never the cookie itself.
    cookie = client.cookies["limen_session"]
    assert claims["sid"] == secret_hash(cookie)[:32]
    assert cookie not in body["id_token"]
    assert claims["preferred_username"] == user.user_principal_name
    assert claims["email"] == user.mail


def test_the_id_token_releases_only_the_claims_of_the_granted_scopes(
    client: TestClient, rp: Client, user: User
) -> None:
    body = tokens_for(client, rp, user.user_principal_name, scope="openid", nonce=None)
    claims = decode(client, body["id_token"]).claims
    assert claims["sub"] == user.id
    assert not {"email", "name", "preferred_username", "nonce"} & set(claims)


def test_no_id_token_without_the_openid_scope(client: TestClient, rp: Client, user: User) -> None:
    body = tokens_for(client, rp, user.user_principal_name, scope="profile")
    assert "id_token" not in body
    assert "access_token" in body


def test_the_access_token_is_an_at_jwt_that_userinfo_accepts(
    client: TestClient, rp: Client, user: User, services: Services
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    access = decode(client, body["access_token"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["iss"] == ISSUER
    assert access.claims["sub"] == user.id
    assert access.claims["client_id"] == rp.app_id
    assert access.claims["exp"] == access.claims["iat"] + services.settings.access_token_seconds
    response = userinfo(client, body["access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    info = response.json()
    assert info["sub"] == user.id
    assert info["email"] == user.mail
    assert info["preferred_username"] == user.user_principal_name
    # POST works as well (OIDC Core §5.3.1).
    posted = client.post("/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert posted.json() == info


def assert_invalid_token(response: object) -> None:
    assert getattr(response, "status_code", None) == 401
    headers = getattr(response, "headers", {})
    assert headers["www-authenticate"].startswith("Bearer")
    assert "invalid_token" in headers["www-authenticate"]


def test_userinfo_without_a_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    assert_invalid_token(userinfo(client, None))
    assert_invalid_token(client.get("/oauth2/userinfo", headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    assert_invalid_token(client.get("/oauth2/userinfo", headers={"Authorization": "Bearer "}))


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "x" * 20_000])
def test_userinfo_refuses_garbage(client: TestClient, garbage: str) -> None:
    assert_invalid_token(userinfo(client, garbage))


def test_userinfo_refuses_an_expired_access_token(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    access = tokens_for(client, rp, user.user_principal_name)["access_token"]
    clock.advance(timedelta(seconds=services.settings.access_token_seconds - 1))
    assert userinfo(client, access).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert_invalid_token(userinfo(client, access))


@pytest.mark.parametrize("borrow_kid", [True, False])
def test_userinfo_refuses_a_token_signed_by_a_foreign_key(
    client: TestClient, rp: Client, user: User, borrow_kid: bool
) -> None:
    genuine = decode(client, tokens_for(client, rp, user.user_principal_name)["access_token"])
    kid = genuine.header["kid"] if borrow_kid else "attacker-key"
    foreign = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
    forged = jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt"}, dict(genuine.claims), foreign)
    assert_invalid_token(userinfo(client, forged))


def test_userinfo_refuses_an_id_token_used_as_an_access_token(client: TestClient, rp: Client, user: User) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    assert_invalid_token(userinfo(client, body["id_token"]))


def test_userinfo_refuses_a_token_without_the_openid_scope_with_403_insufficient_scope(
    client: TestClient, rp: Client, user: User
) -> None:
    access = tokens_for(client, rp, user.user_principal_name, scope="profile email")["access_token"]
    response = userinfo(client, access)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_userinfo_refuses_an_application_token_from_client_credentials(client: TestClient, rp: Client) -> None:
    access = token(client, rp, {"grant_type": "client_credentials", "scope": "openid"}).json()["access_token"]
    assert_invalid_token(userinfo(client, access))


def test_userinfo_stops_answering_for_a_disabled_user(
    client: TestClient, rp: Client, user: User, services: Services
) -> None:
    access = tokens_for(client, rp, user.user_principal_name)["access_token"]
    with transaction(services.db) as db:
        db.execute(sa.update(User).where(User.id == user.id).values(account_enabled=False))
    assert_invalid_token(userinfo(client, access))


def test_tokens_of_one_client_carry_that_client_as_audience(
    client: TestClient, rp: Client, user: User, services: Services
) -> None:
    other = add_client(services, "http://127.0.0.1:9997/callback", name="Fabrikam")
    mine = decode(client, tokens_for(client, rp, user.user_principal_name)["id_token"]).claims
    theirs = decode(client, tokens_for(client, other, user.user_principal_name)["id_token"]).claims
    assert mine["aud"] == rp.app_id and theirs["aud"] == other.app_id
    assert mine["sid"] == theirs["sid"]  # one browser session, single sign-on
