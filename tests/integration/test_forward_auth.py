"""Forward-auth over HTTP (limen.protocols.forward_auth): the proxy's questions, the browser's round trip
through the sign-in pages and back, HTTP Basic as legacy authentication, and the return-address rules.

Two clients stand in for the two hosts a browser talks to: `client` is the browser on Limen's host, and
`proxy` asks /forward-auth on behalf of the application's host, whose cookies it keeps (a reverse proxy
passes the browser's cookies for that host to the auth server, and the auth server's Set-Cookie back).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response

from limen.domain.clock import FrozenClock
from limen.domain.ids import new_id
from limen.service import security_defaults
from limen.service.context import Services
from limen.service.forward_auth import (
    MAX_RETURN_URL,
    THROTTLE_PER_ACCOUNT,
    THROTTLE_WINDOW,
    app_cookie_name,
    callback_uri_for,
)
from limen.store.db import transaction
from limen.store.models import Application, AuthMethod, SignInRow, User
from tests.support.seed import DEFAULT_PASSWORD, Client, add_client, add_user
from tests.support.signin import oathtool_code, post_form

ORIGIN = "https://wiki.contoso.test"
CALLBACK = f"{ORIGIN}/_limen/callback"
UPN = "adele.vance@contoso.test"


@pytest.fixture
def wiki(services: Services) -> Client:
    return add_client(services, CALLBACK, name="Contoso Wiki")


@pytest.fixture
def proxy(client: TestClient) -> Iterator[TestClient]:
    """The reverse proxy's view of the application's host: https, with that host's cookie jar."""
    with TestClient(client.app, base_url="https://127.0.0.1:8000", follow_redirects=False) as jar:
        yield jar


def forwarded(uri: str, *, method: str = "GET", accept: str = "text/html,application/xhtml+xml") -> dict[str, str]:
    """The headers Traefik and Caddy add to the auth request (nginx gets them from the documented config)."""
    return {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "wiki.contoso.test",
        "X-Forwarded-Uri": uri,
        "X-Forwarded-Method": method,
        "Accept": accept,
    }


def ask(proxy: TestClient, app: Client, uri: str = "/", *, nginx: bool = False, **headers: str) -> Response:
    mode = "&mode=nginx" if nginx else ""
    return proxy.get(f"/forward-auth?app={app.app_id}{mode}", headers={**forwarded(uri), **headers})


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def sign_in_at_limen(client: TestClient, start_url: str, password: str = DEFAULT_PASSWORD) -> Response:
    """The browser follows the start URL to Limen's sign-in page and signs in; returns the redirect that
    ends the sign-in (to the application's callback)."""
    response = client.get(start_url.removeprefix("http://127.0.0.1:8000"), follow_redirects=True)
    assert response.status_code == 200 and "Contoso Wiki" in response.text, response.text
    response = post_form(client, response.text, "/signin/identify", username=UPN)
    response = post_form(client, response.text, "/signin/password", password=password)
    return response


def come_back(proxy: TestClient, app: Client, callback_url: str, *, nginx: bool = False) -> Response:
    """The browser arrives at the application's /_limen/callback: nginx proxies it to Limen's callback;
    Traefik and Caddy ask /forward-auth, which recognises the path."""
    assert callback_url.startswith(f"{CALLBACK}?"), callback_url
    query = urlsplit(callback_url).query
    if nginx:
        return proxy.get(f"/forward-auth/callback?{query}")
    return ask(proxy, app, f"/_limen/callback?{query}")


def full_sign_in(client: TestClient, proxy: TestClient, app: Client, uri: str, *, nginx: bool = False) -> Response:
    first = ask(proxy, app, uri, nginx=nginx)
    assert first.status_code == (401 if nginx else 302)
    done = sign_in_at_limen(client, first.headers["location"])
    assert done.status_code == 303
    back = come_back(proxy, app, done.headers["location"], nginx=nginx)
    assert back.status_code == 302
    assert back.headers["location"] == f"{ORIGIN}{uri}"
    return ask(proxy, app, uri, nginx=nginx)


