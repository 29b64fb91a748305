"""The sealed flow handles that carry a sign-in between pages (limen.service.signin).

A portal sign-in stores nothing until it succeeds, and the username step writes nothing: these tests
check that the handle keeps what the database row used to guarantee (binding, expiry, single use)
and reveals nothing the page must not (whether the account exists).
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.models import BrowserSession, SignInFlow, SignInRow
from tests.integration.test_signin_ui import start, submit_password, submit_username
from tests.support.forms import form_with
from tests.support.seed import DEFAULT_PASSWORD, add_user


def _decoded(handle: str) -> list[object]:
    payload = handle.partition(".")[0]
    body: list[object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return body


def _count(services: Services, model: type) -> int:
    with services.db() as db:
        return int(db.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_portal_sign_in_writes_no_flow_row_until_it_completes(services: Services, client: TestClient) -> None:
    add_user(services)
    page = submit_username(client, start(client), "adele.vance@contoso.test")
    assert _count(services, SignInFlow) == 0
    response = submit_password(client, page, DEFAULT_PASSWORD)
    assert response.status_code == 303
    # The spent marker: the same handle cannot complete a second sign-in.
    assert _count(services, SignInFlow) == 1


def test_a_completed_handle_cannot_be_replayed(services: Services, client: TestClient) -> None:
    add_user(services)
    page = submit_username(client, start(client), "adele.vance@contoso.test")
    assert submit_password(client, page, DEFAULT_PASSWORD).status_code == 303
    replay = submit_password(client, page, DEFAULT_PASSWORD)
    assert replay.status_code == 400 and "expired" in replay.text
    assert _count(services, BrowserSession) == 1
    assert _count(services, SignInRow) == 1


def test_a_handle_expires(services: Services, client: TestClient, clock: FrozenClock) -> None:
    add_user(services)
    page = submit_username(client, start(client), "adele.vance@contoso.test")
    clock.advance(timedelta(minutes=services.settings.signin_flow_minutes, seconds=1))
    response = submit_password(client, page, DEFAULT_PASSWORD)
    assert response.status_code == 400 and "expired" in response.text
    assert _count(services, SignInRow) == 0


def test_an_altered_handle_is_refused_even_with_a_matching_csrf_token(services: Services, client: TestClient) -> None:
    page = submit_username(client, start(client), "someone@contoso.test")
    form = form_with(page, "/signin/password")
    body = _decoded(form.fields["flow"])
    body[5] = ["password", "adele.vance@contoso.test", 0]
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
    forged = f"{payload}.{form.fields['flow'].partition('.')[2]}"
    from limen.web.ui.browser import BROWSER_COOKIE, csrf_token

    class _Request:
        app = client.app

    csrf = csrf_token(_Request(), forged, client.cookies[BROWSER_COOKIE])  # type: ignore[arg-type]
    response = client.post(
        "/signin/password", data={"flow": forged, "csrf_token": csrf, "password": "x"}, follow_redirects=False
    )
    assert response.status_code == 400
    assert _count(services, SignInRow) == 0


def test_the_handle_is_the_same_for_an_unknown_user_and_a_wrong_password(
    services: Services, client: TestClient
) -> None:
    user = add_user(services, "known@contoso.test")
    handles = []
    for username in ["nobody@contoso.test", "known@contoso.test"]:
        page = submit_username(client, start(client), username)
        failed = submit_password(client, page, "not-the-password")
        assert failed.status_code == 200
        handle = form_with(failed.text, "/signin/password").fields["flow"]
        assert user.id not in json.dumps(_decoded(handle))
        handles.append(_decoded(handle))
    unknown, wrong = handles
    # Only the flow id differs (same tenant, same clock): no user id, same failure count.
    assert unknown[5] == ["password", "nobody@contoso.test", 1]
    assert wrong[5] == ["password", "known@contoso.test", 1]
    assert [unknown[0], unknown[2], unknown[3], unknown[4]] == [wrong[0], wrong[2], wrong[3], wrong[4]]


def test_forms_are_size_limited(client: TestClient) -> None:
    start(client)
    big = client.post("/signin/identify", data={"flow": "x", "username": "a" * 20_000})
    assert big.status_code == 413
    many = client.post("/signin/identify", data={f"f{i}": "1" for i in range(40)})
    assert many.status_code == 400
    not_a_form = client.post("/signin/identify", json={"flow": "x"})
    assert not_a_form.status_code == 403
