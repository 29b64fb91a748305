"""Passkeys over HTTP and against the database, with the software authenticator standing in for the
browser's navigator.credentials: registration (the interrupt), the second step after a password, and
the passwordless sign-in's service (begin/finish_passwordless) with its grow-only sign count and lockout."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from limen.domain.clock import FrozenClock
from limen.domain.methods import fido2
from limen.domain.methods.base import Reason, Rejected, Verified
from limen.service.context import Services
from limen.service.methods import passkeys, runner
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import AuthMethod, SignInRow, User
from tests.support.seed import add_user
from tests.support.signin import notice, password_step, post_form
from tests.support.soft_webauthn import SoftAuthenticator

UPN = "adele.vance@contoso.test"


def webauthn_options(page: str) -> dict[str, Any]:
    """What webauthn.js would read: the options in the widget's data attribute."""
    found = re.search(r'data-webauthn-options="([^"]*)"', page)
    assert found is not None, page
    options: dict[str, Any] = json.loads(unescape(found.group(1)))
    return options


def methods_used(home: str) -> str:
    """The home page's "Methods used" (the session's completed methods)."""
    found = re.search(r"<dt>Methods used</dt><dd>([^<]*)</dd>", home)
    assert found is not None, home
    return found.group(1)


def _require_registration(services: Services) -> None:
    with transaction(services.db) as db:
        db.scalars(sa.select(User).where(User.user_principal_name == UPN)).one().mfa_registration_required = True


def _passkeys(services: Services) -> list[AuthMethod]:
    with services.db() as db:
        return list(db.scalars(sa.select(AuthMethod).where(AuthMethod.kind == "fido2")))


def _log(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))


def register_in_interrupt(client: TestClient, services: Services, authenticator: SoftAuthenticator) -> None:
    """Password, then the "Keep your account secure" interrupt, adding a passkey named "Laptop"."""
    response = password_step(client, UPN)
    assert response.status_code == 200 and "Keep your account secure" in response.text
    response = post_form(client, response.text, "/signin/register", kind="fido2")
    assert response.status_code == 200
    page = response.text
    assert 'data-webauthn="create"' in page and '<script src="/static/webauthn.js"' in page
    options = webauthn_options(page)
    assert options["rp"]["id"] == "127.0.0.1"
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    credential = authenticator.create(options, services.settings.issuer)
    response = post_form(client, page, "/signin/register/finish", credential=credential, name="Laptop")
    assert response.status_code == 303, notice(response.text) or response.text


