"""The sign-in pages over HTTP: username, then password, then on; without JavaScript."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from limen.domain.signin_log import SignInError
from limen.service.context import Services
from limen.store.models import SignInRow, User
from tests.support.forms import form_with
from tests.support.seed import DEFAULT_PASSWORD, add_user


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting verifications so tests can compare the work done per path."""

    def __init__(self, inner: PasswordHasher) -> None:
        super().__init__(
            time_cost=inner.time_cost,
            memory_cost=inner.memory_cost,
            parallelism=inner.parallelism,
            hash_len=inner.hash_len,
            salt_len=inner.salt_len,
            type=inner.type,
        )
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


def start(client: TestClient) -> str:
    response = client.get("/signin")
    assert response.status_code == 200
    return response.text


def submit_username(client: TestClient, page: str, username: str) -> str:
    form = form_with(page, "/signin/identify")
    response = client.post("/signin/identify", data={**form.fields, "username": username})
    assert response.status_code == 200
    return response.text


def submit_password(client: TestClient, page: str, password: str) -> Any:
    form = form_with(page, "/signin/password")
    return client.post("/signin/password", data={**form.fields, "password": password}, follow_redirects=False)


def normalise(html: str, username: str) -> str:
    """Remove what legitimately differs between two attempts: flow ids, CSRF tokens, the typed name."""
    html = re.sub(r'name="(flow|csrf_token)" value="[^"]*"', r'name="\1" value=""', html)
    return html.replace(username, "USERNAME")


def test_unknown_user_and_wrong_password_get_the_same_page_status_and_work(
    services: Services, client: TestClient
) -> None:
    add_user(services, "known@contoso.test")
    counting = CountingHasher(services.hasher._hasher)
    services.hasher._hasher = counting

    page = submit_username(client, start(client), "nobody@contoso.test")
    before = counting.verifications
    unknown = submit_password(client, page, "whatever-password")
    unknown_work = counting.verifications - before

    page = submit_username(client, start(client), "known@contoso.test")
    before = counting.verifications
    wrong = submit_password(client, page, "not-the-password")
    wrong_work = counting.verifications - before

    assert unknown.status_code == wrong.status_code == 200
    assert normalise(unknown.text, "nobody@contoso.test") == normalise(wrong.text, "known@contoso.test")
    assert "Your account or password is incorrect" in unknown.text
    # Same timing class: each path runs exactly one argon2id verification with the same parameters.
    assert unknown_work == wrong_work == 1

    with services.db() as db:
        rows = db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.error_code)).all()
    codes = sorted((r.error_code, r.user_principal_name, r.user_id is None) for r in rows)
    assert codes == [
        (SignInError.USER_ACCOUNT_NOT_FOUND, "nobody@contoso.test", True),
        (SignInError.INVALID_USERNAME_OR_PASSWORD, "known@contoso.test", False),
    ]
    assert all(r.failure_reason for r in rows)
    assert all(r.authentication_details[0]["succeeded"] is False for r in rows)


