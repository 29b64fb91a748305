"""The token endpoint: authorization codes with PKCE, client authentication, client credentials and
the RFC 6749 §5.2 error format (RFC 6749 §4.1.3, §2.3.1, §4.4; RFC 7636 §4.6).
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from limen.crypto.tokens import secret_hash
from limen.domain.clock import FrozenClock
from limen.domain.ids import new_id
from limen.service import apps as apps_service
from limen.service.context import Services
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import ApplicationPassword, User
from tests.support.oidc import (
    decode,
    new_pkce,
    oauth_error,
    obtain_code,
    redeem,
    refresh,
    token,
)
from tests.support.seed import Client, add_client


def test_a_code_redeemed_with_the_right_verifier_gives_tokens_and_no_store(
    client: TestClient, rp: Client, user: User
) -> None:
    pkce = new_pkce()
    response = redeem(client, rp, obtain_code(client, rp, user.user_principal_name, pkce), pkce)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body) >= {"access_token", "id_token", "refresh_token", "scope"}


def test_a_wrong_pkce_verifier_is_invalid_grant(client: TestClient, rp: Client, user: User) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    assert oauth_error(redeem(client, rp, code, new_pkce())) == "invalid_grant"
    assert oauth_error(redeem(client, rp, code, code_verifier=pkce.challenge)) == "invalid_grant"


def test_a_missing_pkce_verifier_is_invalid_grant(client: TestClient, rp: Client, user: User) -> None:
    code = obtain_code(client, rp, user.user_principal_name, new_pkce())
    assert oauth_error(redeem(client, rp, code)) == "invalid_grant"


def test_a_verifier_for_a_code_requested_without_pkce_is_invalid_grant(
    client: TestClient, rp: Client, user: User
) -> None:
    code = obtain_code(client, rp, user.user_principal_name)
    assert oauth_error(redeem(client, rp, code, new_pkce())) == "invalid_grant"
    # A confidential client may skip PKCE altogether.
    assert redeem(client, rp, code).status_code == 200


def test_a_code_is_single_use_and_its_replay_revokes_the_refresh_tokens_it_produced(
    client: TestClient, rp: Client, user: User
) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    first = redeem(client, rp, code, pkce)
    assert first.status_code == 200
    rotated = refresh(client, rp, first.json()["refresh_token"])
    assert rotated.status_code == 200
    # The replay fails, and the family born from the code dies with it, including the rotated token.
    assert oauth_error(redeem(client, rp, code, pkce)) == "invalid_grant"
    assert oauth_error(refresh(client, rp, rotated.json()["refresh_token"])) == "invalid_grant"
    assert oauth_error(refresh(client, rp, first.json()["refresh_token"])) == "invalid_grant"


def test_a_replayed_code_revokes_the_first_refresh_token_even_before_it_was_used(
    client: TestClient, rp: Client, user: User
) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    first = redeem(client, rp, code, pkce).json()
    assert oauth_error(redeem(client, rp, code, pkce)) == "invalid_grant"
    assert oauth_error(refresh(client, rp, first["refresh_token"])) == "invalid_grant"


def test_a_code_expires_after_the_configured_lifetime(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    lifetime = timedelta(seconds=services.settings.authorization_code_seconds)
    pkce = new_pkce()
    fresh = obtain_code(client, rp, user.user_principal_name, pkce)
    stale = obtain_code(client, rp, user.user_principal_name, pkce)
    clock.advance(lifetime - timedelta(seconds=1))
    assert redeem(client, rp, fresh, pkce).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert oauth_error(redeem(client, rp, stale, pkce)) == "invalid_grant"


def test_the_redirect_uri_must_match_the_authorization_request(
    client: TestClient, services: Services, user: User
) -> None:
    first, second = "http://127.0.0.1:9999/callback", "http://127.0.0.1:9999/other"
    with transaction(services.db) as db:
        app = apps_service.create_application(
            db,
            tenant_id=default_tenant_id(services),
            display_name="Two Callbacks",
            now=services.clock.now(),
            web_redirect_uris=[first, second],
        )
        secret = apps_service.add_password(db, app, now=services.clock.now()).secret_text
    rp = Client(app.app_id, secret, first, "Two Callbacks")
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    assert oauth_error(redeem(client, rp, code, pkce, redirect_uri=second)) == "invalid_grant"
    assert oauth_error(redeem(client, rp, code, pkce, redirect_uri=first + "/")) == "invalid_grant"
    assert oauth_error(redeem(client, rp, code, pkce, redirect_uri="")) == "invalid_grant"
    assert redeem(client, rp, code, pkce).status_code == 200


def test_a_code_issued_to_another_client_is_invalid_grant(
    client: TestClient, rp: Client, user: User, services: Services
) -> None:
    other = add_client(services, name="Fabrikam")
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    stolen = redeem(client, other, code, pkce, redirect_uri=rp.redirect_uri)
    assert oauth_error(stolen) == "invalid_grant"
    assert "access_token" not in stolen.json()


def test_an_unknown_code_is_invalid_grant_and_a_missing_one_invalid_request(client: TestClient, rp: Client) -> None:
    assert oauth_error(redeem(client, rp, "no-such-code")) == "invalid_grant"
    response = token(client, rp, {"grant_type": "authorization_code", "redirect_uri": rp.redirect_uri})
    assert oauth_error(response) == "invalid_request"


def test_client_secret_post_authenticates(client: TestClient, rp: Client, user: User) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    assert redeem(client, rp, code, pkce, auth="post").status_code == 200


def test_client_secret_basic_credentials_are_form_url_decoded(
    client: TestClient, rp: Client, user: User, services: Services
) -> None:
    # A secret using every character RFC 6749 §2.3.1 says must be encoded first.
    special = "s3cr:et/with+plus&amp=eq%pct sp@ce-é"
    now = services.clock.now()
    with transaction(services.db) as db:
        app = apps_service.find_by_app_id(db, default_tenant_id(services), rp.app_id)
        assert app is not None
        db.add(
            ApplicationPassword(
                id=new_id(),
                tenant_id=app.tenant_id,
                application_id=app.id,
                display_name="special",
                secret_hash=secret_hash(special),
                hint=special[:3],
                start_at=now,
                end_at=now + timedelta(days=1),
            )
        )
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    with_special = Client(rp.app_id, special, rp.redirect_uri, rp.display_name)
    assert redeem(client, with_special, code, pkce).status_code == 200
    # Percent-encoding even unreserved characters is legal form-urlencoding and must decode too.
    assert rp.secret is not None
    encoded = "".join(f"%{ord(c):02X}" for c in rp.secret)
    header = "Basic " + base64.b64encode(f"{rp.app_id}:{encoded}".encode()).decode()
    response = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_a_wrong_client_secret_is_401_invalid_client_with_www_authenticate(
    client: TestClient, rp: Client, user: User, auth: str
) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    impostor = Client(rp.app_id, "wrong-" + (rp.secret or ""), rp.redirect_uri, rp.display_name)
    response = redeem(client, impostor, code, pkce, auth=auth)
    assert oauth_error(response, 401) == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    # The failed attempt did not consume the code.
    assert redeem(client, rp, code, pkce).status_code == 200


def test_malformed_basic_credentials_are_401_invalid_client(client: TestClient, rp: Client) -> None:
    for header in ("Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon-here").decode()):
        response = client.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header}
        )
        assert oauth_error(response, 401) == "invalid_client"
        assert "www-authenticate" in response.headers


def test_a_confidential_client_without_its_secret_is_401(client: TestClient, rp: Client, user: User) -> None:
    pkce = new_pkce()
    code = obtain_code(client, rp, user.user_principal_name, pkce)
    response = redeem(client, rp, code, pkce, auth="none")
    assert oauth_error(response, 401) == "invalid_client"
    assert "www-authenticate" in response.headers


def test_an_unknown_client_or_no_client_at_all_is_401(client: TestClient, rp: Client) -> None:
    unknown = Client("00000000-0000-4000-8000-000000000000", "whatever", rp.redirect_uri, "?")
    assert oauth_error(token(client, unknown, {"grant_type": "client_credentials"}), 401) == "invalid_client"
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"})
    assert oauth_error(response, 401) == "invalid_client"


def test_a_public_client_redeems_with_pkce_and_no_secret(client: TestClient, public: Client, user: User) -> None:
    pkce = new_pkce()
    code = obtain_code(client, public, user.user_principal_name, pkce)
    response = redeem(client, public, code, pkce)
    assert response.status_code == 200, response.text
    assert decode(client, response.json()["id_token"]).claims["aud"] == public.app_id


def test_a_public_client_presenting_a_secret_is_refused(client: TestClient, public: Client, user: User) -> None:
    pkce = new_pkce()
    code = obtain_code(client, public, user.user_principal_name, pkce)
    pretender = Client(public.app_id, "made-up-secret", public.redirect_uri, public.display_name)
    assert oauth_error(redeem(client, pretender, code, pkce, auth="post"), 401) == "invalid_client"


def test_an_unsupported_or_missing_grant_type_is_refused(client: TestClient, rp: Client) -> None:
    response = token(client, rp, {"grant_type": "password", "username": "a", "password": "b"})
    assert oauth_error(response) == "unsupported_grant_type"
    assert oauth_error(token(client, rp, {"grant_type": "implicit"})) == "unsupported_grant_type"
    assert oauth_error(token(client, rp, {})) == "invalid_request"


def test_a_body_that_is_not_form_encoded_is_an_invalid_request(client: TestClient, rp: Client) -> None:
    assert rp.secret is not None
    body = {"grant_type": "client_credentials", "client_id": rp.app_id, "client_secret": rp.secret}
    assert oauth_error(client.post("/oauth2/token", json=body)) == "invalid_request"
    assert oauth_error(client.post("/oauth2/token", params=body)) == "invalid_request"
    # Credentials in the query string are not read: here the body lacks the secret.
    response = client.post(
        "/oauth2/token",
        params={"client_secret": rp.secret},
        data={"grant_type": "client_credentials", "client_id": rp.app_id},
    )
    assert oauth_error(response, 401) == "invalid_client"


def test_repeated_token_parameters_are_an_invalid_request(client: TestClient, rp: Client) -> None:
    assert rp.secret is not None
    response = client.post(
        "/oauth2/token",
        content=f"grant_type=client_credentials&grant_type=client_credentials&client_id={rp.app_id}"
        f"&client_secret={rp.secret}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert oauth_error(response) == "invalid_request"


def test_the_form_media_type_is_matched_case_insensitively(client: TestClient, rp: Client) -> None:
    assert rp.secret is not None
    response = client.post(
        "/oauth2/token",
        content=f"grant_type=client_credentials&client_id={rp.app_id}&client_secret={rp.secret}",
        headers={"Content-Type": "Application/X-WWW-Form-URLEncoded; charset=UTF-8"},
    )
    assert response.status_code == 200, response.text


def test_basic_credentials_together_with_a_body_secret_or_other_client_id_are_refused(
    client: TestClient, rp: Client, user: User
) -> None:
    assert rp.secret is not None
    code = obtain_code(client, rp, user.user_principal_name)
    headers = {"Authorization": "Basic " + base64.b64encode(f"{rp.app_id}:{rp.secret}".encode()).decode()}
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri}
    both = client.post("/oauth2/token", data={**form, "client_secret": rp.secret}, headers=headers)
    assert oauth_error(both) == "invalid_request"
    other = client.post("/oauth2/token", data={**form, "client_id": new_id()}, headers=headers)
    assert oauth_error(other) == "invalid_request"
    # The code was not consumed by the refused attempts.
    assert client.post("/oauth2/token", data={**form, "client_id": rp.app_id}, headers=headers).status_code == 200
