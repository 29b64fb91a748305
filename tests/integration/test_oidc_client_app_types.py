"""Client app types of OpenID Connect sign-ins (SPEC.md §3.10): a confidential web app's flow is
`browser`, a public (native) client's is `mobileAppsAndDesktopClients`; the sign-in log says so as
`clientAppUsed`, for the interactive sign-in, single sign-on and refresh-token redemptions alike.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service import apps as apps_service
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import SignInFlow, SignInRow, User
from tests.support.oidc import authorize, authorize_params, new_pkce, obtain_code, redeem, refresh, tokens_for
from tests.support.seed import Client

BROWSER = "Browser"
MOBILE = "Mobile Apps and Desktop clients"


def logged(services: Services) -> list[tuple[bool, str, str]]:
    """(interactive, clientAppUsed, first authentication method) of each row, oldest first."""
    with services.db() as db:
        found = db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.is_interactive.desc()))
        return [
            (r.is_interactive, r.client_app_used, str(r.authentication_details[0]["authenticationMethod"]))
            for r in found
        ]


def test_a_confidential_web_app_is_a_browser_sign_in(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    clock.advance(timedelta(seconds=1))  # the log is read in time order: no two rows at one instant
    authorize(client, authorize_params(rp))  # single sign-on from the session
    clock.advance(timedelta(minutes=5))
    assert refresh(client, rp, body["refresh_token"]).status_code == 200
    assert logged(services) == [
        (True, BROWSER, "Password"),
        (True, BROWSER, "Previously satisfied"),
        (False, BROWSER, "Previously satisfied"),
    ]


def test_a_public_native_client_is_a_mobile_and_desktop_sign_in(
    client: TestClient, public: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    body = tokens_for(client, public, user.user_principal_name)
    clock.advance(timedelta(seconds=1))  # the log is read in time order: no two rows at one instant
    authorize(client, authorize_params(public, new_pkce()))
    clock.advance(timedelta(minutes=5))
    assert refresh(client, public, body["refresh_token"]).status_code == 200
    assert logged(services) == [
        (True, MOBILE, "Password"),
        (True, MOBILE, "Previously satisfied"),
        (False, MOBILE, "Previously satisfied"),
    ]


def test_the_stored_authorize_request_carries_the_client_app_type(
    client: TestClient, rp: Client, public: Client, services: Services
) -> None:
    authorize(client, authorize_params(rp))
    authorize(client, authorize_params(public, new_pkce()))
    with services.db() as db:
        stored = [f.authorize_request for f in db.scalars(sa.select(SignInFlow))]
    assert sorted((r or {})["client_app_type"] for r in stored) == ["browser", "mobileAppsAndDesktopClients"]


def test_an_app_with_both_platforms_is_classified_by_the_redirect_uri_used(
    client: TestClient, user: User, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    """A web app that also registers a "mobile and desktop" redirect URI: that URI is a native flow."""
    web_uri, native_uri = "http://127.0.0.1:9999/callback", "http://127.0.0.1:9997/native"
    with transaction(services.db) as db:
        app = apps_service.create_application(
            db,
            tenant_id=tenant_id,
            display_name="Contoso Hybrid",
            now=clock.now(),
            web_redirect_uris=[web_uri],
            public_client_redirect_uris=[native_uri],
        )
        secret = apps_service.add_password(db, app, now=clock.now()).secret_text
    web = Client(app.app_id, secret, web_uri, "Contoso Hybrid")
    native = Client(app.app_id, secret, native_uri, "Contoso Hybrid")
    obtain_code(client, web, user.user_principal_name)
    clock.advance(timedelta(seconds=1))  # log rows are ordered by time: give each its own moment
    pkce = new_pkce()
    code = obtain_code(client, native, user.user_principal_name, pkce)
    body = redeem(client, native, code, pkce).json()
    clock.advance(timedelta(minutes=5))
    assert refresh(client, native, body["refresh_token"]).status_code == 200
    assert logged(services) == [
        (True, BROWSER, "Password"),
        (True, MOBILE, "Previously satisfied"),
        (False, MOBILE, "Previously satisfied"),  # the refresh keeps the classification of its sign-in
    ]
