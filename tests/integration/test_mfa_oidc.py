"""A relying party's view of MFA: after a second factor the ID token's amr and acr say so."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.domain.session import ACR_MULTI_FACTOR
from limen.service.context import Services
from limen.service.methods import runner
from limen.store.db import transaction
from limen.store.models import SignInRow, User
from tests.support.oidc import authorize, authorize_params, decode, new_pkce, query_of, redeem, sign_in
from tests.support.seed import Client
from tests.support.signin import post_form


def test_id_token_amr_and_acr_after_totp(
    client: TestClient, rp: Client, user: User, services: Services, clock: FrozenClock, tenant_id: str
) -> None:
    with transaction(services.db) as db:
        row = db.get(User, user.id)
        assert row is not None
        started = runner.start_registration(db, services, tenant_id, row, "softwareOath", {}, None)
        assert isinstance(started, runner.Started)
        secret = started.view["secret"]
        done = runner.finish_registration(
            db, services, tenant_id, row, started.challenge_id, {"code": pyotp.TOTP(secret).at(clock.now())}, None
        )
        assert isinstance(done, runner.Registration)
    clock.advance(timedelta(seconds=30))

    pkce = new_pkce()
    params = authorize_params(rp, pkce)
    page = sign_in(client, authorize(client, params), user.user_principal_name)
    assert page.status_code == 200 and "Verify your identity" in page.text
    response = post_form(client, page.text, "/signin/mfa", code=pyotp.TOTP(secret).at(clock.now()))
    assert response.status_code == 303 and response.headers["location"].startswith(rp.redirect_uri)
    code = query_of(response.headers["location"])["code"]
    claims = decode(client, redeem(client, rp, code, pkce).json()["id_token"]).claims
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == ACR_MULTI_FACTOR
    with services.db() as db:
        log = db.scalars(sa.select(SignInRow).where(SignInRow.error_code == 0)).all()
    assert [r.app_id for r in log] == [rp.app_id]
    assert log[0].authentication_requirement == "multiFactorAuthentication"
