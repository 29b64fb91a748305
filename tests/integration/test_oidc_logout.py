"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): redirect only to registered URIs,
and never end a session on an unproven request without asking the person (logout CSRF).
"""

from __future__ import annotations

from datetime import timedelta

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.models import User
from tests.support.forms import form_with
from tests.support.oidc import (
    authorize,
    authorize_params,
    new_pkce,
    oauth_error,
    obtain_code,
    query_of,
    redeem,
    refresh,
    tokens_for,
)
from tests.support.seed import Client, add_client

SIGNED_OUT_URI = "http://127.0.0.1:9999/signed-out"


@pytest.fixture
def rp(services: Services) -> Client:
    return add_client(services, logout_url=SIGNED_OUT_URI)


def logout(http: TestClient, **params: str) -> httpx.Response:
    return http.get("/oauth2/logout", params=params, follow_redirects=False)


def session_alive(http: TestClient, rp: Client, cookie: str) -> bool:
    """Whether the server still honours `cookie` (set back explicitly: logout clears it in the browser)."""
    http.cookies.set("limen_session", cookie, domain="127.0.0.1")
    response = authorize(http, authorize_params(rp, prompt="none"))
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert ("code" in query) != ("error" in query)
    return "code" in query


def test_a_matching_id_token_hint_ends_the_session_and_returns_to_the_registered_uri_with_state(
    client: TestClient, rp: Client, user: User
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    cookie = client.cookies["limen_session"]
    response = logout(client, id_token_hint=body["id_token"], post_logout_redirect_uri=SIGNED_OUT_URI, state="bye-42")
    assert response.status_code == 303
    assert response.headers["location"] == f"{SIGNED_OUT_URI}?state=bye-42"
    assert 'limen_session=""' in response.headers["set-cookie"]
    assert not session_alive(client, rp, cookie)
    assert oauth_error(refresh(client, rp, body["refresh_token"])) == "invalid_grant"


def test_a_registered_redirect_uri_is_also_an_acceptable_post_logout_target(
    client: TestClient, rp: Client, user: User
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    response = logout(client, id_token_hint=body["id_token"], post_logout_redirect_uri=rp.redirect_uri)
    assert response.status_code == 303
    assert response.headers["location"] == rp.redirect_uri


def test_an_expired_id_token_hint_still_identifies_the_session(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    clock.advance(timedelta(seconds=services.settings.id_token_seconds + 60))
    response = logout(client, id_token_hint=body["id_token"], post_logout_redirect_uri=SIGNED_OUT_URI)
    assert response.status_code == 303


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test/",
        SIGNED_OUT_URI + "/",
        SIGNED_OUT_URI + "?next=https://evil.test/",
        "http://127.0.0.1:9998/signed-out",
    ],
)
def test_an_unregistered_post_logout_redirect_uri_is_400_without_redirect_and_keeps_the_session(
    client: TestClient, rp: Client, user: User, target: str
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    cookie = client.cookies["limen_session"]
    response = logout(client, id_token_hint=body["id_token"], post_logout_redirect_uri=target, state="s")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert session_alive(client, rp, cookie)
    assert refresh(client, rp, body["refresh_token"]).status_code == 200


def test_a_post_logout_redirect_uri_without_any_client_is_refused(client: TestClient, rp: Client, user: User) -> None:
    tokens_for(client, rp, user.user_principal_name)
    response = logout(client, post_logout_redirect_uri=SIGNED_OUT_URI)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_a_client_id_that_contradicts_the_id_token_hint_is_refused(
    client: TestClient, rp: Client, user: User, services: Services
) -> None:
    other = add_client(services, "http://127.0.0.1:9997/callback", name="Fabrikam", logout_url=SIGNED_OUT_URI)
    body = tokens_for(client, rp, user.user_principal_name)
    response = logout(
        client,
        id_token_hint=body["id_token"],
        client_id=other.app_id,
        post_logout_redirect_uri=SIGNED_OUT_URI,
    )
    assert response.status_code == 400
    assert "location" not in response.headers


def test_a_forged_or_foreign_token_as_id_token_hint_is_refused(client: TestClient, rp: Client, user: User) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    cookie = client.cookies["limen_session"]
    header, payload, signature = body["id_token"].split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert logout(client, id_token_hint=tampered).status_code == 400
    # An access token carries the same sid but is not an ID token: it proves nothing about the client.
    response = logout(client, id_token_hint=body["access_token"])
    assert response.status_code == 400
    assert session_alive(client, rp, cookie)


def test_without_id_token_hint_the_person_confirms_with_a_csrf_protected_form(
    client: TestClient, rp: Client, user: User
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    cookie = client.cookies["limen_session"]
    response = logout(client, client_id=rp.app_id, post_logout_redirect_uri=SIGNED_OUT_URI, state="st")
    assert response.status_code == 200
    assert "Sign out?" in response.text and rp.display_name in response.text
    form = form_with(response.text, "/oauth2/logout")
    assert form.method == "post"
    assert form.fields["csrf_token"]
    assert form.fields["post_logout_redirect_uri"] == SIGNED_OUT_URI
    assert session_alive(client, rp, cookie)

    # A cross-site POST has no valid token: the page is shown again and nothing ends.
    for forged in (
        {k: v for k, v in form.fields.items() if k != "csrf_token"},
        {**form.fields, "csrf_token": "x"},
    ):
        again = client.post("/oauth2/logout", data=forged, follow_redirects=False)
        assert again.status_code == 200
        assert "Sign out?" in again.text
        assert session_alive(client, rp, cookie)
    assert refresh(client, rp, body["refresh_token"]).status_code == 200

    confirmed = client.post("/oauth2/logout", data=form.fields, follow_redirects=False)
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"{SIGNED_OUT_URI}?state=st"
    assert not session_alive(client, rp, cookie)


def test_confirming_without_a_redirect_shows_the_signed_out_page_and_revokes_refresh_tokens(
    client: TestClient, rp: Client, user: User
) -> None:
    body = tokens_for(client, rp, user.user_principal_name)
    cookie = client.cookies["limen_session"]
    form = form_with(logout(client).text, "/oauth2/logout")
    response = client.post("/oauth2/logout", data=form.fields, follow_redirects=False)
    assert response.status_code == 200
    assert "You signed out" in response.text
    assert not session_alive(client, rp, cookie)
    assert oauth_error(refresh(client, rp, body["refresh_token"])) == "invalid_grant"


def test_a_csrf_token_of_another_session_does_not_confirm(client: TestClient, rp: Client, user: User) -> None:
    tokens_for(client, rp, user.user_principal_name)
    stale_form = form_with(logout(client).text, "/oauth2/logout")
    tokens_for(client, rp, user.user_principal_name, prompt="login")  # a new session, a new cookie
    cookie = client.cookies["limen_session"]
    response = client.post("/oauth2/logout", data=stale_form.fields, follow_redirects=False)
    assert response.status_code == 200 and "Sign out?" in response.text
    assert session_alive(client, rp, cookie)


def test_an_id_token_hint_from_an_earlier_session_asks_for_confirmation(
    client: TestClient, rp: Client, user: User
) -> None:
    old = tokens_for(client, rp, user.user_principal_name)
    tokens_for(client, rp, user.user_principal_name, prompt="login")
    cookie = client.cookies["limen_session"]
    response = logout(client, id_token_hint=old["id_token"], post_logout_redirect_uri=SIGNED_OUT_URI)
    assert response.status_code == 200
    assert "Sign out?" in response.text
    assert session_alive(client, rp, cookie)


def test_logout_without_a_session_still_returns_to_a_registered_uri(client: TestClient, rp: Client) -> None:
    response = logout(client, client_id=rp.app_id, post_logout_redirect_uri=SIGNED_OUT_URI, state="z")
    assert response.status_code == 303
    assert response.headers["location"] == f"{SIGNED_OUT_URI}?state=z"


def test_a_code_issued_before_sign_out_cannot_mint_tokens_for_the_ended_session(
    client: TestClient, rp: Client, user: User
) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    form = form_with(logout(client).text, "/oauth2/logout")
    assert client.post("/oauth2/logout", data=form.fields, follow_redirects=False).status_code == 200
    assert oauth_error(redeem(client, rp, code, pkce)) == "invalid_grant"
