"""Push on the sign-in page: a wrong number, a denial and an expired request each fail the MFA step,
say so, offer a new request, and leave a failure row (500121) in the sign-in log."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.models import SignInRow, User
from tests.integration.test_push_device_api import Device, answer, enrol, only_request
from tests.support.signin import notice, password_step, post_form


def _mfa_page(client: TestClient, user: User) -> tuple[str, str]:
    page = password_step(client, user.user_principal_name)
    assert page.status_code == 200 and "Verify your identity" in page.text
    number = re.search(r'<p class="push-number"[^>]*>\s*(\d\d)\s*<', page.text)
    assert number is not None, page.text
    return page.text, number.group(1)


def _failures(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).where(SignInRow.error_code == 500121)))


def test_wrong_number_denial_and_expiry_fail_and_are_logged(
    client: TestClient, services: Services, tenant_id: str, user: User, clock: FrozenClock
) -> None:
    device: Device = enrol(client, services, tenant_id, user)

    page, number = _mfa_page(client, user)
    waiting = post_form(client, page, "/signin/mfa")
    assert waiting.status_code == 200 and "Verify your identity" in waiting.text and notice(waiting.text) == ""
    wrong = "11" if number != "11" else "12"
    assert answer(client, device, only_request(client, device)["id"], "approve", wrong).status_code == 202
    failed = post_form(client, page, "/signin/mfa")
    assert failed.status_code == 200 and "number" in notice(failed.text).lower()
    assert 'action="/signin/mfa/switch"' in failed.text  # a new request can be sent

    page, number = _mfa_page(client, user)
    assert answer(client, device, only_request(client, device)["id"], "deny", "").status_code == 202
    denied = post_form(client, page, "/signin/mfa")
    assert denied.status_code == 200 and notice(denied.text) != ""

    page, number = _mfa_page(client, user)
    clock.advance(timedelta(seconds=61))
    expired = post_form(client, page, "/signin/mfa")
    assert expired.status_code == 200 and "expired" in notice(expired.text).lower()

    rows = _failures(services)
    assert len(rows) == 3
    for row in rows:
        detail = row.authentication_details[-1]
        assert detail["authenticationMethod"] == "Mobile app notification" and detail["succeeded"] is False