def log_rows(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))


def set_defaults(services: Services, tenant_id: str, enabled: bool) -> None:
    with transaction(services.db) as db:
        security_defaults.set_enabled(db, tenant_id, enabled)


# Browsers ------------------------------------------------------------------------------------------------


def test_a_browser_is_sent_to_sign_in_and_back_then_let_through_with_its_identity(
    client: TestClient, proxy: TestClient, services: Services, wiki: Client, user: User
) -> None:
    first = ask(proxy, wiki, "/docs/page?x=1&y=%C3%A9")
    assert first.status_code == 302
    location = first.headers["location"]
    assert location.startswith("http://127.0.0.1:8000/forward-auth/start?state=")
    assert "limen_fa_nonce=" in first.headers["set-cookie"]
    assert "secure" in first.headers["set-cookie"].lower() and "httponly" in first.headers["set-cookie"].lower()

    # At Limen: start sets the browser cookie once, then goes to the authorization endpoint with PKCE.
    response = client.get(location.removeprefix("http://127.0.0.1:8000"), follow_redirects=False)
    assert response.status_code == 303 and "b=1" in response.headers["location"]
    response = client.get(response.headers["location"], follow_redirects=False)
    authorize = response.headers["location"]
    assert authorize.startswith("/oauth2/authorize?")
    params = parse_qs(urlsplit(authorize).query)
    assert params["client_id"] == [wiki.app_id] and params["redirect_uri"] == [CALLBACK]
    assert params["code_challenge_method"] == ["S256"] and "prompt" not in params

    done = sign_in_at_limen(client, location)
    assert done.status_code == 303
    back = come_back(proxy, wiki, done.headers["location"])
    assert back.status_code == 302 and back.headers["location"] == f"{ORIGIN}/docs/page?x=1&y=%C3%A9"
    cookie = back.headers["set-cookie"]
    assert cookie.startswith(app_cookie_name(wiki.app_id) + "=")
    assert "httponly" in cookie.lower() and "secure" in cookie.lower() and "samesite=lax" in cookie.lower()

    allowed = ask(proxy, wiki, "/docs/page?x=1&y=%C3%A9")
    assert allowed.status_code == 200
    assert allowed.headers["x-limen-user"] == UPN
    assert allowed.headers["remote-user"] == UPN
    assert allowed.headers["x-limen-user-id"] == user.id
    assert allowed.headers["x-limen-name"] == "Adele Vance"
    assert allowed.headers["x-limen-email"] == "adele.vance@contoso.test"
    assert allowed.headers["x-limen-amr"] == "pwd"
    assert allowed.headers["cache-control"] == "no-store"
    # Any method, any path of the application: the same cookie answers.
    assert proxy.post(f"/forward-auth?app={wiki.app_id}", headers=forwarded("/api", method="POST")).status_code == 200

    # The sign-in was logged for the application, from the browser.
    rows = [r for r in log_rows(services) if r.app_id == wiki.app_id]
    assert [(r.error_code, r.client_app_used, r.user_id) for r in rows] == [(0, "Browser", user.id)]


