""" "My security info" over HTTP: add, set default, remove, and the recent-MFA rule."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.models import AuthMethod
from tests.support.seed import add_user
from tests.support.signin import notice, oathtool_code, password_step, post_form

UPN = "adele.vance@contoso.test"


def add_totp(client: TestClient, clock: FrozenClock, name: str = "") -> str:
    page = client.get("/security-info").text
    response = post_form(client, page, "/security-info/add", kind="softwareOath")
    assert response.status_code == 200, response.text
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', response.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    done = post_form(
        client, response.text, "/security-info/add/finish", code=oathtool_code(key, clock.now()), name=name
    )
    assert done.status_code == 303 and done.headers["location"] == "/security-info?done=added"
    return key


def _methods(services: Services) -> list[AuthMethod]:
    with services.db() as db:
        return list(db.scalars(sa.select(AuthMethod).order_by(AuthMethod.created_at, AuthMethod.id)))


def test_requires_a_session(client: TestClient) -> None:
    response = client.get("/security-info", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin"


def test_first_method_with_a_recent_password_then_the_recent_mfa_rule(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    assert password_step(client, UPN).status_code == 303
    page = client.get("/security-info").text
    assert "no sign-in method besides your password" in page
    key = add_totp(client, clock)
    assert len(_methods(services)) == 1 and _methods(services)[0].is_default

    # Adding it proved possession: for a few minutes more methods can be added.
    clock.advance(timedelta(seconds=30))
    add_totp(client, clock, name="Work phone")
    first, second = _methods(services)
    assert first.is_default and not second.is_default and second.display_name == "Work phone"

    # Changing the default needs no fresh proof.
    clock.advance(timedelta(minutes=11))
    page = client.get("/security-info").text
    response = client.post(
        "/security-info/default",
        data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1), "method": second.id},  # type: ignore[union-attr]
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert [m.is_default for m in _methods(services)] == [False, True]

    # Removing needs a recent MFA: refused now, allowed after verifying.
    assert "Verify my identity" in page and 'action="/security-info/remove"' not in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    refused = client.post("/security-info/remove", data={"csrf_token": csrf, "method": first.id})
    assert refused.status_code == 403 and "verify your identity" in notice(refused.text)
    assert len(_methods(services)) == 2

    verify = post_form(client, page, "/security-info/verify")
    assert verify.status_code == 200 and 'name="code"' in verify.text
    # The default is now "Work phone" (second), whose key is a different secret: a code of the first fails.
    wrong = post_form(client, verify.text, "/security-info/verify/answer", code=oathtool_code(key, clock.now()))
    assert wrong.status_code == 200 and "didn't work" in notice(wrong.text)
    clock.advance(timedelta(seconds=30))
    verify = post_form(client, client.get("/security-info").text, "/security-info/verify", method=first.id)
    done = post_form(client, verify.text, "/security-info/verify/answer", code=oathtool_code(key, clock.now()))
    assert done.status_code == 303 and done.headers["location"] == "/security-info?done=verified"

    page = client.get("/security-info").text
    removed = client.post(
        "/security-info/remove", data={"csrf_token": csrf, "method": first.id}, follow_redirects=False
    )
    assert removed.status_code == 303
    remaining = _methods(services)
    assert [m.id for m in remaining] == [second.id] and remaining[0].is_default


def test_forms_need_the_csrf_token_and_unknown_methods_are_404(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    password_step(client, UPN)
    assert client.post("/security-info/add", data={"kind": "softwareOath"}).status_code == 403
    page = client.get("/security-info").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    missing = client.post("/security-info/remove", data={"csrf_token": csrf, "method": "not-a-method"})
    assert missing.status_code == 404
    bad_kind = client.post("/security-info/add", data={"csrf_token": csrf, "kind": "carrierPigeon"})
    assert bad_kind.status_code == 400 and "can't be added" in notice(bad_kind.text)
    assert _methods(services) == []
