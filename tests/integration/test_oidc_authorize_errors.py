"""Malformed authorization requests (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).

Problems with the client or the redirect URI are shown on Limen's own error page and never
redirected; everything else goes back to the registered redirect URI with error, state and iss.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from limen.service.context import Services
from limen.store.models import User
from tests.support.oidc import (
    ISSUER,
    STATE,
    authorize,
    authorize_params,
    new_pkce,
    obtain_code,
    query_of,
)
from tests.support.seed import Client, add_client

REGISTERED = "https://app.contoso.test/callback"


@pytest.fixture
def rp(services: Services) -> Client:
    return add_client(services, REGISTERED)


def assert_error_page(response: object) -> None:
    """Limen's HTML error page: 400, no redirect anywhere."""
    assert getattr(response, "status_code", None) == 400
    headers = getattr(response, "headers", {})
    assert "location" not in headers
    assert headers["content-type"].startswith("text/html")
    assert "Sign-in request not valid" in getattr(response, "text", "")


def assert_redirected_error(response: object, error: str, redirect_uri: str = REGISTERED) -> dict[str, str]:
    assert getattr(response, "status_code", None) == 303
    location: str = getattr(response, "headers", {})["location"]
    assert location.startswith(f"{redirect_uri}?"), location
    query = query_of(location)
    assert query["error"] == error
    assert query["state"] == STATE
    assert query["iss"] == ISSUER
    assert "code" not in query
    return query


def test_an_unknown_client_id_gets_the_error_page_not_a_redirect(client: TestClient, rp: Client) -> None:
    unregistered = "00000000-0000-4000-8000-000000000000"
    assert_error_page(authorize(client, authorize_params(rp, client_id=unregistered)))
    assert_error_page(authorize(client, authorize_params(rp, client_id="not-a-guid")))
    # Even an otherwise unsupported response_type must not turn into a redirect for an unknown client.
    assert_error_page(authorize(client, authorize_params(rp, client_id=unregistered, response_type="token")))


def test_a_missing_client_id_gets_the_error_page(client: TestClient, rp: Client) -> None:
    assert_error_page(authorize(client, authorize_params(rp, client_id=None)))
    assert_error_page(authorize(client, authorize_params(rp, client_id="")))


@pytest.mark.parametrize(
    "near_miss",
    [
        "https://app.contoso.test/callback/",  # trailing slash
        "https://app.contoso.test:8443/callback",  # different port
        "https://app.contoso.test:443/callback",  # explicit default port is still another string
        "https://app.contoso.test/callback?next=/admin",  # extra query
        "https://app.contoso.test/Callback",  # case change in the path
        "https://APP.contoso.test/callback",  # case change in the host
        "http://app.contoso.test/callback",  # http instead of https
        "https://app.contoso.test/callback#frag",  # fragment
        "https://app.contoso.test.evil.test/callback",  # suffix domain
        "https://app.contoso.test@evil.test/callback",  # userinfo trick
        "https://evil.test/callback",
    ],
)
def test_a_redirect_uri_that_is_not_exactly_registered_is_never_redirected_to(
    client: TestClient, rp: Client, near_miss: str
) -> None:
    assert_error_page(authorize(client, authorize_params(rp, redirect_uri=near_miss)))
    # Also when the rest of the request is itself an error that would normally be redirected.
    assert_error_page(authorize(client, authorize_params(rp, redirect_uri=near_miss, response_type="token")))


def test_a_missing_redirect_uri_gets_the_error_page(client: TestClient, rp: Client) -> None:
    assert_error_page(authorize(client, authorize_params(rp, redirect_uri=None)))
    assert_error_page(authorize(client, authorize_params(rp, redirect_uri="")))


def test_repeated_client_id_or_redirect_uri_gets_the_error_page(client: TestClient, rp: Client) -> None:
    params = list(authorize_params(rp).items())
    assert_error_page(authorize(client, [*params, ("client_id", rp.app_id)]))
    assert_error_page(authorize(client, [*params, ("redirect_uri", rp.redirect_uri)]))
    assert_error_page(authorize(client, [*params, ("redirect_uri", "https://evil.test/callback")]))


def test_other_repeated_parameters_are_an_invalid_request_sent_back_to_the_client(
    client: TestClient, rp: Client
) -> None:
    params = list(authorize_params(rp).items())
    response = authorize(client, [*params, ("scope", "openid")])
    assert_redirected_error(response, "invalid_request")


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token", "CODE"])
def test_an_unsupported_response_type_is_redirected_with_state_and_iss(
    client: TestClient, rp: Client, response_type: str
) -> None:
    response = authorize(client, authorize_params(rp, response_type=response_type))
    assert_redirected_error(response, "unsupported_response_type")


