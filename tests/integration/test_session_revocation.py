"""Security events end a user's sessions and refresh tokens (SPEC.md §3, sign-in frequency: "sessions are
revoked by security events"): a new password set by an admin, the account disabled, and Graph's
`revokeSignInSessions` (also `limen user revoke-sessions`). Other users keep theirs. The secure password
change of a risky user's sign-in is covered in test_password_change_user_risk.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from limen.cli import app
from limen.service.context import Services
from limen.store.models import User
from tests.conftest import make_env
from tests.support.oidc import authorize, authorize_params, oauth_error, query_of, refresh, tokens_for
from tests.support.seed import Client, add_user


def session_alive(http: TestClient, rp: Client) -> bool:
    """Whether the browser's session still signs in silently (prompt=none: a code, or login_required)."""
    answer = authorize(http, authorize_params(rp, prompt="none"))
    assert answer.status_code in (302, 303), answer.text
    query = query_of(answer.headers["location"])
    assert "code" in query or query.get("error") == "login_required", query
    return "code" in query


@pytest.fixture
def other(services: Services, client: TestClient, rp: Client) -> tuple[TestClient, str]:
    """Another user, signed in in their own browser with a refresh token: revoking Adele's leaves them be."""
    colleague = add_user(services, "alex.wilber@contoso.test", name="Alex Wilber")
    browser = TestClient(client.app, base_url="http://127.0.0.1:8000")
    return browser, tokens_for(browser, rp, colleague.user_principal_name)["refresh_token"]


def assert_only_adele_signed_out(
    client: TestClient, rp: Client, token: str, other: tuple[TestClient, str], *, alive: bool = False
) -> None:
    assert oauth_error(refresh(client, rp, token)) == "invalid_grant"
    assert session_alive(client, rp) is alive
    browser, colleague_token = other
    assert refresh(browser, rp, colleague_token).status_code == 200
    assert session_alive(browser, rp)


def test_an_admin_setting_a_new_password_ends_the_user_s_sessions_and_refresh_tokens(
    client: TestClient, rp: Client, user: User, admin_headers: dict[str, str], other: tuple[TestClient, str]
) -> None:
    token = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    assert session_alive(client, rp)
    # A change that is not a security event leaves the sessions alone.
    renamed = client.patch(f"/v1.0/users/{user.id}", json={"displayName": "Adele V."}, headers=admin_headers)
    assert renamed.status_code == 204
    assert session_alive(client, rp)
    latest = refresh(client, rp, token)
    assert latest.status_code == 200
    token = latest.json()["refresh_token"]

    reset = client.patch(
        f"/v1.0/users/{user.id}",
        json={"passwordProfile": {"password": "Lantern-Staple-Orbit-77", "forceChangePasswordNextSignIn": False}},
        headers=admin_headers,
    )
    assert reset.status_code == 204, reset.text
    assert_only_adele_signed_out(client, rp, token, other)


def test_disabling_an_account_ends_its_sessions_for_good(
    client: TestClient, rp: Client, user: User, admin_headers: dict[str, str], other: tuple[TestClient, str]
) -> None:
    token = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    for enabled in (False, True):
        answer = client.patch(f"/v1.0/users/{user.id}", json={"accountEnabled": enabled}, headers=admin_headers)
        assert answer.status_code == 204
    # Enabled again, the account signs in afresh: what was issued before the disabling stays dead.
    assert_only_adele_signed_out(client, rp, token, other)
    assert "refresh_token" in tokens_for(client, rp, user.user_principal_name)


def test_graph_revoke_sign_in_sessions_signs_the_user_out_everywhere(
    client: TestClient, rp: Client, user: User, admin_headers: dict[str, str], other: tuple[TestClient, str]
) -> None:
    token = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    second_browser = TestClient(client.app, base_url="http://127.0.0.1:8000")
    second_token = tokens_for(second_browser, rp, user.user_principal_name)["refresh_token"]

    answer = client.post(f"/v1.0/users/{user.user_principal_name}/revokeSignInSessions", headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"@odata.context": "http://127.0.0.1:8000/v1.0/$metadata#Edm.Boolean", "value": True}
    assert_only_adele_signed_out(client, rp, token, other)
    assert oauth_error(refresh(second_browser, rp, second_token)) == "invalid_grant"
    assert not session_alive(second_browser, rp)
    # The user can sign in again straight away, and revoking twice is harmless.
    assert "refresh_token" in tokens_for(client, rp, user.user_principal_name)
    again = client.post(f"/v1.0/users/{user.id}/revokeSignInSessions", headers=admin_headers)
    assert again.status_code == 200


def test_revoke_sign_in_sessions_of_an_unknown_user_is_404_and_needs_the_admin_token(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    missing = client.post("/v1.0/users/nobody@contoso.test/revokeSignInSessions", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"
    anonymous = client.post("/v1.0/users/nobody@contoso.test/revokeSignInSessions")
    assert anonymous.status_code == 401


def test_the_cli_revokes_a_user_s_sessions(
    client: TestClient,
    rp: Client,
    user: User,
    other: tuple[TestClient, str],
    tmp_path: Path,
    database_url: str,
) -> None:
    token = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    env: dict[str, Any] = {**make_env(tmp_path, database_url), "COLUMNS": "250"}
    result = CliRunner().invoke(app, ["user", "revoke-sessions", user.user_principal_name], env=env)
    assert result.exit_code == 0, result.output
    assert f"Revoked 1 session(s) of {user.user_principal_name}" in result.output
    assert_only_adele_signed_out(client, rp, token, other)

    unknown = CliRunner().invoke(app, ["user", "revoke-sessions", "nobody@contoso.test"], env=env)
    assert unknown.exit_code != 0 and "nobody@contoso.test" in unknown.output
