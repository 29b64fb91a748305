"""Sign-ins that ride on earlier authentication are logged too: single sign-on from the browser
session (interactive), refresh-token redemptions (non-interactive), and refused ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.signin_log import SignInError
from limen.service.context import Services
from limen.store.models import SignInRow
from tests.support.oidc import authorize, authorize_params, refresh, sign_in, tokens_for
from tests.support.seed import add_client, add_user


def rows(services: Services) -> list[SignInRow]:
    """The log, in a stable order: the frozen clock gives rows of one test the same time."""
    with services.db() as db:
        logged = list(db.scalars(sa.select(SignInRow)))
    return sorted(logged, key=lambda r: (r.created_at, not r.is_interactive, r.error_code, method_of(r)))


def method_of(row: SignInRow) -> str:
    return str(row.authentication_details[0]["authenticationMethod"])


def test_single_sign_on_from_the_browser_session_is_an_interactive_row(services: Services, client: TestClient) -> None:
    user = add_user(services)
    rp = add_client(services)
    sign_in(client, authorize(client, authorize_params(rp)), user.user_principal_name)
    response = authorize(client, authorize_params(rp))
    assert response.status_code == 303 and "code=" in response.headers["location"]
    logged = rows(services)
    assert [(r.error_code, method_of(r), r.is_interactive, r.user_id) for r in logged] == [
        (0, "Password", True, user.id),
        (0, "Previously satisfied", True, user.id),
    ]
    sso = logged[1]
    assert sso.app_id == rp.app_id and sso.app_display_name == rp.display_name


def test_prompt_none_without_a_session_logs_session_not_sufficient(services: Services, client: TestClient) -> None:
    rp = add_client(services)
    response = authorize(client, authorize_params(rp, prompt="none", login_hint="adele@contoso.test"))
    assert "error=login_required" in response.headers["location"]
    (row,) = rows(services)
    assert row.error_code == SignInError.SESSION_NOT_SUFFICIENT
    assert row.user_id is None and row.user_principal_name == "adele@contoso.test"


def test_refresh_is_a_non_interactive_row_and_reuse_is_logged_as_a_failure(
    services: Services, client: TestClient
) -> None:
    user = add_user(services)
    rp = add_client(services)
    first = tokens_for(client, rp, user.user_principal_name)["refresh_token"]
    assert refresh(client, rp, first).status_code == 200
    assert refresh(client, rp, first).status_code == 400  # reuse: the family is revoked
    non_interactive = [r for r in rows(services) if not r.is_interactive]
    assert [(r.error_code, method_of(r), r.user_id, r.client_app_used) for r in non_interactive] == [
        (0, "Previously satisfied", user.id, "Browser"),
        (SignInError.FRESH_TOKEN_NEEDED, "Previously satisfied", user.id, "Browser"),
    ]
    assert non_interactive[1].authentication_details[0]["succeeded"] is False
    assert "revoked" in non_interactive[1].failure_reason


def test_public_clients_refresh_as_mobile_and_desktop_clients(services: Services, client: TestClient) -> None:
    user = add_user(services)
    rp = add_client(services, "http://127.0.0.1:9998/callback", public=True)
    tokens = tokens_for(client, rp, user.user_principal_name)
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200
    (row,) = [r for r in rows(services) if not r.is_interactive]
    assert row.client_app_used == "Mobile Apps and Desktop clients"
