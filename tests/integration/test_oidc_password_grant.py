"""The OAuth password grant (ROPC): off by default; when the operator turns it on, a sign-in that a
password alone may complete gets tokens, anything else is refused without revealing whether the
account exists, and every attempt is a non-interactive "Mobile Apps and Desktop clients" log row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.config import load_settings
from limen.domain.clock import FrozenClock
from limen.domain.directory import GLOBAL_ADMINISTRATOR
from limen.domain.errors import ConfigurationError
from limen.service import directory, security_defaults
from limen.service.context import Services
from limen.service.methods import runner
from limen.store.db import transaction
from limen.store.models import SignInRow, User
from limen.web.app import create_app
from tests.conftest import make_env
from tests.support.oidc import SCOPE, basic, decode, oauth_error, refresh
from tests.support.seed import DEFAULT_PASSWORD, Client, add_user

MOBILE = "Mobile Apps and Desktop clients"


@pytest.fixture
def ropc(services: Services) -> Iterator[TestClient]:
    """The server with LIMEN_ALLOW_PASSWORD_GRANT=true (the same database, clock and keys)."""
    enabled = dataclasses.replace(services, settings=dataclasses.replace(services.settings, allow_password_grant=True))
    with TestClient(create_app(enabled), base_url="http://127.0.0.1:8000") as http:
        yield http


def password(
    http: TestClient, app: Client, username: str, secret: str = DEFAULT_PASSWORD, scope: str = SCOPE
) -> httpx.Response:
    data = {"grant_type": "password", "username": username, "password": secret, "scope": scope}
    if app.secret:
        return http.post("/oauth2/token", data=data, headers={"Authorization": basic(app.app_id, app.secret)})
    return http.post("/oauth2/token", data={**data, "client_id": app.app_id})


def rows(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at)))


def refusal(response: httpx.Response) -> dict[str, Any]:
    oauth_error(response)
    body: dict[str, Any] = response.json()
    return body


def add_totp(services: Services, tenant_id: str, user: User, clock: FrozenClock) -> None:
    with transaction(services.db) as db:
        row = db.get(User, user.id)
        assert row is not None
        started = runner.start_registration(db, services, tenant_id, row, "softwareOath", {}, None)
        assert isinstance(started, runner.Started)
        done = runner.finish_registration(
            db,
            services,
            tenant_id,
            row,
            started.challenge_id,
            {"code": pyotp.TOTP(started.view["secret"]).at(clock.now())},
            None,
        )
        assert isinstance(done, runner.Registration)


def defaults_on(services: Services, tenant_id: str) -> None:
    with transaction(services.db) as db:
        security_defaults.set_enabled(db, tenant_id, True)


def test_the_setting_is_off_by_default_and_validated(tmp_path: Path, database_url: str) -> None:
    assert load_settings(make_env(tmp_path, database_url)).allow_password_grant is False
    assert load_settings(make_env(tmp_path, database_url, LIMEN_ALLOW_PASSWORD_GRANT="true")).allow_password_grant
    assert not load_settings(make_env(tmp_path, database_url, LIMEN_ALLOW_PASSWORD_GRANT="false")).allow_password_grant
    with pytest.raises(ConfigurationError, match="LIMEN_ALLOW_PASSWORD_GRANT"):
        load_settings(make_env(tmp_path, database_url, LIMEN_ALLOW_PASSWORD_GRANT="sometimes"))


def test_off_by_default_the_grant_does_not_exist(
    client: TestClient, public: Client, user: User, services: Services
) -> None:
    assert oauth_error(password(client, public, user.user_principal_name)) == "unsupported_grant_type"
    assert "password" not in client.get("/.well-known/openid-configuration").json()["grant_types_supported"]
    assert rows(services) == []


def test_when_enabled_a_password_alone_gets_tokens(
    ropc: TestClient, public: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    assert "password" in ropc.get("/.well-known/openid-configuration").json()["grant_types_supported"]
    response = password(ropc, public, user.user_principal_name.upper())
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    claims = decode(ropc, body["id_token"]).claims
    assert claims["sub"] == user.id and claims["aud"] == public.app_id
    assert claims["amr"] == ["pwd"] and claims["auth_time"] == int(clock.now().timestamp())
    assert "sid" not in claims  # no browser session behind it
    assert body["scope"] == SCOPE and "refresh_token" in body

    (row,) = rows(services)
    assert (row.error_code, row.is_interactive, row.client_app_used) == (0, False, MOBILE)
    assert row.user_id == user.id and row.app_id == public.app_id
    assert row.authentication_requirement == "singleFactorAuthentication"
    assert [d["authenticationMethod"] for d in row.authentication_details] == ["Password"]


def test_a_web_app_using_it_is_still_a_mobile_and_desktop_client(
    ropc: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    body = password(ropc, rp, user.user_principal_name).json()
    clock.advance(timedelta(minutes=10))
    assert refresh(ropc, rp, body["refresh_token"]).status_code == 200
    assert [(r.client_app_used, r.is_interactive) for r in rows(services)] == [(MOBILE, False), (MOBILE, False)]
    # A confidential client must still authenticate.
    anonymous = ropc.post(
        "/oauth2/token",
        data={"grant_type": "password", "username": user.user_principal_name, "password": DEFAULT_PASSWORD},
    )
    assert oauth_error(anonymous, 401) == "invalid_client"


def test_failures_look_the_same_whether_or_not_the_account_exists(
    ropc: TestClient, public: Client, user: User, services: Services
) -> None:
    disabled = add_user(services, "debra.berger@contoso.test", name="Debra Berger", enabled=False)
    wrong = refusal(password(ropc, public, user.user_principal_name, "not-the-password"))
    unknown = refusal(password(ropc, public, "nobody@contoso.test"))
    off = refusal(password(ropc, public, disabled.user_principal_name))
    assert wrong == unknown == off
    assert wrong["error"] == "invalid_grant" and wrong["error_codes"] == [50126]
    assert wrong["error_description"].startswith("AADSTS50126: ")
    # The log knows the difference; the client does not.
    logged = [(r.error_code, r.user_principal_name, r.client_app_used, r.is_interactive) for r in rows(services)]
    assert sorted(logged) == sorted(
        [
            (50126, user.user_principal_name, MOBILE, False),
            (50034, "nobody@contoso.test", MOBILE, False),
            (50057, disabled.user_principal_name, MOBILE, False),
        ]
    )


def test_malformed_requests(ropc: TestClient, public: Client, user: User) -> None:
    missing = ropc.post("/oauth2/token", data={"grant_type": "password", "client_id": public.app_id, "username": "x"})
    assert oauth_error(missing) == "invalid_request"
    assert oauth_error(password(ropc, public, user.user_principal_name, scope="openid Mail.Read")) == "invalid_scope"


def test_mfa_cannot_be_done_so_a_sign_in_that_needs_it_must_interact(
    ropc: TestClient, public: Client, user: User, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    """Under security defaults an admin does MFA at every sign-in: ROPC cannot, so AADSTS50076."""
    add_totp(services, tenant_id, user, clock)
    with transaction(services.db) as db:
        directory.create_role_assignment(
            db, tenant_id, clock.now(), principal_id=user.id, role_definition_id=GLOBAL_ADMINISTRATOR
        )
    defaults_on(services, tenant_id)
    body = refusal(password(ropc, public, user.user_principal_name))
    assert body["error"] == "interaction_required" and body["error_codes"] == [50076]
    assert body["error_description"].startswith("AADSTS50076: ")
    (row,) = rows(services)
    assert (row.error_code, row.client_app_used, row.is_interactive) == (50076, MOBILE, False)
    assert row.authentication_requirement == "multiFactorAuthentication"


def test_under_security_defaults_registration_past_its_deadline_must_interact(
    ropc: TestClient, public: Client, user: User, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    defaults_on(services, tenant_id)
    # Within the window a user who has not registered yet may still sign in with a password alone, and
    # a non-interactive sign-in does not start the window (SPEC.md §10).
    assert password(ropc, public, user.user_principal_name).status_code == 200
    with services.db() as db:
        assert db.get(User, user.id).mfa_registration_started_at is None  # type: ignore[union-attr]
    with transaction(services.db) as db:
        db.execute(sa.update(User).where(User.id == user.id).values(mfa_registration_started_at=clock.now()))
    clock.advance(timedelta(days=14))
    body = refusal(password(ropc, public, user.user_principal_name))
    assert body["error"] == "interaction_required" and body["error_codes"] == [50079]
    assert [r.error_code for r in rows(services)] == [0, 50079]


def test_security_defaults_do_not_treat_it_as_legacy_authentication(
    ropc: TestClient, public: Client, user: User, services: Services, tenant_id: str
) -> None:
    """ROPC is modern OAuth (mobile/desktop), not a legacy protocol: no AADSTS530035."""
    defaults_on(services, tenant_id)
    assert password(ropc, public, user.user_principal_name).status_code == 200
    assert [r.error_code for r in rows(services)] == [0]
