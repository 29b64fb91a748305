"""The demo tenant: a few users, nested groups, an admin role and the demo application.

Seeding is idempotent. Passwords, the demo app's secret and the admin token are generated on the
first run and kept in <data dir>/demo.json (mode 0600), so every `make demo` prints the same ones.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limen.domain.directory import GLOBAL_ADMINISTRATOR
from limen.service import apps as apps_service
from limen.service.context import Services
from limen.service.directory import (
    add_member,
    create_group,
    create_role_assignment,
    create_user,
    find_by_upn,
    groups_named,
)
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction

DEMO_DOMAIN = "contoso.demo"
DEMO_APP_NAME = "Demo application"


@dataclass(frozen=True)
class DemoUser:
    upn: str
    name: str
    role: str
    #: Must register an authentication method at the first sign-in (the registration interrupt).
    must_register: bool = False


DEMO_USERS = (
    DemoUser(
        f"adele.vance@{DEMO_DOMAIN}", "Adele Vance", "employee (Sales, remote): registers MFA at first sign-in", True
    ),
    DemoUser(f"alex.wilber@{DEMO_DOMAIN}", "Alex Wilber", "Global Administrator"),
    DemoUser(f"megan.bowen@{DEMO_DOMAIN}", "Megan Bowen", "employee (Engineering)"),
)


def _password() -> str:
    # Readable yet strong: three random words would need a list; 4 groups of base32 are simpler.
    raw = secrets.token_hex(8)
    return f"Demo-{raw[:4]}-{raw[4:8]}-{raw[8:12]}!"


def _load_state(path: Path) -> dict[str, Any]:
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data
    return {}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2)


def seed_demo(services: Services, rp_base_url: str) -> dict[str, Any]:
    """Create what is missing of the demo tenant; return passwords, app credentials and admin token."""
    path = services.settings.data_dir / "demo.json"
    state = _load_state(path)
    state.setdefault("passwords", {})
    state.setdefault("admin_token", secrets.token_urlsafe(32))
    tenant_id = default_tenant_id(services)
    now = services.clock.now()
    with transaction(services.db) as db:
        users = {}
        for demo in DEMO_USERS:
            user = find_by_upn(db, tenant_id, demo.upn)
            if user is None:
                password = state["passwords"].get(demo.upn) or _password()
                state["passwords"][demo.upn] = password
                first, last = demo.name.split(" ", 1)
                user = create_user(
                    db,
                    tenant_id,
                    now,
                    user_principal_name=demo.upn,
                    display_name=demo.name,
                    given_name=first,
                    surname=last,
                    mail=demo.upn,
                    hasher=services.hasher,
                    password=password,
                )
                user.mfa_registration_required = demo.must_register
            users[demo.upn] = user

        def group(name: str, description: str) -> str:
            existing = groups_named(db, tenant_id, name)
            if existing:
                return existing[0].id
            return create_group(db, tenant_id, now, display_name=name, description=description).id

        remote = group("Remote Workers", "Everyone who works away from the office")
        sales = group("Sales", "Sales team")
        if not state.get("memberships_done"):
            add_member(db, tenant_id, remote, sales)  # nested: Sales is inside Remote Workers
            add_member(db, tenant_id, sales, users[DEMO_USERS[0].upn].id)
            create_role_assignment(
                db, tenant_id, now, principal_id=users[DEMO_USERS[1].upn].id, role_definition_id=GLOBAL_ADMINISTRATOR
            )
            state["memberships_done"] = True

        app = apps_service.find_by_app_id(db, tenant_id, state.get("app_id", "")) if state.get("app_id") else None
        callback = f"{rp_base_url}/callback"
        if app is None:
            app = apps_service.create_application(
                db,
                tenant_id=tenant_id,
                display_name=DEMO_APP_NAME,
                now=now,
                web_redirect_uris=[callback],
                logout_url=f"{rp_base_url}/",
            )
            state["app_id"] = app.app_id
            state["app_secret"] = apps_service.add_password(db, app, now=now, display_name="demo").secret_text
        elif callback not in app.web_redirect_uris:
            app.web_redirect_uris = [*app.web_redirect_uris, callback]
            app.logout_url = f"{rp_base_url}/"
    _save_state(path, state)
    return state