def test_a_missing_response_type_is_an_invalid_request(client: TestClient, rp: Client) -> None:
    assert_redirected_error(authorize(client, authorize_params(rp, response_type=None)), "invalid_request")


def test_response_mode_other_than_query_is_an_invalid_request(client: TestClient, rp: Client) -> None:
    for mode in ("fragment", "form_post"):
        assert_redirected_error(authorize(client, authorize_params(rp, response_mode=mode)), "invalid_request")


def test_a_public_client_must_send_a_pkce_challenge(client: TestClient, services: Services) -> None:
    public = add_client(services, "http://127.0.0.1:9999/callback", public=True, name="Contoso Mobile")
    response = authorize(client, authorize_params(public))
    assert_redirected_error(response, "invalid_request", public.redirect_uri)
    # With S256 the same request proceeds to sign-in.
    response = authorize(client, authorize_params(public, new_pkce()))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?flow=")


def test_the_plain_pkce_method_is_refused(client: TestClient, rp: Client) -> None:
    pkce = new_pkce()
    response = authorize(client, authorize_params(rp, pkce, code_challenge_method="plain"))
    assert_redirected_error(response, "invalid_request")
    # A challenge without a method defaults to plain (RFC 7636 §4.3), which is refused too.
    response = authorize(client, authorize_params(rp, pkce, code_challenge_method=None))
    assert_redirected_error(response, "invalid_request")


def test_a_pkce_method_without_a_challenge_is_an_invalid_request(client: TestClient, rp: Client) -> None:
    response = authorize(client, authorize_params(rp, code_challenge_method="S256"))
    assert_redirected_error(response, "invalid_request")


@pytest.mark.parametrize(
    "challenge",
    [
        "a" * 42,  # too short
        "a" * 129,  # too long
        "a" * 42 + "+",  # standard base64, not base64url
        "a" * 42 + "=",  # padding
        "a" * 42 + " ",
        "a" * 43 + "\n",  # a trailing newline slips through a regex that ends in $
        "",
    ],
)
def test_a_malformed_code_challenge_is_an_invalid_request(client: TestClient, rp: Client, challenge: str) -> None:
    response = authorize(client, authorize_params(rp, code_challenge=challenge, code_challenge_method="S256"))
    assert_redirected_error(response, "invalid_request")


def test_an_unknown_scope_is_invalid_scope(client: TestClient, rp: Client) -> None:
    response = authorize(client, authorize_params(rp, scope="openid https://graph.microsoft.com/.default"))
    query = assert_redirected_error(response, "invalid_scope")
    assert ".default" in query["error_description"]


def test_prompt_none_without_a_session_is_login_required(client: TestClient, rp: Client) -> None:
    response = authorize(client, authorize_params(rp, prompt="none"))
    assert_redirected_error(response, "login_required")
    assert "limen_session" not in client.cookies


def test_an_unsupported_prompt_value_is_an_invalid_request(client: TestClient, rp: Client) -> None:
    assert_redirected_error(authorize(client, authorize_params(rp, prompt="sudo")), "invalid_request")


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", "", " 60", "1e3", "²", "99999999999999999999"])
def test_a_bad_max_age_is_an_invalid_request(client: TestClient, rp: Client, max_age: str) -> None:
    assert_redirected_error(authorize(client, authorize_params(rp, max_age=max_age)), "invalid_request")


def test_a_large_max_age_with_a_live_session_is_answered_not_crashed_on(
    client: TestClient, rp: Client, user: User
) -> None:
    obtain_code(client, rp, user.user_principal_name)
    response = authorize(client, authorize_params(rp, max_age="9999999999"))
    assert response.status_code == 303, response.text
    assert "code" in query_of(response.headers["location"])
    for huge in ("9" * 12, "9" * 20):
        response = authorize(client, authorize_params(rp, max_age=huge))
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith(f"{REGISTERED}?")


def test_an_overlong_state_is_an_invalid_request(client: TestClient, rp: Client) -> None:
    response = authorize(client, authorize_params(rp, state="s" * 2049))
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert "code" not in query


def test_an_authorization_request_by_post_is_validated_the_same_way(client: TestClient, rp: Client) -> None:
    response = client.post(
        "/oauth2/authorize",
        data=authorize_params(rp, redirect_uri="https://evil.test/callback"),
        follow_redirects=False,
    )
    assert_error_page(response)
    response = client.post(
        "/oauth2/authorize", data=authorize_params(rp, response_type="token"), follow_redirects=False
    )
    assert_redirected_error(response, "unsupported_response_type")


def test_a_valid_request_without_a_session_goes_to_sign_in_then_back_with_code_state_and_iss(
    client: TestClient, rp: Client, user: User
) -> None:
    code = obtain_code(client, rp, user.user_principal_name, new_pkce())
    assert len(code) >= 40
