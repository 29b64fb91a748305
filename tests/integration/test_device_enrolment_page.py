"""`/devices/enrol`: opening an enrolment link in a browser makes it the registered device.

The page changes nothing on GET; POST needs the page's CSRF token, uses the code once, and sets the
`limen_device` cookie that `device_for_cookie` turns into the device's properties at sign-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from limen.config import load_settings
from limen.domain.access import device_filter
from limen.domain.clock import FrozenClock
from limen.service import devices
from limen.service.context import Services, build_services
from limen.store.db import transaction
from limen.store.models import Device
from limen.web.ui.devices import DEVICE_COOKIE
from tests.conftest import make_env
from tests.support.forms import form_with

ENROL = "/devices/enrol"


def _link(services: Services, tenant_id: str, name: str = "LAPTOP-ADELE") -> devices.EnrolmentLink:
    now = services.clock.now()
    with transaction(services.db) as db:
        device = devices.create_device(
            db,
            tenant_id,
            now,
            {"displayName": name, "operatingSystem": "Windows", "trustType": "AzureAd", "isCompliant": True},
        )
        return devices.enrolment_link(db, tenant_id, device.id, now, services.settings.issuer)


def _path(link: devices.EnrolmentLink) -> str:
    """The link as the browser requests it from the test server."""
    parts = urlsplit(link.url)
    return f"{parts.path}?{parts.query}"


def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, response.headers
    return found[0]


def _device_cookie(client: TestClient) -> str | None:
    return client.cookies.get(DEVICE_COOKIE)


def test_opening_the_link_and_confirming_enrols_this_browser(
    client: TestClient, services: Services, tenant_id: str
) -> None:
    link = _link(services, tenant_id)
    page = client.get(_path(link))
    assert page.status_code == 200, page.text
    assert "Register this browser as LAPTOP-ADELE?" in page.text and "Windows" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    form = form_with(page.text, ENROL)
    assert form.fields["code"] == link.code and form.fields["csrf_token"]

    done = client.post(ENROL, data=form.fields)
    assert done.status_code == 200, done.text
    assert "This browser is registered" in done.text and "LAPTOP-ADELE" in done.text
    header = _set_cookie(done, DEVICE_COOKIE).lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert f"max-age={400 * 24 * 3600}" in header
    assert "secure" not in header  # plain http on loopback in development

    cookie = _device_cookie(client)
    assert cookie is not None and link.code not in cookie
    with services.db() as db:
        seen = devices.device_for_cookie(db, tenant_id, cookie)
        stored = db.scalar(sa.select(Device))
    assert seen is not None and seen["displayName"] == "LAPTOP-ADELE"
    assert stored is not None and stored.binding is not None and cookie not in stored.binding
    rule = device_filter.parse('device.isCompliant -eq True -and device.trustType -eq "AzureAd"')
    assert rule.matches(seen)


def test_the_code_works_once(client: TestClient, services: Services, tenant_id: str) -> None:
    link = _link(services, tenant_id)
    client.get(_path(link))  # looking does not use the code
    form = form_with(client.get(_path(link)).text, ENROL)
    assert client.post(ENROL, data=form.fields).status_code == 200
    again = client.post(ENROL, data=form.fields)
    assert again.status_code == 400 and "expired, was already used" in again.text
    assert DEVICE_COOKIE not in again.headers.get("set-cookie", "")
    assert client.get(_path(link)).status_code == 400


def test_an_expired_link_shows_a_clear_error(
    client: TestClient, services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    link = _link(services, tenant_id)
    clock.advance(timedelta(minutes=14))
    form = form_with(client.get(_path(link)).text, ENROL)
    clock.advance(timedelta(minutes=1))
    late = client.post(ENROL, data=form.fields)
    assert late.status_code == 400 and "Ask your IT team for a new link" in late.text
    assert _device_cookie(client) is None
    assert client.get(_path(link)).status_code == 400


@pytest.mark.parametrize("query", ["", "?code=", "?code=not-a-real-code", "?code=" + "A" * 400])
def test_unknown_codes_get_the_same_400_page(client: TestClient, query: str) -> None:
    response = client.get(ENROL + query)
    assert response.status_code == 400
    assert devices.BAD_ENROLMENT_CODE.split(":")[0] in response.text


def test_posting_without_this_pages_csrf_token_is_refused(
    client: TestClient, services: Services, tenant_id: str
) -> None:
    link = _link(services, tenant_id)
    other = _link(services, tenant_id, "OTHER")
    form = form_with(client.get(_path(link)).text, ENROL)
    assert client.post(ENROL, data={"code": link.code}).status_code == 403
    assert client.post(ENROL, data={**form.fields, "code": other.code}).status_code == 403
    # Another browser (without this one's limen_browser cookie) cannot replay the form.
    client.cookies.clear()
    assert client.post(ENROL, data=form.fields).status_code == 403
    assert _device_cookie(client) is None
    with services.db() as db:
        assert devices.pending_enrolment(db, tenant_id, link.code, services.clock.now()) is not None


def test_a_browser_already_enrolled_is_told_it_will_change_device(
    client: TestClient, services: Services, tenant_id: str
) -> None:
    first = _link(services, tenant_id, "LAPTOP-OLD")
    client.post(ENROL, data=form_with(client.get(_path(first)).text, ENROL).fields)
    old_cookie = _device_cookie(client)
    second = _link(services, tenant_id, "LAPTOP-NEW")
    page = client.get(_path(second))
    assert "already registered as <strong>LAPTOP-OLD</strong>" in page.text
    client.post(ENROL, data=form_with(page.text, ENROL).fields)
    with services.db() as db:
        assert devices.device_for_cookie(db, tenant_id, old_cookie) is not None  # LAPTOP-OLD keeps its binding
        now_seen = devices.device_for_cookie(db, tenant_id, _device_cookie(client))
    assert now_seen is not None and now_seen["displayName"] == "LAPTOP-NEW"


@pytest.fixture
def https_client(
    services: Services, clock: FrozenClock, tmp_path: Path, database_url: str, migrated_engine: sa.Engine
) -> Iterator[tuple[TestClient, Services]]:
    from limen.web.app import create_app

    settings = load_settings(make_env(tmp_path, database_url, LIMEN_ISSUER="https://id.contoso.test"))
    secure = build_services(settings, clock=clock, engine=migrated_engine)
    with TestClient(create_app(secure), base_url="https://id.contoso.test") as client:
        yield client, secure


def test_the_cookie_is_secure_when_the_issuer_is_https(
    https_client: tuple[TestClient, Services], tenant_id: str
) -> None:
    client, services = https_client
    link = _link(services, tenant_id)
    assert link.url.startswith("https://id.contoso.test/devices/enrol?code=")
    done = client.post(ENROL, data=form_with(client.get(_path(link)).text, ENROL).fields)
    assert done.status_code == 200
    assert "; secure" in _set_cookie(done, DEVICE_COOKIE).lower()
