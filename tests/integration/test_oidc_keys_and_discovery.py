"""Signing-key rotation as relying parties see it through JWKS, and the discovery document
(OIDC Discovery 1.0 §3, RFC 8414; key rollover per OIDC Core §10.1.1).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from joserfc.errors import JoseError

from limen.domain.clock import FrozenClock
from limen.domain.errors import NotFound
from limen.service.context import Services
from limen.service.keys import revoke, rotate
from limen.store.models import User
from tests.support.oidc import ISSUER, decode, kids, tokens_for, userinfo
from tests.support.seed import Client


def kid_of(http: TestClient, token_value: str) -> str:
    kid: str = decode(http, token_value).header["kid"]
    return kid


def test_rotation_publishes_both_keys_signs_with_the_new_one_and_retires_the_old_after_the_overlap(
    client: TestClient, rp: Client, user: User, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    before = tokens_for(client, rp, user.user_principal_name)
    old_kid = kid_of(client, before["id_token"])
    assert kids(client) == {old_kid}

    # Rotating in the very instant the first key was made: the successor must still win.
    new = rotate(services, tenant_id)
    assert new.id != old_kid
    assert kids(client) == {old_kid, new.id}
    after = tokens_for(client, rp, user.user_principal_name)
    assert kid_of(client, after["id_token"]) == new.id
    assert kid_of(client, after["access_token"]) == new.id

    # Overlap: what the old key signed keeps verifying, for relying parties and for userinfo.
    clock.advance(timedelta(minutes=30))
    assert userinfo(client, before["access_token"]).status_code == 200
    overlap = timedelta(hours=services.settings.signing_key_overlap_hours)
    clock.advance(overlap - timedelta(minutes=30) - timedelta(seconds=1))
    assert kids(client) == {old_kid, new.id}
    assert decode(client, before["id_token"]).claims["sub"] == user.id

    clock.advance(timedelta(seconds=1))
    assert kids(client) == {new.id}
    with pytest.raises((JoseError, ValueError)):
        decode(client, before["id_token"])
    assert kid_of(client, tokens_for(client, rp, user.user_principal_name)["id_token"]) == new.id


def test_a_key_rotated_in_ahead_of_time_is_published_at_once_but_signs_only_when_active(
    client: TestClient, rp: Client, user: User, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    old_kid = kid_of(client, tokens_for(client, rp, user.user_principal_name)["id_token"])
    upcoming = rotate(services, tenant_id, activate_after=timedelta(hours=1))
    assert kids(client) == {old_kid, upcoming.id}
    assert kid_of(client, tokens_for(client, rp, user.user_principal_name)["id_token"]) == old_kid

    clock.advance(timedelta(hours=1) - timedelta(seconds=1))
    assert kid_of(client, tokens_for(client, rp, user.user_principal_name)["access_token"]) == old_kid
    clock.advance(timedelta(seconds=1))
    assert kid_of(client, tokens_for(client, rp, user.user_principal_name)["id_token"]) == upcoming.id

    # The old key retires one overlap after its successor started signing, not after the rotate call.
    clock.advance(timedelta(hours=services.settings.signing_key_overlap_hours) - timedelta(seconds=1))
    assert old_kid in kids(client)
    clock.advance(timedelta(seconds=1))
    assert kids(client) == {upcoming.id}


def test_the_jwks_publishes_only_public_rsa_signing_keys(client: TestClient) -> None:
    response = client.get("/oauth2/jwks")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert len(keys) == 1
    for key in keys:
        assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
        assert key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_the_discovery_document_describes_what_limen_does(client: TestClient) -> None:
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/oauth2/authorize"
    assert doc["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert doc["userinfo_endpoint"] == f"{ISSUER}/oauth2/userinfo"
    assert doc["jwks_uri"] == f"{ISSUER}/oauth2/jwks"
    assert doc["end_session_endpoint"] == f"{ISSUER}/oauth2/logout"
    assert doc["response_types_supported"] == ["code"]
    assert doc["response_modes_supported"] == ["query"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
    assert doc["device_authorization_endpoint"] == f"{ISSUER}/oauth2/devicecode"
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert {"openid", "profile", "email", "offline_access"} <= set(doc["scopes_supported"])
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "sid"} <= set(
        doc["claims_supported"]
    )
    assert doc["authorization_response_iss_parameter_supported"] is True


def test_every_endpoint_the_discovery_document_names_answers(client: TestClient) -> None:
    doc = client.get("/.well-known/openid-configuration").json()

    authorize = client.get(doc["authorization_endpoint"], follow_redirects=False)
    assert authorize.status_code == 400 and "location" not in authorize.headers

    token = client.post(doc["token_endpoint"], data={"grant_type": "client_credentials"})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"

    info = client.get(doc["userinfo_endpoint"])
    assert info.status_code == 401 and info.headers["www-authenticate"].startswith("Bearer")

    jwks = client.get(doc["jwks_uri"])
    assert jwks.status_code == 200 and jwks.json()["keys"]

    logout = client.get(doc["end_session_endpoint"], follow_redirects=False)
    assert logout.status_code == 200
    assert "You signed out" in logout.text


def test_a_revoked_key_leaves_jwks_at_once_and_a_fresh_key_takes_over(
    client: TestClient, rp: Client, user: User, services: Services, tenant_id: str
) -> None:
    before = tokens_for(client, rp, user.user_principal_name)
    old_kid = kid_of(client, before["id_token"])
    revoke(services, tenant_id, old_kid)
    assert old_kid not in kids(client)
    assert userinfo(client, before["access_token"]).status_code == 401
    after = tokens_for(client, rp, user.user_principal_name)
    assert kid_of(client, after["id_token"]) in kids(client)
    with pytest.raises(NotFound):
        revoke(services, tenant_id, "no-such-kid")


def test_a_pending_key_superseded_by_an_immediate_rotation_never_signs(
    client: TestClient, rp: Client, user: User, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    pending = rotate(services, tenant_id, activate_after=timedelta(hours=1))
    current = rotate(services, tenant_id)
    clock.advance(timedelta(hours=2))
    tokens = tokens_for(client, rp, user.user_principal_name)
    assert kid_of(client, tokens["id_token"]) == current.id != pending.id
