"""Signing in with a Temporary Access Pass: it counts as MFA, lets a user register a first method,
a one-time pass works once, and a wrong pass looks like a wrong password."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.service.methods import tap as tap_service
from limen.store.db import transaction
from limen.store.models import SignInRow, User
from tests.support.forms import form_with
from tests.support.seed import add_user
from tests.support.signin import notice, oathtool_code, post_form

UPN = "adele.vance@contoso.test"


def _issue(services: Services, tenant_id: str, **kwargs: object) -> str:
    with transaction(services.db) as db:
        user = db.scalars(sa.select(User).where(User.user_principal_name == UPN)).one()
        user.mfa_registration_required = True
        issued = tap_service.issue(db, services, tenant_id, user.id, **kwargs)  # type: ignore[arg-type]
    return issued.value


def _tap_step(client: TestClient, value: str, upn: str = UPN):  # type: ignore[no-untyped-def]
    page = client.get("/signin").text
    form = form_with(page, "/signin/identify")
    page = client.post("/signin/identify", data={**form.fields, "username": upn}).text
    return post_form(client, page, "/signin/tap", tap=value)


def test_a_pass_signs_in_with_mfa_and_lets_the_user_register(
    client: TestClient, services: Services, clock: FrozenClock, tenant_id: str
) -> None:
    add_user(services)
    value = _issue(services, tenant_id, one_time=True)
    response = _tap_step(client, value)
    # The pass satisfied MFA; the admin's requirement sends the user to register a method.
    assert response.status_code == 200 and "Keep your account secure" in response.text
    page = post_form(client, response.text, "/signin/register", kind="softwareOath").text
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    done = post_form(client, page, "/signin/register/finish", code=oathtool_code(key, clock.now()))
    assert done.status_code == 303
    with services.db() as db:
        row = db.scalars(sa.select(SignInRow).where(SignInRow.error_code == 0)).one()
    assert row.authentication_requirement == "multiFactorAuthentication"
    assert row.authentication_details[0]["authenticationMethod"] == "Temporary Access Pass"

    # One-time: the same pass does not work again.
    client.cookies.clear()
    again = _tap_step(client, value)
    assert again.status_code == 200 and "incorrect" in notice(again.text)


def test_a_wrong_or_expired_pass_looks_like_a_wrong_password(
    client: TestClient, services: Services, clock: FrozenClock, tenant_id: str
) -> None:
    add_user(services)
    value = _issue(services, tenant_id, lifetime_minutes=60)
    wrong = _tap_step(client, value[:-1] + ("A" if value[-1] != "A" else "B"))
    unknown = _tap_step(client, value, upn="nobody@contoso.test")
    assert notice(wrong.text) == notice(unknown.text) != ""
    clock.advance(timedelta(minutes=61))
    expired = _tap_step(client, value)
    assert notice(expired.text) == notice(wrong.text)
    with services.db() as db:
        codes = sorted(r.error_code for r in db.scalars(sa.select(SignInRow)))
    assert codes == [50034, 50126, 50126]
