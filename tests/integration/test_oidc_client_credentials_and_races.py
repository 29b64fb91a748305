"""The client credentials grant (RFC 6749 §4.4), and what happens when the same code or refresh token
is presented concurrently: exactly one request wins (compare-and-set in the database).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
from fastapi.testclient import TestClient

from limen.store.models import User
from tests.support.oidc import (
    ISSUER,
    decode,
    new_pkce,
    oauth_error,
    obtain_code,
    redeem,
    refresh,
    token,
    tokens_for,
)
from tests.support.seed import Client

RACERS = 6


def test_client_credentials_issue_an_application_token_only(client: TestClient, rp: Client) -> None:
    response = token(client, rp, {"grant_type": "client_credentials", "scope": "openid offline_access"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert "id_token" not in body
    assert "refresh_token" not in body
    access = decode(client, body["access_token"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["sub"] == rp.app_id
    assert access.claims["client_id"] == rp.app_id
    assert access.claims["iss"] == ISSUER
    assert "amr" not in access.claims and "sid" not in access.claims


def test_client_credentials_are_refused_to_a_public_client(client: TestClient, public: Client) -> None:
    response = token(client, public, {"grant_type": "client_credentials"})
    assert oauth_error(response) == "unauthorized_client"
    assert "access_token" not in response.json()


def test_client_credentials_refuse_scopes_limen_does_not_know(client: TestClient, rp: Client) -> None:
    response = token(client, rp, {"grant_type": "client_credentials", "scope": "User.ReadWrite.All"})
    assert oauth_error(response) == "invalid_scope"


def race(call: object) -> list[httpx.Response]:
    assert callable(call)
    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(lambda _: call(), range(RACERS)))


def test_of_concurrent_redemptions_of_one_code_exactly_one_gets_tokens(
    client: TestClient, rp: Client, user: User
) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    responses = race(lambda: redeem(client, rp, code, pkce))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    assert all(oauth_error(r) == "invalid_grant" for r in responses if r.status_code != 200)
    # The losers saw a used code: the winner's refresh token is revoked as a precaution.
    assert oauth_error(refresh(client, rp, winners[0].json()["refresh_token"])) == "invalid_grant"


def test_of_concurrent_refreshes_with_one_token_exactly_one_rotates(client: TestClient, rp: Client, user: User) -> None:
    first = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    responses = race(lambda: refresh(client, rp, first))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    assert all(oauth_error(r) == "invalid_grant" for r in responses if r.status_code != 200)
    assert oauth_error(refresh(client, rp, winners[0].json()["refresh_token"])) == "invalid_grant"
