"""Authenticator app codes (TOTP) over HTTP: the registration interrupt, the MFA step, replay,
wrong and malformed codes, lockout, the sign-in log and encryption at rest."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import AuthMethod, SignInRow, User
from tests.support.seed import add_user
from tests.support.signin import notice, oathtool_code, password_step, post_form

UPN = "adele.vance@contoso.test"


def _require_registration(services: Services, upn: str = UPN) -> None:
    with transaction(services.db) as db:
        user = db.scalars(sa.select(User).where(User.user_principal_name == upn)).one()
        user.mfa_registration_required = True


def register_totp(client: TestClient, services: Services, clock: FrozenClock) -> str:
    """Sign in as a user who must register, add an authenticator app; returns its secret."""
    response = password_step(client, UPN)
    assert response.status_code == 200 and "Keep your account secure" in response.text
    response = post_form(client, response.text, "/signin/register", kind="softwareOath")
    assert response.status_code == 200
    page = response.text
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page)
    assert secret is not None, page
    key = secret.group(1).replace(" ", "")
    assert "<svg" in page and "otpauth://totp/" not in page.split("<svg", 1)[0][-200:]
    response = post_form(client, page, "/signin/register/finish", code=oathtool_code(key, clock.now()))
    assert response.status_code == 303, response.text
    return key


def _log(services: Services) -> list[SignInRow]:
    with services.db() as db:
        return list(db.scalars(sa.select(SignInRow).order_by(SignInRow.created_at, SignInRow.id)))


def test_registration_interrupt_then_mfa_with_an_oathtool_code(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    _require_registration(services)
    key = register_totp(client, services, clock)

    rows = _log(services)
    assert rows[-1].error_code == 0
    assert rows[-1].authentication_requirement == "multiFactorAuthentication"
    methods = [d["authenticationMethod"] for d in rows[-1].authentication_details]
    assert methods == ["Password", "Mobile app verification code"]
    with services.db() as db:
        user = db.scalars(sa.select(User).where(User.user_principal_name == UPN)).one()
        assert user.mfa_registration_required is False

    # The next sign-in asks for a code; a code for the next time step (30 s later) is accepted.
    client.cookies.clear()
    clock.advance(timedelta(seconds=31))
    response = password_step(client, UPN)
    assert response.status_code == 200 and "Verify your identity" in response.text
    response = post_form(client, response.text, "/signin/mfa", code=oathtool_code(key, clock.now()))
    assert response.status_code == 303
    session = client.get("/")
    assert "softwareOath" in session.text


def test_a_code_is_accepted_once(client: TestClient, services: Services, clock: FrozenClock) -> None:
    add_user(services)
    _require_registration(services)
    key = register_totp(client, services, clock)
    clock.advance(timedelta(seconds=30))
    code = oathtool_code(key, clock.now())

    client.cookies.clear()
    page = password_step(client, UPN).text
    assert post_form(client, page, "/signin/mfa", code=code).status_code == 303

    client.cookies.clear()
    page = password_step(client, UPN).text
    replay = post_form(client, page, "/signin/mfa", code=code)
    assert replay.status_code == 200
    assert "already used" in notice(replay.text)
    assert [r.error_code for r in _log(services)].count(500121) == 1


def test_wrong_and_malformed_codes(client: TestClient, services: Services, clock: FrozenClock) -> None:
    add_user(services)
    _require_registration(services)
    key = register_totp(client, services, clock)
    clock.advance(timedelta(minutes=2))
    client.cookies.clear()
    page = password_step(client, UPN).text
    good = oathtool_code(key, clock.now())
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"

    response = post_form(client, page, "/signin/mfa", code=wrong)
    assert response.status_code == 200 and "didn't work" in notice(response.text)
    failures = [r for r in _log(services) if r.error_code == 500121]
    assert len(failures) == 1
    assert failures[0].authentication_details[-1]["succeeded"] is False

    for malformed in ("12ab56", "1234567", "", "１２３４５６"):
        response = post_form(client, response.text, "/signin/mfa", code=malformed)
        assert response.status_code == 200 and "6-digit code" in notice(response.text)
    with services.db() as db:
        method = db.scalars(sa.select(AuthMethod)).one()
        assert method.failed_attempts == 1  # malformed input is not a guess

    response = post_form(client, response.text, "/signin/mfa", code=good)
    assert response.status_code == 303


def test_too_many_wrong_codes_lock_the_method(client: TestClient, services: Services, clock: FrozenClock) -> None:
    add_user(services)
    _require_registration(services)
    key = register_totp(client, services, clock)
    clock.advance(timedelta(minutes=2))
    client.cookies.clear()
    page = password_step(client, UPN).text
    good = oathtool_code(key, clock.now())
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for _ in range(5):
        response = post_form(client, page, "/signin/mfa", code=wrong)
        page = response.text
    # Locked now: even the right code is refused, and the page says for how long.
    client.cookies.clear()
    page = password_step(client, UPN).text
    assert "Too many wrong attempts" in notice(page)
    assert 'action="/signin/mfa"' not in page
    with services.db() as db:
        method = db.scalars(sa.select(AuthMethod)).one()
        assert method.locked_until is not None and method.locked_until > clock.now()
    # After the lock ends, the right code works again.
    clock.advance(timedelta(minutes=16))
    client.cookies.clear()
    page = password_step(client, UPN).text
    response = post_form(client, page, "/signin/mfa", code=oathtool_code(key, clock.now()))
    assert response.status_code == 303


def test_wrong_code_during_registration_keeps_the_setup(
    client: TestClient, services: Services, clock: FrozenClock
) -> None:
    add_user(services)
    _require_registration(services)
    page = password_step(client, UPN).text
    page = post_form(client, page, "/signin/register", kind="softwareOath").text
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")  # type: ignore[union-attr]
    good = oathtool_code(key, clock.now())
    response = post_form(client, page, "/signin/register/finish", code=f"{(int(good) + 1) % 1_000_000:06d}")
    assert response.status_code == 200 and "didn't work" in notice(response.text)
    assert key.upper()[:4] in response.text  # the same key is shown again
    with services.db() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(AuthMethod)) == 0
    assert post_form(client, response.text, "/signin/register/finish", code=good).status_code == 303


def test_totp_seeds_are_not_stored_in_clear(client: TestClient, services: Services, clock: FrozenClock) -> None:
    add_user(services)
    _require_registration(services)
    key = register_totp(client, services, clock)
    with services.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM auth_methods")).mappings().one()
        challenge_rows = conn.execute(sa.text("SELECT * FROM method_challenges")).mappings().all()
    everything = " ".join(str(v) for v in row.values())
    assert key not in everything and key.lower() not in everything
    raw_secret = bytes(row["secret"])
    assert key.encode() not in raw_secret and raw_secret.startswith(b"gAAAAA")  # a Fernet token
    for challenge in challenge_rows:
        assert key.encode() not in bytes(challenge["pending"])