def test_register_a_passkey_in_the_interrupt_then_use_it_as_the_second_step(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    _require_registration(services)
    authenticator = SoftAuthenticator()
    register_in_interrupt(client, services, authenticator)

    [method] = _passkeys(services)
    assert (method.lookup_key, method.display_name, method.counter, method.secret) == (
        authenticator.id,
        "Laptop",
        0,
        None,
    )
    assert method.data["credentialId"] == authenticator.id and method.data["backedUp"] is False
    assert method.is_default
    assert [d["authenticationMethod"] for d in _log(services)[-1].authentication_details] == [
        "Password",
        "Passkey (device-bound)",
    ]

    client.cookies.clear()
    clock.advance(timedelta(minutes=1))
    response = password_step(client, UPN)
    assert response.status_code == 200 and "Verify your identity" in response.text
    page = response.text
    assert 'data-webauthn="get"' in page and "data-webauthn-autostart" in page
    options = webauthn_options(page)
    assert [c["id"] for c in options["allowCredentials"]] == [authenticator.id]
    response = post_form(client, page, "/signin/mfa", credential=authenticator.get(options, services.settings.issuer))
    assert response.status_code == 303, notice(response.text)
    assert methods_used(client.get("/").text) == "password, fido2"
    [method] = _passkeys(services)
    assert method.counter == 1 and method.last_used_at == clock.now()
    row = _log(services)[-1]
    assert row.error_code == 0
    assert [d["authenticationMethod"] for d in row.authentication_details] == ["Password", "Passkey (device-bound)"]


def test_an_assertion_made_for_another_site_is_refused_at_the_second_step(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    _require_registration(services)
    authenticator = SoftAuthenticator()
    register_in_interrupt(client, services, authenticator)
    client.cookies.clear()
    page = password_step(client, UPN).text
    phished = authenticator.get(webauthn_options(page), "https://login.contoso-secure.test")
    response = post_form(client, page, "/signin/mfa", credential=phished)
    assert response.status_code == 200
    assert "made for a different website" in notice(response.text)
    # The refused page asks again without starting the passkey by itself.
    assert "data-webauthn-autostart" not in response.text
    assert "fido2" not in client.get("/").text


def test_add_a_passkey_on_my_security_info(client: TestClient, services: Services) -> None:
    add_user(services)
    assert password_step(client, UPN).status_code == 303
    page = client.get("/security-info").text
    response = post_form(client, page, "/security-info/add", kind="fido2")
    assert response.status_code == 200 and 'data-webauthn="create"' in response.text
    page = response.text
    authenticator = SoftAuthenticator()
    credential = authenticator.create(webauthn_options(page), services.settings.issuer)

    # A response for another challenge is refused on the page, which then offers the same prompt again.
    other = SoftAuthenticator().create({**webauthn_options(page), "challenge": "AAAA"}, services.settings.issuer)
    response = post_form(client, page, "/security-info/add/finish", credential=other)
    assert response.status_code == 200 and "no longer valid" in notice(response.text)
    assert webauthn_options(response.text) == webauthn_options(page)

    response = post_form(client, page, "/security-info/add/finish", credential=credential, name="YubiKey 5C")
    assert response.status_code == 303 and response.headers["location"] == "/security-info?done=added"
    page = client.get("/security-info").text
    assert "Passkey" in page and "YubiKey 5C" in page
    [method] = _passkeys(services)
    assert method.lookup_key == authenticator.id and method.is_default


def _passkey_page(client: TestClient) -> str:
    """The username page's "Sign in with a passkey", which opens the passkey page."""
    response = post_form(client, client.get("/signin").text, "/signin/passkey/start")
    assert response.status_code == 200 and 'action="/signin/passkey"' in response.text
    page: str = response.text
    return page


def test_sign_in_with_a_passkey_alone(client: TestClient, services: Services, clock: FrozenClock) -> None:
    authenticator = SoftAuthenticator()
    user = _registered(services, authenticator)
    page = _passkey_page(client)
    assert "data-webauthn-support hidden" in page and "data-webauthn-autostart" in page
    options = webauthn_options(page)
    assert options["allowCredentials"] == [] and options["rpId"] == "127.0.0.1"
    response = post_form(
        client, page, "/signin/passkey", credential=authenticator.get(options, services.settings.issuer)
    )
    assert response.status_code == 303, notice(response.text)
    home = client.get("/").text
    assert UPN in home and methods_used(home) == "fido2"
    row = _log(services)[-1]
    assert (row.error_code, row.user_id) == (0, user.id)
    assert row.authentication_requirement == "multiFactorAuthentication"
    assert [d["authenticationMethod"] for d in row.authentication_details] == ["Passkey (device-bound)"]


def test_passkey_sign_in_refusals_are_shown_on_the_passkey_page(client: TestClient, services: Services) -> None:
    authenticator = SoftAuthenticator()
    _registered(services, authenticator)
    page = _passkey_page(client)
    stranger = SoftAuthenticator(user_handle=b"someone")
    response = post_form(
        client, page, "/signin/passkey", credential=stranger.get(webauthn_options(page), services.settings.issuer)
    )
    assert response.status_code == 200 and "isn't registered here" in notice(response.text)
    assert "data-webauthn-autostart" not in response.text
    phished = authenticator.get(webauthn_options(response.text), "https://login.contoso-secure.test")
    response = post_form(client, response.text, "/signin/passkey", credential=phished)
    assert "made for a different website" in notice(response.text)
    assert "fido2" not in client.get("/").text


# Passwordless (the service the /signin/passkey route calls) ------------------------------------------


def _registered(services: Services, authenticator: SoftAuthenticator) -> User:
    """A user with a passkey registered through the runner (as My security info does)."""
    user = add_user(services)
    tenant_id = default_tenant_id(services)
    with transaction(services.db) as db:
        orm_user = db.get(User, user.id)
        assert orm_user is not None
        started = runner.start_registration(db, services, tenant_id, orm_user, "fido2", {}, None)
        assert isinstance(started, runner.Started)
        credential = authenticator.create(json.loads(started.view["options"]), services.settings.issuer)
        answer = {"credential": credential, "name": "Phone"}
        done = runner.finish_registration(db, services, tenant_id, orm_user, started.challenge_id, answer, None)
        assert isinstance(done, runner.Registration), done
    return user


def _passwordless(services: Services, authenticator: SoftAuthenticator, **bend: Any) -> Any:
    tenant_id = default_tenant_id(services)
    view, pending = passkeys.begin_passwordless(services, tenant_id)
    assert view["ceremony"] == "get"
    options = json.loads(view["options"])
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    json.dumps(pending)  # the caller may keep it anywhere JSON goes
    answer = {"credential": authenticator.get(options, services.settings.issuer, **bend)}
    with transaction(services.db) as db:
        result = passkeys.finish_passwordless(db, services, tenant_id, pending, answer)
        return result if isinstance(result, Rejected) else (result[0].id, result[1].id, result[2])


def test_passwordless_finds_the_user_by_credential_and_advances_the_sign_count(
    services: Services, clock: FrozenClock
) -> None:
    authenticator = SoftAuthenticator()
    user = _registered(services, authenticator)
    [method] = _passkeys(services)
    clock.advance(timedelta(seconds=5))
    user_id, method_id, verified = _passwordless(services, authenticator)
    assert (user_id, method_id) == (user.id, method.id)
    assert verified == Verified(counter=1, log_detail="Phone")
    [method] = _passkeys(services)
    assert method.counter == 1 and method.last_used_at == clock.now()


def test_passwordless_refuses_a_count_that_goes_back(services: Services) -> None:
    authenticator = SoftAuthenticator()
    _registered(services, authenticator)
    _passwordless(services, authenticator, sign_count=7)
    result = _passwordless(services, authenticator, sign_count=7)
    assert isinstance(result, Rejected) and result.reason is Reason.REPLAYED
    assert _passkeys(services)[0].counter == 7


def test_passwordless_accepts_passkeys_that_never_count(services: Services) -> None:
    authenticator = SoftAuthenticator(counting=False)
    _registered(services, authenticator)
    for _ in range(3):
        assert isinstance(_passwordless(services, authenticator)[2], Verified)
    assert _passkeys(services)[0].counter == 0


def test_passwordless_refuses_an_unknown_credential(services: Services) -> None:
    _registered(services, SoftAuthenticator())
    stranger = SoftAuthenticator(user_handle=b"someone")
    result = _passwordless(services, stranger)
    assert isinstance(result, Rejected) and result.reason is Reason.NOT_ALLOWED
    assert "isn't registered here" in result.message and not result.counts_as_failure


def test_passwordless_refuses_an_expired_challenge(services: Services, clock: FrozenClock) -> None:
    authenticator = SoftAuthenticator()
    _registered(services, authenticator)
    tenant_id = default_tenant_id(services)
    view, pending = passkeys.begin_passwordless(services, tenant_id)
    answer = {"credential": authenticator.get(json.loads(view["options"]), services.settings.issuer)}
    clock.advance(timedelta(minutes=fido2.CEREMONY_MINUTES, seconds=1))
    with transaction(services.db) as db:
        result = passkeys.finish_passwordless(db, services, tenant_id, pending, answer)
    assert isinstance(result, Rejected) and result.reason is Reason.EXPIRED


def test_passwordless_refuses_malformed_answers(services: Services) -> None:
    _registered(services, SoftAuthenticator())
    tenant_id = default_tenant_id(services)
    _, pending = passkeys.begin_passwordless(services, tenant_id)
    for answer in ({}, {"credential": "{"}, {"credential": '{"id": 1, "response": {}}'}):
        with transaction(services.db) as db:
            result = passkeys.finish_passwordless(db, services, tenant_id, pending, answer)
        assert isinstance(result, Rejected) and result.reason is Reason.MALFORMED


def _forged(authenticator: SoftAuthenticator, services: Services) -> tuple[dict[str, Any], dict[str, str]]:
    tenant_id = default_tenant_id(services)
    view, pending = passkeys.begin_passwordless(services, tenant_id)
    credential = json.loads(authenticator.get(json.loads(view["options"]), services.settings.issuer))
    signature = bytearray(base64url_to_bytes(credential["response"]["signature"]))
    signature[8] ^= 0xFF
    credential["response"]["signature"] = bytes_to_base64url(bytes(signature))
    return pending, {"credential": json.dumps(credential)}


def test_bad_signatures_lock_the_passkey_like_any_method(services: Services, clock: FrozenClock) -> None:
    authenticator = SoftAuthenticator()
    _registered(services, authenticator)
    tenant_id = default_tenant_id(services)
    for _ in range(runner.LOCK_AFTER):
        pending, answer = _forged(authenticator, services)
        with transaction(services.db) as db:
            result = passkeys.finish_passwordless(db, services, tenant_id, pending, answer)
        assert isinstance(result, Rejected) and result.reason is Reason.WRONG_CODE
    [method] = _passkeys(services)
    assert method.locked_until == clock.now() + timedelta(minutes=runner.LOCK_MINUTES)
    locked = _passwordless(services, authenticator)
    assert isinstance(locked, Rejected) and "Too many wrong attempts" in locked.message
    clock.advance(timedelta(minutes=runner.LOCK_MINUTES, seconds=1))
    assert isinstance(_passwordless(services, authenticator)[2], Verified)


def test_a_second_registration_excludes_the_passkeys_already_registered(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    _require_registration(services)
    register_in_interrupt(client, services, SoftAuthenticator())
    (registered,) = _passkeys(services)
    # The registration proved possession just now, so My security info may add another.
    page = client.get("/security-info").text
    response = post_form(client, page, "/security-info/add", kind="fido2")
    assert response.status_code == 200
    excluded = [c["id"] for c in webauthn_options(response.text).get("excludeCredentials", [])]
    assert excluded == [registered.lookup_key]
