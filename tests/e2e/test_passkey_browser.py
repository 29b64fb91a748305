"""Passkeys in a real browser: Debian's Chromium driven by Playwright, with Chrome's virtual
authenticator (CDP WebAuthn domain) as the passkey, against `limen serve` on 127.0.0.1.

The issuer is http://localhost:PORT: localhost is a secure context, which WebAuthn requires, and a
valid rp id (an IP address is not). This exercises what the HTTP tests cannot: webauthn.js, the
browser's own WebAuthn checks (origin, rp id, user verification) and the JSON it really posts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, CDPSession, Page, sync_playwright

from limen.service.context import Services
from limen.store.models import AuthMethod, SignInRow
from tests.conftest import make_env
from tests.support.live import free_port, limen_server
from tests.support.seed import DEFAULT_PASSWORD, add_user

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UPN = "adele.vance@contoso.test"


@pytest.fixture
def limen_on_localhost(services: Services, tmp_path: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    env = make_env(tmp_path, database_url, LIMEN_ISSUER=f"http://localhost:{port}")
    # The server shares the test's database, so it shares its keys too.
    env["LIMEN_SECRET_KEY"] = str(services.settings.secret_key)
    env["LIMEN_ENCRYPTION_KEYS"] = ",".join(services.settings.encryption_keys)
    with limen_server(env, port):
        yield f"http://localhost:{port}"


@pytest.fixture
def browser_context() -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
            browser.close()


def virtual_passkey(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator that holds discoverable credentials and verifies the user (as a
    fingerprint reader would), answering every request without a person."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added: dict[str, Any] = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(added["authenticatorId"])


def sign_in_with_password(page: Page, base: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("#username", UPN)
    page.click("form[action='/signin/identify'] button[type=submit]")
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("form[action='/signin/password'] button[type=submit]")


def sign_out(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    page.click("form[action='/signout'] button")
    page.wait_for_selector("h1:text('You signed out')")


def _log(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))


#: Browsers before 2024 lack WebAuthn's JSON helpers; webauthn.js then converts by hand. Removing them
#: runs that path in today's Chromium.
WITHOUT_JSON_HELPERS = """
if (window.PublicKeyCredential) {
  delete PublicKeyCredential.parseCreationOptionsFromJSON;
  delete PublicKeyCredential.parseRequestOptionsFromJSON;
  delete PublicKeyCredential.prototype.toJSON;
}
"""


@pytest.mark.parametrize("json_helpers", [True, False], ids=["native-json", "hand-converted"])
def test_add_a_passkey_then_sign_in_with_it(
    services: Services, limen_on_localhost: str, browser_context: BrowserContext, json_helpers: bool
) -> None:
    base = limen_on_localhost
    add_user(services)
    if not json_helpers:
        browser_context.add_init_script(WITHOUT_JSON_HELPERS)
    page = browser_context.new_page()
    cdp, authenticator_id = virtual_passkey(browser_context, page)

    # Password only (no method yet), then My security info: add a passkey.
    sign_in_with_password(page, base)
    page.wait_for_url(f"{base}/")
    assert page.evaluate("typeof PublicKeyCredential.prototype.toJSON") == ("function" if json_helpers else "undefined")
    page.click("text=My security info")
    page.click("form[action='/security-info/add']:has(input[value=fido2]) button[type=submit]")
    page.fill("#passkey-name", "Virtual passkey")
    page.click("button[data-webauthn-start]")
    page.wait_for_url(f"{base}/security-info?done=added")
    assert "Virtual passkey" in page.inner_text("table.methods")

    held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(held) == 1 and held[0]["isResidentCredential"]
    with services.db() as db:
        method = db.scalars(sa.select(AuthMethod).where(AuthMethod.kind == "fido2")).one()
    # The id the browser reported (standard base64 in CDP) is the method's lookup key (base64url).
    assert method.lookup_key == held[0]["credentialId"].replace("+", "-").replace("/", "_").rstrip("=")
    assert method.data["transports"] == ["internal"]

    # Sign out; sign in with the passkey alone: the username page's "Sign in with a passkey" opens the
    # passkey page, which starts the ceremony by itself.
    sign_out(page, base)
    page.goto(f"{base}/signin")
    page.click("form[action='/signin/passkey/start'] button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert UPN in page.inner_text("main")
    assert page.inner_text("dl.facts dd:nth-of-type(2)") == "fido2"
    row = _log(services)[-1]
    assert (row.error_code, row.authentication_requirement) == (0, "multiFactorAuthentication")
    assert [d["authenticationMethod"] for d in row.authentication_details] == ["Passkey (device-bound)"]

    # And as the second step after a password (that page, too, starts the passkey by itself).
    sign_out(page, base)
    sign_in_with_password(page, base)
    page.wait_for_url(f"{base}/")
    assert page.inner_text("dl.facts dd:nth-of-type(2)") == "password, fido2"
    row = _log(services)[-1]
    assert row.error_code == 0
    assert [d["authenticationMethod"] for d in row.authentication_details] == ["Password", "Passkey (device-bound)"]
    with services.db() as db:
        counter = db.scalars(sa.select(AuthMethod.counter).where(AuthMethod.id == method.id)).one()
    # Chrome's virtual authenticator counts signatures (from registration on): two sign-ins, two more.
    assert method.counter is not None and counter == method.counter + 2


def test_a_refused_passkey_says_why_and_can_be_retried(
    services: Services, limen_on_localhost: str, browser_context: BrowserContext
) -> None:
    base = limen_on_localhost
    add_user(services)
    page = browser_context.new_page()
    cdp, authenticator_id = virtual_passkey(browser_context, page)
    sign_in_with_password(page, base)
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/security-info")
    page.click("form[action='/security-info/add']:has(input[value=fido2]) button[type=submit]")
    page.click("button[data-webauthn-start]")
    page.wait_for_url(f"{base}/security-info?done=added")
    sign_out(page, base)

    # The fingerprint is not recognised: the browser refuses, the page says so and stays.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator_id, "isUserVerified": False})
    page.goto(f"{base}/signin")
    page.click("form[action='/signin/passkey/start'] button[type=submit]")
    status = page.locator("#passkey-signin [data-webauthn-status]")
    status.wait_for(state="visible")
    assert "cancelled or timed out" in status.inner_text()
    assert page.url == f"{base}/signin/passkey/start"

    # Recognised now: the button tries again.
    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator_id, "isUserVerified": True})
    page.click("#passkey-signin button[data-webauthn-start]")
    page.wait_for_url(f"{base}/")
    assert page.inner_text("dl.facts dd:nth-of-type(2)") == "fido2"


def test_without_javascript_the_passkey_widgets_stay_hidden(
    services: Services, limen_on_localhost: str, browser_context: BrowserContext
) -> None:
    base = limen_on_localhost
    browser = browser_context.browser
    assert browser is not None
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base}/signin")
        page.click("form[action='/signin/passkey/start'] button[type=submit]")
        assert page.locator("#passkey-signin").is_hidden()
        assert "Passkeys need JavaScript" in page.inner_text("main")
    finally:
        context.close()
