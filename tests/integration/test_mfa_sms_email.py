"""Text-message and e-mail codes over HTTP with the outbox senders: registration interrupt, "My security
info", the MFA step, five tries per code, and the sign-in log."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.notify.outbox import read_outbox
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import AuthMethod, SignInRow, User
from tests.support.seed import add_user
from tests.support.signin import notice, password_step, post_form

UPN = "adele.vance@contoso.test"


def _require_registration(services: Services) -> None:
    with transaction(services.db) as db:
        user = db.scalars(sa.select(User).where(User.user_principal_name == UPN)).one()
        user.mfa_registration_required = True


def _outbox(services: Services, channel: str) -> list[dict[str, Any]]:
    path: Path = services.settings.data_dir / "outbox" / f"{channel}.jsonl"
    return read_outbox(path)


def _last_code(services: Services, channel: str, digits: int) -> str:
    found = re.match(rf"(\d{{{digits}}}) is your ", _outbox(services, channel)[-1]["body"])
    assert found is not None
    return found.group(1)


def _log(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))


def test_register_a_phone_in_the_interrupt_then_sign_in_with_a_texted_code(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    _require_registration(services)
    response = password_step(client, UPN)
    assert "Keep your account secure" in response.text
    assert 'name="phone"' in response.text  # the number is asked for with the choice of method
    response = post_form(client, response.text, "/signin/register", kind="sms", phone="+1 (555) 123-4567")
    assert response.status_code == 200, response.text
    assert "+1 5551234567" in response.text and 'autocomplete="one-time-code"' in response.text
    [texted] = _outbox(services, "sms")
    assert texted["to"] == "+15551234567"
    response = post_form(client, response.text, "/signin/register/finish", code=_last_code(services, "sms", 6))
    assert response.status_code == 303, response.text
    with services.db() as db:
        [method] = db.scalars(sa.select(AuthMethod)).all()
        assert (method.kind, method.data, method.display_name) == (
            "sms",
            {"phoneNumber": "+1 5551234567", "phoneType": "mobile"},
            "+1 XXXXXXXX67",
        )

    client.cookies.clear()
    clock.advance(timedelta(minutes=1))
    response = password_step(client, UPN)
    assert "Verify your identity" in response.text
    # The page shows the number masked, to someone who has only typed the password.
    assert "+1 XXXXXXXX67" in response.text and "5551234567" not in response.text
    assert len(_outbox(services, "sms")) == 2
    response = post_form(client, response.text, "/signin/mfa", code=_last_code(services, "sms", 6))
    assert response.status_code == 303, response.text
    last = _log(services)[-1]
    assert last.error_code == 0
    assert [d["authenticationMethod"] for d in last.authentication_details] == ["Password", "Text message"]


def test_five_wrong_codes_use_up_the_code(client: TestClient, services: Services, clock: FrozenClock) -> None:
    add_user(services)
    _require_registration(services)
    response = password_step(client, UPN)
    page = post_form(client, response.text, "/signin/register", kind="email", email="adele@contoso.test").text
    code = _last_code(services, "email", 8)
    wrong = "00000000" if code != "00000000" else "11111111"
    for _ in range(5):
        response = post_form(client, page, "/signin/register/finish", code=wrong)
        assert "didn't work" in notice(response.text)
        page = response.text
    response = post_form(client, page, "/signin/register/finish", code=code)
    assert "Too many attempts" in notice(response.text)
    with services.db() as db:
        assert db.scalars(sa.select(AuthMethod)).all() == []


def test_add_an_email_address_on_my_security_info(client: TestClient, services: Services, clock: FrozenClock) -> None:
    add_user(services)
    assert password_step(client, UPN).status_code == 303
    page = client.get("/security-info").text
    assert 'name="email"' in page and 'name="phone"' in page
    response = post_form(client, page, "/security-info/add", kind="email", email="Adele.Vance@Contoso.test")
    assert response.status_code == 200, response.text
    [mail] = _outbox(services, "email")
    assert mail["to"] == "Adele.Vance@contoso.test" and mail["subject"] == "Your Limen verification code"
    response = post_form(client, response.text, "/security-info/add/finish", code=_last_code(services, "email", 8))
    assert response.status_code == 303 and response.headers["location"] == "/security-info?done=added"
    with services.db() as db:
        [method] = db.scalars(sa.select(AuthMethod)).all()
        assert (method.kind, method.data) == ("email", {"emailAddress": "Adele.Vance@contoso.test"})


def test_a_bad_number_is_refused_before_anything_is_sent(client: TestClient, services: Services) -> None:
    add_user(services)
    _require_registration(services)
    response = password_step(client, UPN)
    response = post_form(client, response.text, "/signin/register", kind="sms", phone="555 1234")
    assert "country code" in notice(response.text)
    assert _outbox(services, "sms") == []