def test_correct_password_signs_in_to_the_account_page_and_logs_success(services: Services, client: TestClient) -> None:
    user = add_user(services)
    page = submit_username(client, start(client), user.user_principal_name.upper())
    response = submit_password(client, page, DEFAULT_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "limen_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = client.get("/")
    assert "Adele Vance" in home.text and user.user_principal_name in home.text

    with services.db() as db:
        row = db.scalars(sa.select(SignInRow)).one()
        stored = db.get(User, user.id)
    assert (row.error_code, row.user_id, row.app_display_name) == (0, user.id, "Limen My Account")
    assert row.authentication_requirement == "singleFactorAuthentication"
    assert stored is not None and stored.last_sign_in_at == services.clock.now()


def test_disabled_account_is_told_only_after_the_right_password(services: Services, client: TestClient) -> None:
    add_user(services, "gone@contoso.test", enabled=False)
    page = submit_username(client, start(client), "gone@contoso.test")
    wrong = submit_password(client, page, "wrong-password")
    assert "Your account or password is incorrect" in wrong.text
    right = submit_password(client, wrong.text, DEFAULT_PASSWORD)
    assert right.status_code == 200
    assert "disabled" in right.text
    with services.db() as db:
        codes = sorted(db.scalars(sa.select(SignInRow.error_code)).all())
    assert codes == [SignInError.USER_DISABLED, SignInError.INVALID_USERNAME_OR_PASSWORD]
    assert client.get("/").text.count("You are not signed in") == 1


@pytest.mark.parametrize("tamper", ["missing", "wrong", "other-flow"])
def test_forms_without_a_valid_csrf_token_are_refused_and_change_nothing(
    services: Services, client: TestClient, tamper: str
) -> None:
    add_user(services)
    page = submit_username(client, start(client), "adele.vance@contoso.test")
    form = form_with(page, "/signin/password")
    other = form_with(start(client), "/signin/identify")
    data = {**form.fields, "password": DEFAULT_PASSWORD}
    if tamper == "missing":
        del data["csrf_token"]
    elif tamper == "wrong":
        data["csrf_token"] = "0" * 64
    else:
        data["csrf_token"] = other.fields["csrf_token"]
    response = client.post("/signin/password", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "limen_session" not in response.headers.get("set-cookie", "")
    with services.db() as db:
        assert db.scalars(sa.select(SignInRow)).all() == []


def test_a_flow_cannot_be_continued_from_another_browser(services: Services, client: TestClient) -> None:
    add_user(services)
    page = submit_username(client, start(client), "adele.vance@contoso.test")
    form = form_with(page, "/signin/password")
    flow_id = form.fields["flow"]
    thief = TestClient(client.app, base_url="http://127.0.0.1:8000")
    response = thief.get(f"/signin?flow={flow_id}")
    assert response.status_code == 400
    assert "expired" in response.text
    response = thief.post(
        "/signin/password", data={**form.fields, "password": DEFAULT_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403


def test_expired_or_garbage_flow_ids_show_a_clear_page(client: TestClient) -> None:
    client.get("/signin")
    for flow in ["not-a-guid", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "' OR 1=1 --"]:
        response = client.get("/signin", params={"flow": flow})
        assert response.status_code == 400
        assert "Your sign-in expired" in response.text


def test_empty_or_overlong_username_asks_again(client: TestClient) -> None:
    for username in ["", "   ", "a" * 300]:
        page = submit_username(client, start(client), username)
        assert "Enter a valid email address or username" in page
        assert form_with(page, "/signin/identify")


def test_use_another_account_returns_to_the_username_step(services: Services, client: TestClient) -> None:
    page = submit_username(client, start(client), "someone@contoso.test")
    back = form_with(page, "/signin/restart")
    response = client.post("/signin/restart", data=back.fields)
    assert response.status_code == 200
    assert form_with(response.text, "/signin/identify")


def test_sign_in_pages_are_accessible_and_protected_by_headers(client: TestClient) -> None:
    response = client.get("/signin", follow_redirects=True)
    html = response.text
    assert '<html lang="en">' in html
    assert '<label for="username">' in html and 'id="username"' in html
    assert 'autocomplete="username webauthn"' in html
    assert "<script" not in html
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_password_hash_is_upgraded_transparently_when_parameters_change(services: Services, client: TestClient) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=128, parallelism=1)
    user = add_user(services, password=None)
    with services.db.begin() as db:
        db.execute(sa.update(User).where(User.id == user.id).values(password_hash=old.hash(DEFAULT_PASSWORD)))
    page = submit_username(client, start(client), user.user_principal_name)
    assert submit_password(client, page, DEFAULT_PASSWORD).status_code == 303
    with services.db() as db:
        stored = db.get(User, user.id)
    assert stored is not None and stored.password_hash is not None
    assert "m=256,t=1,p=1" in stored.password_hash  # the suite's configured parameters
    assert not services.hasher._hasher.check_needs_rehash(stored.password_hash)


def test_sign_out_needs_the_csrf_token_and_ends_the_session(services: Services, client: TestClient) -> None:
    add_user(services)
    page = submit_username(client, start(client), "adele.vance@contoso.test")
    submit_password(client, page, DEFAULT_PASSWORD)
    assert client.post("/signout", data={"csrf_token": "nope"}).status_code == 403
    assert "Adele Vance" in client.get("/").text
    home = client.get("/").text
    response = client.post("/signout", data=form_with(home, "/signout").fields)
    assert response.status_code == 200 and "You signed out" in response.text
    assert "You are not signed in" in client.get("/").text
