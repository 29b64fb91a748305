"""Builders for test data, going through the same service functions the API and CLI use."""

from __future__ import annotations

from dataclasses import dataclass

import pyotp

from limen.service import apps as apps_service
from limen.service.context import Services
from limen.service.directory import create_user
from limen.service.methods import runner
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import User

DEFAULT_PASSWORD = "Correct-Horse-Battery-9"


def add_user(
    services: Services,
    upn: str = "adele.vance@contoso.test",
    *,
    name: str = "Adele Vance",
    password: str | None = DEFAULT_PASSWORD,
    mail: str | None = "adele.vance@contoso.test",
    enabled: bool = True,
) -> User:
    with transaction(services.db) as db:
        return create_user(
            db,
            default_tenant_id(services),
            services.clock.now(),
            user_principal_name=upn,
            display_name=name,
            hasher=services.hasher,
            password=password,
            mail=mail,
            account_enabled=enabled,
        )


@dataclass(frozen=True)
class Client:
    app_id: str
    secret: str | None
    redirect_uri: str
    display_name: str


def add_client(
    services: Services,
    redirect_uri: str = "http://127.0.0.1:9999/callback",
    *,
    public: bool = False,
    name: str = "Contoso Portal",
    logout_url: str | None = None,
) -> Client:
    now = services.clock.now()
    with transaction(services.db) as db:
        app = apps_service.create_application(
            db,
            tenant_id=default_tenant_id(services),
            display_name=name,
            now=now,
            web_redirect_uris=[] if public else [redirect_uri],
            public_client_redirect_uris=[redirect_uri] if public else [],
            is_public_client=public,
            logout_url=logout_url,
        )
        secret = None if public else apps_service.add_password(db, app, now=now).secret_text
    return Client(app_id=app.app_id, secret=secret, redirect_uri=redirect_uri, display_name=name)


def register_totp(services: Services, user_id: str) -> str:
    """Register an authenticator-app code method (TOTP) for the user, at the test clock's time, as My
    security info would; returns the base32 seed."""
    with transaction(services.db) as db:
        user = db.get(User, user_id)
        assert user is not None
        tenant_id = user.tenant_id
        started = runner.start_registration(db, services, tenant_id, user, "softwareOath", {}, None)
        assert isinstance(started, runner.Started)
        secret = str(started.view["secret"])
        code = pyotp.TOTP(secret).at(services.clock.now())
        finished = runner.finish_registration(db, services, tenant_id, user, started.challenge_id, {"code": code}, None)
        assert isinstance(finished, runner.Registration)
    return secret
