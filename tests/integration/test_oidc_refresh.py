"""Refresh tokens: issued only for offline_access, rotated on every use, a reused one revokes its family
(RFC 6749 §6, OAuth 2.0 Security BCP / RFC 9700 §4.14).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import User
from tests.support.oidc import SCOPE, decode, oauth_error, refresh, tokens_for
from tests.support.seed import Client, add_client


def test_no_refresh_token_without_offline_access(client: TestClient, rp: Client, user: User) -> None:
    body = tokens_for(client, rp, user.user_principal_name, scope="openid profile")
    assert "refresh_token" not in body
    assert body["scope"] == "openid profile"


def test_each_refresh_rotates_the_token_and_the_old_one_stops_working(
    client: TestClient, rp: Client, user: User
) -> None:
    first = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    response = refresh(client, rp, first)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    second = response.json()["refresh_token"]
    assert second != first
    third = refresh(client, rp, second).json()["refresh_token"]
    assert len({first, second, third}) == 3
    assert oauth_error(refresh(client, rp, second)) == "invalid_grant"


def test_a_refreshed_id_token_keeps_the_sign_in_facts_but_no_nonce(
    client: TestClient, rp: Client, user: User, clock: FrozenClock
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    original = decode(client, body["id_token"]).claims
    clock.advance(timedelta(minutes=10))
    renewed = decode(client, refresh(client, rp, body["refresh_token"]).json()["id_token"]).claims
    assert renewed["sub"] == original["sub"] == user.id
    assert renewed["auth_time"] == original["auth_time"]
    assert renewed["sid"] == original["sid"]
    assert renewed["amr"] == ["pwd"]
    assert renewed["iat"] == original["iat"] + 600
    assert "nonce" not in renewed


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: TestClient, rp: Client, user: User) -> None:
    first = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    second = refresh(client, rp, first).json()["refresh_token"]
    third = refresh(client, rp, second).json()["refresh_token"]
    # An attacker replays the first token: refused, and the legitimate newest token dies too.
    assert oauth_error(refresh(client, rp, first)) == "invalid_grant"
    assert oauth_error(refresh(client, rp, third)) == "invalid_grant"


def test_a_family_revocation_leaves_other_sign_ins_alone(client: TestClient, rp: Client, user: User) -> None:
    mine = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    other = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    refresh(client, rp, mine)
    assert oauth_error(refresh(client, rp, mine)) == "invalid_grant"
    assert refresh(client, rp, other).status_code == 200


def test_the_scope_may_be_narrowed_and_the_refresh_token_keeps_the_original_grant(
    client: TestClient, rp: Client, user: User
) -> None:
    first = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    narrowed = refresh(client, rp, first, scope="openid")
    assert narrowed.status_code == 200, narrowed.text
    body = narrowed.json()
    assert body["scope"] == "openid"
    assert decode(client, body["access_token"]).claims["scope"] == "openid"
    assert "email" not in decode(client, body["id_token"]).claims
    # RFC 6749 §6: the new refresh token's scope is identical to the one presented, so a narrower
    # access token does not cost the client its refresh token or the rest of its grant.
    assert "refresh_token" in body
    full = refresh(client, rp, body["refresh_token"])
    assert full.status_code == 200, full.text
    assert full.json()["scope"] == SCOPE


def test_asking_for_a_wider_scope_is_invalid_scope_and_does_not_burn_the_token(
    client: TestClient, rp: Client, user: User
) -> None:
    token = tokens_for(client, rp, user.user_principal_name, scope="openid offline_access")["refresh_token"]
    assert oauth_error(refresh(client, rp, token, scope="openid offline_access email")) == "invalid_scope"
    assert oauth_error(refresh(client, rp, token, scope="openid phone")) == "invalid_scope"
    assert refresh(client, rp, token).status_code == 200


def test_a_disabled_user_cannot_refresh(client: TestClient, rp: Client, user: User, services: Services) -> None:
    token = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    with transaction(services.db) as db:
        db.execute(sa.update(User).where(User.id == user.id).values(account_enabled=False))
    assert oauth_error(refresh(client, rp, token)) == "invalid_grant"


def test_a_refresh_token_expires_after_the_configured_days(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    lifetime = timedelta(days=services.settings.refresh_token_days)
    young = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    old = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    clock.advance(lifetime - timedelta(seconds=1))
    assert refresh(client, rp, young).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert oauth_error(refresh(client, rp, old)) == "invalid_grant"


def test_a_refresh_token_only_works_for_the_client_it_was_issued_to(
    client: TestClient, rp: Client, user: User, services: Services
) -> None:
    token = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    other = add_client(services, name="Fabrikam")
    assert oauth_error(refresh(client, other, token)) == "invalid_grant"
    # The stranger's attempt neither consumed nor revoked it.
    assert refresh(client, rp, token).status_code == 200


def test_garbage_or_missing_refresh_tokens_are_refused(client: TestClient, rp: Client) -> None:
    assert oauth_error(refresh(client, rp, "not-a-refresh-token")) == "invalid_grant"
    assert oauth_error(refresh(client, rp, "")) == "invalid_request"
