"""Single sign-on and when it must give way to a fresh sign-in: prompt=login, max_age, prompt=none
(OIDC Core §3.1.2.1, §3.1.2.3).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.models import User
from tests.support.oidc import (
    authorize,
    authorize_params,
    decode,
    new_pkce,
    query_of,
    redeem,
    sign_in,
    tokens_for,
)
from tests.support.seed import Client


def goes_to_sign_in(response: object) -> bool:
    assert getattr(response, "status_code", None) == 303
    location: str = getattr(response, "headers", {})["location"]
    return location.startswith("/signin?flow=")


def claims_after_sign_in(http: TestClient, rp: Client, upn: str, **overrides: str) -> dict[str, object]:
    """Authorize with `overrides` (it must lead to the sign-in form), sign in, return the ID token claims."""
    pkce = new_pkce()
    response = authorize(http, authorize_params(rp, pkce, **overrides))
    assert goes_to_sign_in(response), response.headers.get("location")
    callback = sign_in(http, response, upn)
    assert callback.status_code == 303
    code = query_of(callback.headers["location"])["code"]
    return dict(decode(http, redeem(http, rp, code, pkce).json()["id_token"]).claims)


def test_an_existing_session_signs_in_silently(client: TestClient, rp: Client, user: User) -> None:
    tokens_for(client, rp, user.user_principal_name)
    response = authorize(client, authorize_params(rp))
    assert not goes_to_sign_in(response)
    assert "code" in query_of(response.headers["location"])
    response = authorize(client, authorize_params(rp, prompt="none"))
    assert "code" in query_of(response.headers["location"])


def test_prompt_login_forces_the_sign_in_form_despite_a_session(
    client: TestClient, rp: Client, user: User, clock: FrozenClock
) -> None:
    first = decode(client, tokens_for(client, rp, user.user_principal_name)["id_token"]).claims
    clock.advance(timedelta(minutes=5))
    second = claims_after_sign_in(client, rp, user.user_principal_name, prompt="login")
    assert second["auth_time"] == first["auth_time"] + 300
    assert second["sid"] != first["sid"]  # a fresh sign-in rotates the session


def test_prompt_login_is_not_satisfied_by_skipping_the_form(client: TestClient, rp: Client, user: User) -> None:
    tokens_for(client, rp, user.user_principal_name)
    response = authorize(client, authorize_params(rp, prompt="login"))
    assert goes_to_sign_in(response)
    # Abandoning the form and asking again without prompt still uses the old session: nothing was lost.
    assert not goes_to_sign_in(authorize(client, authorize_params(rp)))


def test_an_exceeded_max_age_forces_the_sign_in_form(
    client: TestClient, rp: Client, user: User, clock: FrozenClock
) -> None:
    first = decode(client, tokens_for(client, rp, user.user_principal_name)["id_token"]).claims
    clock.advance(timedelta(minutes=10))
    # Still young enough for a 15-minute max_age: silent, with the original auth_time.
    response = authorize(client, authorize_params(rp, max_age="900"))
    assert not goes_to_sign_in(response)
    # Exactly at the limit is still fine; one second less is not.
    assert not goes_to_sign_in(authorize(client, authorize_params(rp, max_age="600")))
    second = claims_after_sign_in(client, rp, user.user_principal_name, max_age="599")
    assert second["auth_time"] == first["auth_time"] + 600


def test_max_age_zero_always_asks_again(client: TestClient, rp: Client, user: User, clock: FrozenClock) -> None:
    tokens_for(client, rp, user.user_principal_name)
    clock.advance(timedelta(seconds=1))
    assert goes_to_sign_in(authorize(client, authorize_params(rp, max_age="0")))


def test_prompt_none_with_an_exceeded_max_age_is_login_required(
    client: TestClient, rp: Client, user: User, clock: FrozenClock
) -> None:
    tokens_for(client, rp, user.user_principal_name)
    clock.advance(timedelta(minutes=10))
    response = authorize(client, authorize_params(rp, prompt="none", max_age="60"))
    query = query_of(response.headers["location"])
    assert query["error"] == "login_required"
    assert "code" not in query


def test_an_expired_session_no_longer_signs_in_silently(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock
) -> None:
    tokens_for(client, rp, user.user_principal_name)
    clock.advance(timedelta(hours=services.settings.session_lifetime_hours))
    assert goes_to_sign_in(authorize(client, authorize_params(rp)))


def test_login_hint_prefills_the_username(client: TestClient, rp: Client) -> None:
    response = authorize(client, authorize_params(rp, login_hint="megan.bowen@contoso.test"))
    assert goes_to_sign_in(response)
    page = client.get(response.headers["location"])
    assert 'value="megan.bowen@contoso.test"' in page.text
