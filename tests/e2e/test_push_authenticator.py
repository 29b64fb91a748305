"""Push with number matching end to end: Limen under `limen serve` on 127.0.0.1, the real
`limen-authenticator` console script as the phone, and as the browser either httpx without
JavaScript or Debian's Chromium (Playwright), where push_poll.js moves the pages on by themselves.
Runs on SQLite, and on PostgreSQL when LIMEN_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import httpx
import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import AuthMethod, SignInRow, User
from tests.conftest import make_env
from tests.support.forms import form_with
from tests.support.live import free_port, limen_server
from tests.support.seed import DEFAULT_PASSWORD, add_user

AUTHENTICATOR = str(Path(sys.executable).with_name("limen-authenticator"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def authenticator(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The client runs with none of the server's LIMEN_* settings, as on a phone or a laptop.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIMEN_")}
    env["LIMEN_AUTHENTICATOR_STATE"] = str(state)
    return subprocess.run([AUTHENTICATOR, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def password_step(browser: httpx.Client, issuer: str, upn: str) -> httpx.Response:
    page = browser.get(f"{issuer}/signin").text
    form = form_with(page, "/signin/identify")
    page = browser.post(f"{issuer}/signin/identify", data={**form.fields, "username": upn}).text
    form = form_with(page, "/signin/password")
    return browser.post(f"{issuer}/signin/password", data={**form.fields, "password": DEFAULT_PASSWORD})


def post(browser: httpx.Client, issuer: str, page: str, action: str, **fields: str) -> httpx.Response:
    form = form_with(page, action)
    return browser.post(f"{issuer}{action}", data={**form.fields, **fields})


def shown_number(page: str) -> str:
    found = re.search(r'<p class="push-number"[^>]*>\s*(\d\d)\s*</p>', page)
    assert found, page
    return found.group(1)


def test_sign_in_approved_with_the_limen_authenticator_command(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    user = add_user(services)
    with transaction(services.db) as db:
        row = db.get(User, user.id)
        assert row is not None
        row.mfa_registration_required = True  # the next sign-in asks to register a method
    env = make_env(tmp_path, database_url, LIMEN_ISSUER=issuer)
    state = tmp_path / "phone" / "state.json"

    with limen_server(env, port), httpx.Client(timeout=30) as browser:
        # 1. Registration interrupt: choose the authenticator app, enrol the command from the page's link.
        page = password_step(browser, issuer, user.user_principal_name)
        assert page.status_code == 200 and "Keep your account secure" in page.text
        page = post(browser, issuer, page.text, "/signin/register", kind="microsoftAuthenticator")
        assert page.status_code == 200
        found = re.search(r'<code class="secret enrolment-uri" id="enrolment-uri">([^<]+)</code>', page.text)
        assert found, page.text
        uri = unescape(found.group(1))
        assert uri.startswith(f"limen-authenticator://enrol?server={issuer.replace(':', '%3A').replace('/', '%2F')}")
        assert "<svg" in page.text  # the QR code

        # Before the device enrols, "Continue" shows the same page.
        again = post(browser, issuer, page.text, "/signin/register/finish")
        assert again.status_code == 200 and uri in unescape(again.text)

        enrolled = authenticator(state, "enrol", uri, "--name", "Test phone")
        assert enrolled.returncode == 0, enrolled.stderr
        assert user.user_principal_name in enrolled.stdout
        assert state.stat().st_mode & 0o777 == 0o600

        done = post(browser, issuer, again.text, "/signin/register/finish")
        assert done.status_code == 303, done.text

        # 2. A new sign-in: the MFA page shows a number; the command lists the request without it.
        browser.cookies.clear()
        page = password_step(browser, issuer, user.user_principal_name)
        assert page.status_code == 200 and "Verify your identity" in page.text
        number = shown_number(page.text)
        assert 10 <= int(number) <= 99
        assert 'src="/static/push_poll.js"' in page.text

        listed = authenticator(state, "pending", "--json")
        assert listed.returncode == 0, listed.stderr
        [request] = json.loads(listed.stdout)["value"]
        assert request["userPrincipalName"] == user.user_principal_name
        assert request["ipAddress"] == "127.0.0.1"
        # Number matching: no field carries the number (a substring test would trip on "12" in 127.0.0.1).
        assert number not in {str(value) for value in request.values()}

        # Not approved yet: the page asks again and shows the same number.
        waiting = post(browser, issuer, page.text, "/signin/mfa")
        assert waiting.status_code == 200 and shown_number(waiting.text) == number

        approved = authenticator(state, "approve", request["id"], "--number", number)
        assert approved.returncode == 0, approved.stderr
        # The same request cannot be answered twice.
        twice = authenticator(state, "deny", request["id"])
        assert twice.returncode == 1 and "No pending request" in twice.stderr and "Traceback" not in twice.stderr

        finished = post(browser, issuer, waiting.text, "/signin/mfa")
        assert finished.status_code == 303, finished.text
        home = browser.get(f"{issuer}/")
        assert user.user_principal_name in home.text

        accounts = authenticator(state, "accounts")
        assert accounts.returncode == 0 and "Test phone" in accounts.stdout

    with services.db() as db:
        rows = list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))
        methods = db.scalars(sa.select(AuthMethod).where(AuthMethod.user_id == user.id)).all()
    assert [(m.kind, m.display_name) for m in methods] == [("microsoftAuthenticator", "Test phone")]
    last = rows[-1]
    assert last.error_code == 0
    assert last.authentication_requirement == "multiFactorAuthentication"
    steps = [d["authenticationMethod"] for d in last.authentication_details]
    assert steps == ["Password", "Mobile app notification"]


def test_in_a_browser_the_pages_move_on_by_themselves_once_the_app_answers(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    base = f"http://localhost:{port}"
    user = add_user(services)
    env = make_env(tmp_path, database_url, LIMEN_ISSUER=base)
    state = tmp_path / "phone" / "state.json"
    refused_by_csp: list[str] = []

    with limen_server(env, port), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on("console", lambda m: refused_by_csp.append(m.text) if "Content Security Policy" in m.text else None)
        try:
            # Password only (no method yet), then My security info: add the authenticator app.
            page.goto(f"{base}/signin")
            page.fill("#username", user.user_principal_name)
            page.click("form[action='/signin/identify'] button[type=submit]")
            page.fill("#password", DEFAULT_PASSWORD)
            page.click("form[action='/signin/password'] button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/security-info")
            page.click("form[action='/security-info/add']:has(input[value=microsoftAuthenticator]) button[type=submit]")
            uri = page.inner_text("#enrolment-uri").strip()
            # The page keeps asking by itself; it moves on once the command has enrolled.
            enrolled = authenticator(state, "enrol", uri, "--name", "Browser test phone")
            assert enrolled.returncode == 0, enrolled.stderr
            page.wait_for_url(f"{base}/security-info*")
            assert "Browser test phone" in page.content()

            # Sign in again: the number is on the page; approving in the command signs the browser in.
            page.goto(f"{base}/")
            page.click("form[action='/signout'] button")
            page.goto(f"{base}/signin")
            page.fill("#username", user.user_principal_name)
            page.click("form[action='/signin/identify'] button[type=submit]")
            page.fill("#password", DEFAULT_PASSWORD)
            page.click("form[action='/signin/password'] button[type=submit]")
            number = page.inner_text("#push-number").strip()
            [request] = json.loads(authenticator(state, "pending", "--wait", "5", "--json").stdout)["value"]
            approved = authenticator(state, "approve", request["id"], "--number", number)
            assert approved.returncode == 0, approved.stderr
            page.wait_for_url(f"{base}/")
            assert "microsoftAuthenticator" in page.inner_text("main")
        finally:
            context.close()
            browser.close()
    assert refused_by_csp == []
    with services.db() as db:
        last = db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at.desc(), SignInRow.id)).first()
    assert last is not None and last.error_code == 0
    assert [d["authenticationMethod"] for d in last.authentication_details] == ["Password", "Mobile app notification"]