def test_an_existing_limen_session_signs_in_to_the_application_without_a_password(
    client: TestClient, proxy: TestClient, services: Services, wiki: Client, user: User
) -> None:
    full_sign_in(client, proxy, wiki, "/")
    other = add_client(services, "https://ci.contoso.test/_limen/callback", name="Contoso CI")
    first = proxy.get(
        f"/forward-auth?app={other.app_id}", headers={**forwarded("/builds"), "X-Forwarded-Host": "ci.contoso.test"}
    )
    assert first.status_code == 302
    # The browser already has Limen's cookies: start goes straight on, and single sign-on issues a code.
    response = client.get(first.headers["location"].removeprefix("http://127.0.0.1:8000"), follow_redirects=False)
    assert response.headers["location"].startswith("/oauth2/authorize?")
    response = client.get(response.headers["location"], follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("https://ci.contoso.test/_limen/")
    query = urlsplit(response.headers["location"]).query
    back = proxy.get(
        f"/forward-auth?app={other.app_id}",
        headers={**forwarded(f"/_limen/callback?{query}"), "X-Forwarded-Host": "ci.contoso.test"},
    )
    assert back.status_code == 302 and back.headers["location"] == "https://ci.contoso.test/builds"
    allowed = proxy.get(
        f"/forward-auth?app={other.app_id}", headers={**forwarded("/builds"), "X-Forwarded-Host": "ci.contoso.test"}
    )
    assert allowed.status_code == 200 and allowed.headers["x-limen-user"] == UPN


def test_nginx_mode_answers_401_with_the_sign_in_address_and_the_callback_has_its_own_route(
    client: TestClient, proxy: TestClient, wiki: Client, user: User
) -> None:
    first = ask(proxy, wiki, "/", nginx=True)
    assert first.status_code == 401
    assert first.headers["location"].startswith("http://127.0.0.1:8000/forward-auth/start?state=")
    assert "www-authenticate" not in first.headers
    allowed = full_sign_in(client, proxy, wiki, "/", nginx=True)
    assert allowed.status_code == 200 and allowed.headers["x-limen-user"] == UPN


def test_clients_that_are_not_browsers_get_a_basic_challenge_instead_of_a_redirect(
    proxy: TestClient, wiki: Client
) -> None:
    for response in (
        ask(proxy, wiki, "/api/items", Accept="application/json"),
        proxy.get(f"/forward-auth?app={wiki.app_id}", headers=forwarded("/api", method="POST")),
        ask(proxy, wiki, "/Microsoft-Server-ActiveSync?Cmd=Sync"),
        ask(proxy, wiki, "/api/items", nginx=True, Accept="*/*"),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="Contoso Wiki", charset="UTF-8"'
        assert "location" not in response.headers


def test_signing_out_of_limen_ends_access_to_the_application(
    client: TestClient, proxy: TestClient, wiki: Client, user: User
) -> None:
    assert full_sign_in(client, proxy, wiki, "/").status_code == 200
    home = client.get("/").text
    response = post_form(client, home, "/signout")
    assert response.status_code == 200
    assert ask(proxy, wiki, "/").status_code == 302


def test_an_application_cookie_opens_only_its_own_application(
    client: TestClient, proxy: TestClient, services: Services, wiki: Client, user: User
) -> None:
    assert full_sign_in(client, proxy, wiki, "/").status_code == 200
    value = proxy.cookies.get(app_cookie_name(wiki.app_id))
    assert value
    other = add_client(services, CALLBACK, name="Contoso Wiki Admin")
    stolen = {"Cookie": f"{app_cookie_name(other.app_id)}={value}"}
    assert proxy.get(f"/forward-auth?app={other.app_id}", headers={**forwarded("/"), **stolen}).status_code == 302
    # A cookie altered in one character opens nothing.
    tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
    forged = {"Cookie": f"{app_cookie_name(wiki.app_id)}={tampered}"}
    assert (
        TestClient(client.app, follow_redirects=False)
        .get(f"/forward-auth?app={wiki.app_id}", headers={**forwarded("/"), **forged})
        .status_code
        == 302
    )


def test_a_session_without_mfa_steps_up_when_the_application_needs_it(
    client: TestClient,
    proxy: TestClient,
    services: Services,
    clock: FrozenClock,
    wiki: Client,
    user: User,
    tenant_id: str,
) -> None:
    assert full_sign_in(client, proxy, wiki, "/").headers["x-limen-amr"] == "pwd"
    # The user registers an authenticator app: from now on their sign-ins need MFA (per-user MFA).
    seed = pyotp.random_base32()
    with transaction(services.db) as db:
        db.add(
            AuthMethod(
                id=new_id(),
                tenant_id=tenant_id,
                user_id=user.id,
                kind="softwareOath",
                display_name="Authenticator",
                data={},
                secret=services.vault.encrypt(seed.encode()),
                is_default=True,
                failed_attempts=0,
                created_at=clock.now(),
            )
        )
    clock.advance(timedelta(minutes=1))
    again = ask(proxy, wiki, "/")
    assert again.status_code == 302
    # Limen sees the session falls short: the person adds MFA to it, without typing the password again.
    response = client.get(again.headers["location"].removeprefix("http://127.0.0.1:8000"), follow_redirects=True)
    assert response.status_code == 200 and "Verify your identity" in response.text
    assert 'name="password"' not in response.text
    response = post_form(client, response.text, "/signin/mfa", code=oathtool_code(seed, clock.now()))
    assert response.status_code == 303
    assert come_back(proxy, wiki, response.headers["location"]).status_code == 302
    allowed = ask(proxy, wiki, "/")
    assert allowed.status_code == 200
    assert allowed.headers["x-limen-amr"] == "pwd,otp,mfa"


def test_under_security_defaults_a_user_may_skip_registration_and_reach_the_application(
    client: TestClient, proxy: TestClient, services: Services, wiki: Client, user: User, tenant_id: str
) -> None:
    set_defaults(services, tenant_id, True)
    first = ask(proxy, wiki, "/")
    response = sign_in_at_limen(client, first.headers["location"])
    assert response.status_code == 200 and "/signin/register/skip" in response.text
    response = post_form(client, response.text, "/signin/register/skip")
    assert response.status_code == 303
    assert come_back(proxy, wiki, response.headers["location"]).status_code == 302
    allowed = ask(proxy, wiki, "/")
    assert allowed.status_code == 200 and allowed.headers["x-limen-user"] == UPN


# Return addresses: never an open redirect -------------------------------------------------------------------


def test_only_urls_on_a_registered_callback_origin_are_return_addresses(services: Services, wiki: Client) -> None:
    with services.db() as db:
        app = db.scalars(sa.select(Application).where(Application.app_id == wiki.app_id)).one()
    assert callback_uri_for(app, f"{ORIGIN}/docs?a=1") == CALLBACK
    assert callback_uri_for(app, "https://WIKI.contoso.test:443/x") == CALLBACK
    for refused in (
        "https://wiki.contoso.test.evil.test/",
        "https://wiki.contoso.test@evil.test/",
        "https://evil.test/?https://wiki.contoso.test/",
        "//evil.test/",
        "/docs",
        "http://wiki.contoso.test/",
        "https://wiki.contoso.test:8443/",
        "https://wiki.contoso.test\\@evil.test/",
        "javascript:alert(1)//wiki.contoso.test/",
        "https://wiki.contoso.test/\r\nSet-Cookie: x=1",
        "https://wiki.contoso.test/" + "a" * MAX_RETURN_URL,
        "",
    ):
        assert callback_uri_for(app, refused) is None, refused


def test_a_host_the_admin_did_not_register_is_refused_not_redirected(proxy: TestClient, wiki: Client) -> None:
    response = ask(proxy, wiki, "/", **{"X-Forwarded-Host": "evil.test"})
    assert response.status_code == 400 and "location" not in response.headers
    assert "https://evil.test/_limen/callback is not a redirect URI" in response.text
    response = ask(proxy, wiki, "/", **{"X-Forwarded-Host": "wiki.contoso.test@evil.test"})
    assert response.status_code == 400 and "location" not in response.headers


def test_a_long_return_url_falls_back_to_the_origin_and_still_fits_the_state(
    client: TestClient, proxy: TestClient, wiki: Client, user: User
) -> None:
    first = ask(proxy, wiki, "/search?q=" + "x" * 3000)
    assert first.status_code == 302
    done = sign_in_at_limen(client, first.headers["location"])
    assert done.status_code == 303
    back = come_back(proxy, wiki, done.headers["location"])
    assert back.headers["location"] == f"{ORIGIN}/"


def test_altered_states_and_foreign_callbacks_are_refused(
    client: TestClient, proxy: TestClient, wiki: Client, user: User
) -> None:
    first = ask(proxy, wiki, "/")
    location = first.headers["location"].removeprefix("http://127.0.0.1:8000")
    state = parse_qs(urlsplit(location).query)["state"][0]
    payload, _, mac = state.partition(".")
    altered = client.get(f"/forward-auth/start?state={payload}.{'0' * len(mac)}", follow_redirects=False)
    assert altered.status_code == 400 and "location" not in altered.headers

    done = sign_in_at_limen(client, location)
    callback = done.headers["location"]
    # The callback URL reaching another browser (no nonce cookie for this sign-in): login CSRF, refused.
    with TestClient(client.app, base_url="https://127.0.0.1:8000", follow_redirects=False) as victim:
        refused = come_back(victim, wiki, callback)
        assert refused.status_code == 400 and "set-cookie" not in refused.headers
        assert "another browser" in refused.text
    # The rightful browser completes it once; the same code again is refused.
    assert come_back(proxy, wiki, callback).status_code == 302
    assert come_back(proxy, wiki, callback).status_code == 400


def test_an_unknown_application_is_a_configuration_error(proxy: TestClient) -> None:
    response = proxy.get("/forward-auth?app=00000000-0000-0000-0000-000000000000", headers=forwarded("/"))
    assert response.status_code == 400 and "misconfigured" in response.text
    assert proxy.get("/forward-auth", headers=forwarded("/")).status_code == 400


# HTTP Basic: legacy authentication ----------------------------------------------------------------------------


def test_basic_credentials_with_security_defaults_off_are_a_single_factor_sign_in(
    proxy: TestClient, services: Services, clock: FrozenClock, wiki: Client, user: User
) -> None:
    response = ask(proxy, wiki, "/dav/file.txt", Authorization=basic(UPN, DEFAULT_PASSWORD), Accept="*/*")
    assert response.status_code == 200
    assert response.headers["x-limen-user"] == UPN and response.headers["x-limen-amr"] == "pwd"
    clock.advance(timedelta(seconds=1))
    active_sync = ask(
        proxy, wiki, "/microsoft-server-activesync?Cmd=Ping", Authorization=basic(UPN.upper(), DEFAULT_PASSWORD)
    )
    assert active_sync.status_code == 200
    rows = log_rows(services)
    assert [(r.error_code, r.client_app_used, r.authentication_requirement, r.app_id, r.user_id) for r in rows] == [
        (0, "Other clients", "singleFactorAuthentication", wiki.app_id, user.id),
        (0, "Exchange ActiveSync", "singleFactorAuthentication", wiki.app_id, user.id),
    ]
    assert rows[0].authentication_details[0]["authenticationMethod"] == "Password"


def test_basic_credentials_are_blocked_under_security_defaults_and_logged_as_legacy(
    proxy: TestClient, services: Services, clock: FrozenClock, wiki: Client, user: User, tenant_id: str
) -> None:
    set_defaults(services, tenant_id, True)
    eas = ask(proxy, wiki, "/Microsoft-Server-ActiveSync?Cmd=Sync", Authorization=basic(UPN, DEFAULT_PASSWORD))
    clock.advance(timedelta(seconds=1))
    other = ask(proxy, wiki, "/remote.php/dav", Authorization=basic(UPN, DEFAULT_PASSWORD), Accept="*/*")
    for response in (eas, other):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="Contoso Wiki", charset="UTF-8"'
        assert "x-limen-user" not in response.headers
    rows = log_rows(services)
    assert [(r.error_code, r.client_app_used, r.user_id) for r in rows] == [
        (530035, "Exchange ActiveSync", user.id),
        (530035, "Other clients", user.id),
    ]
    assert rows[0].failure_reason == "Access has been blocked by security defaults."
    assert rows[0].authentication_requirement_policies == [
        {"requirementProvider": "securityDefaults", "detail": "Legacy authentication"}
    ]


def test_basic_failures_all_look_the_same_and_are_logged_apart(
    proxy: TestClient, services: Services, clock: FrozenClock, wiki: Client, user: User
) -> None:
    add_user(services, "disabled.user@contoso.test", name="Disabled User", enabled=False)
    wrong = ask(proxy, wiki, "/x", Authorization=basic(UPN, "not-the-password"), Accept="*/*")
    clock.advance(timedelta(seconds=1))
    unknown = ask(proxy, wiki, "/x", Authorization=basic("nobody@contoso.test", "whatever"), Accept="*/*")
    clock.advance(timedelta(seconds=1))
    disabled = ask(proxy, wiki, "/x", Authorization=basic("disabled.user@contoso.test", DEFAULT_PASSWORD), Accept="*/*")
    malformed = ask(proxy, wiki, "/x", Authorization="Basic not*base64", Accept="*/*")
    for response in (wrong, unknown, disabled, malformed):
        assert response.status_code == 401
        assert response.text == wrong.text
        assert {k: v for k, v in response.headers.items() if k != "content-length"} == {
            k: v for k, v in wrong.headers.items() if k != "content-length"
        }
    rows = log_rows(services)
    # The malformed header names no account: nothing to log.
    assert [(r.error_code, r.user_principal_name, r.client_app_used) for r in rows] == [
        (50126, UPN, "Other clients"),
        (50034, "nobody@contoso.test", "Other clients"),
        (50057, "disabled.user@contoso.test", "Other clients"),
    ]
    assert all("not-the-password" not in str(r.authentication_details) for r in rows)


def test_repeated_wrong_passwords_throttle_basic_for_the_account(
    proxy: TestClient, services: Services, clock: FrozenClock, wiki: Client, user: User
) -> None:
    for _ in range(THROTTLE_PER_ACCOUNT):
        assert ask(proxy, wiki, "/x", Authorization=basic(UPN, "guess"), Accept="*/*").status_code == 401
        clock.advance(timedelta(seconds=1))
    # Even the right password is refused while the window holds the failures; the log says why.
    assert ask(proxy, wiki, "/x", Authorization=basic(UPN, DEFAULT_PASSWORD), Accept="*/*").status_code == 401
    assert log_rows(services)[-1].error_code == 50053
    clock.advance(THROTTLE_WINDOW)
    assert ask(proxy, wiki, "/x", Authorization=basic(UPN, DEFAULT_PASSWORD), Accept="*/*").status_code == 200
    assert log_rows(services)[-1].error_code == 0


def test_identity_headers_encode_what_http_headers_cannot_carry(
    proxy: TestClient, services: Services, wiki: Client
) -> None:
    add_user(services, "zoe@contoso.test", name="Zoë 100% Ødegård", mail="zoe@contoso.test")
    response = ask(proxy, wiki, "/", Authorization=basic("zoe@contoso.test", DEFAULT_PASSWORD), Accept="*/*")
    assert response.status_code == 200
    assert response.headers["x-limen-name"] == "Zo%C3%AB 100%25 %C3%98deg%C3%A5rd"
    assert re.fullmatch(r"[ -~]*", response.headers["remote-name"])


def test_basic_cannot_get_past_a_second_factor_the_user_has(
    proxy: TestClient, services: Services, clock: FrozenClock, wiki: Client, user: User, tenant_id: str
) -> None:
    import pyotp

    from limen.service.methods import runner

    with transaction(services.db) as db:
        row = db.get(User, user.id)
        assert row is not None
        started = runner.start_registration(db, services, tenant_id, row, "softwareOath", {}, None)
        assert isinstance(started, runner.Started)
        code = pyotp.TOTP(started.view["secret"]).at(clock.now())
        assert isinstance(
            runner.finish_registration(db, services, tenant_id, row, started.challenge_id, {"code": code}, None),
            runner.Registration,
        )
    response = ask(proxy, wiki, "/dav/file.txt", Authorization=basic(UPN, DEFAULT_PASSWORD), Accept="*/*")
    assert response.status_code == 401
    assert [(r.error_code, r.client_app_used) for r in log_rows(services)] == [(50076, "Other clients")]
