"""The device registry service: registering devices, enrolment links, and what a sign-in learns from the
`limen_device` cookie, checked against the device filter and the device grant controls that read it."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from limen.domain.access import device_filter
from limen.domain.access.context import EvaluationContext, Signals
from limen.domain.access.controls import compile_grant
from limen.domain.clock import FrozenClock
from limen.domain.errors import Conflict, NotFound, ValidationFailed
from limen.service import devices, directory
from limen.service.context import Services
from limen.store.db import transaction
from limen.store.models import Device, DeviceOwner, User

ISSUER = "https://id.contoso.test"
LAPTOP = {
    "displayName": "LAPTOP-ADELE",
    "operatingSystem": "Windows",
    "operatingSystemVersion": "10.0.22631",
    "trustType": "azuread",
    "isCompliant": True,
    "isManaged": True,
    "manufacturer": "Contoso Hardware",
    "model": "Surface Laptop 5",
    "deviceOwnership": "company",
    "extensionAttributes": {"extensionAttribute1": "Finance"},
}


def _create(services: Services, tenant_id: str, values: dict[str, Any] | None = None, **kw: Any) -> Device:
    with transaction(services.db) as db:
        return devices.create_device(db, tenant_id, services.clock.now(), LAPTOP if values is None else values, **kw)


def _enrolled(services: Services, tenant_id: str, values: dict[str, Any] | None = None) -> tuple[Device, str]:
    """A registered device with a browser enrolled as it: the device and the browser's cookie value."""
    device = _create(services, tenant_id, values)
    with transaction(services.db) as db:
        link = devices.enrolment_link(db, tenant_id, device.id, services.clock.now(), ISSUER)
    with transaction(services.db) as db:
        return devices.enrol(db, tenant_id, link.code, services.clock.now())


def _lookup(services: Services, tenant_id: str, cookie: str | None) -> Any:
    with services.db() as db:
        return devices.device_for_cookie(db, tenant_id, cookie)


# --- the registry -------------------------------------------------------------------------------


def test_a_device_is_stored_with_graph_spellings_and_defaults(services: Services, tenant_id: str) -> None:
    device = _create(services, tenant_id)
    shape = devices.device_json(device)
    assert shape["trustType"] == "AzureAd" and shape["deviceOwnership"] == "Company"
    assert shape["profileType"] == "RegisteredDevice" and shape["accountEnabled"] is True
    assert shape["extensionAttributes"]["extensionAttribute1"] == "Finance"
    assert set(shape["extensionAttributes"]) == {f"extensionAttribute{n}" for n in range(1, 16)}
    assert shape["registrationDateTime"] == "2026-01-01T09:00:00Z"
    assert shape["deviceId"] != shape["id"]

    bare = _create(services, tenant_id, {"displayName": "Kiosk"})
    assert (bare.trust_type, bare.is_compliant, bare.is_managed) == ("Workplace", False, False)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "displayName is required"),
        ({"displayName": "  "}, "displayName is required"),
        ({"displayName": "x", "trustType": "Joined"}, "trustType must be one of AzureAd, ServerAd, Workplace"),
        ({"displayName": "x", "profileType": "Phone"}, "profileType must be one of"),
        ({"displayName": "x", "isCompliant": "yes"}, "isCompliant must be true or false"),
        ({"displayName": "x", "deviceId": "not-a-guid"}, "deviceId must be a GUID"),
        ({"displayName": "x", "mdmAppId": "0000"}, "mdmAppId must be a GUID"),
        ({"displayName": "x", "physicalIds": "[ZTDId]:1"}, "physicalIds must be an array of strings"),
        ({"displayName": "x", "extensionAttributes": {"extensionAttribute16": "a"}}, "extensionAttribute16"),
        ({"displayName": "x", "extensionAttributes": {"extensionAttribute2": "a" * 1025}}, "at most 1024"),
        ({"displayName": "x" * 257}, "at most 256"),
        ({"displayName": "x", "colour": "red"}, "Property 'colour' does not exist"),
    ],
)
def test_bad_properties_are_refused_and_nothing_is_written(
    services: Services, tenant_id: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        _create(services, tenant_id, values)
    with services.db() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Device)) == 0


def test_a_device_id_is_unique_in_the_tenant(services: Services, tenant_id: str) -> None:
    given = "AAAAAAAA-0000-1111-2222-BBBBBBBBBBBB"
    assert _create(services, tenant_id, {"displayName": "one", "deviceId": given}).device_id == given.lower()
    with pytest.raises(Conflict):
        _create(services, tenant_id, {"displayName": "two", "deviceId": given.lower()})


def test_update_changes_only_what_is_given_and_merges_extension_attributes(services: Services, tenant_id: str) -> None:
    device = _create(services, tenant_id)
    with transaction(services.db) as db:
        devices.update_device(
            db,
            tenant_id,
            device.id,
            {"isCompliant": False, "extensionAttributes": {"extensionAttribute1": None, "extensionAttribute3": "EU"}},
        )
    with services.db() as db:
        stored = devices.get_device(db, tenant_id, device.id)
        assert stored.is_compliant is False and stored.model == "Surface Laptop 5"
        assert stored.extension_attributes == {"extensionAttribute3": "EU"}
    with transaction(services.db) as db, pytest.raises(ValidationFailed, match="cannot be changed"):
        devices.update_device(db, tenant_id, device.id, {"deviceId": device.device_id})


def test_find_device_by_object_id_device_id_or_unique_name(services: Services, tenant_id: str) -> None:
    device = _create(services, tenant_id)
    with services.db() as db:
        for key in (device.id, device.device_id.upper(), "laptop-adele"):
            assert devices.find_device(db, tenant_id, key).id == device.id
        with pytest.raises(NotFound):
            devices.find_device(db, tenant_id, "no such device")
    _create(services, tenant_id, {"displayName": "Laptop-Adele"})
    with services.db() as db, pytest.raises(ValidationFailed, match="2 devices are named"):
        devices.find_device(db, tenant_id, "LAPTOP-ADELE")


def test_owners_are_users_and_go_when_the_user_or_the_device_does(
    services: Services, tenant_id: str, user: User
) -> None:
    device = _create(services, tenant_id, owner_keys=[user.user_principal_name])
    with services.db() as db:
        assert [u.id for u in devices.list_owners(db, tenant_id, device.id)] == [user.id]
        assert devices.owner_ids(db, [device.id]) == {device.id: [user.id]}
    with transaction(services.db) as db, pytest.raises(ValidationFailed, match="already exist"):
        devices.add_owner(db, tenant_id, device.id, user.id)
    with transaction(services.db) as db:
        directory.delete_user(db, tenant_id, user.id)
    with services.db() as db:
        assert devices.list_owners(db, tenant_id, device.id) == []
    with pytest.raises(NotFound):
        _create(services, tenant_id, {"displayName": "x"}, owner_keys=["nobody@contoso.test"])


def test_deleting_a_device_removes_its_owner_records(services: Services, tenant_id: str, user: User) -> None:
    device = _create(services, tenant_id, owner_keys=[user.id])
    with transaction(services.db) as db:
        devices.delete_device(db, tenant_id, device.id)
    with services.db() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(DeviceOwner)) == 0
        with pytest.raises(NotFound):
            devices.get_device(db, tenant_id, device.id)


# --- enrolment ----------------------------------------------------------------------------------


def test_an_enrolment_link_is_stored_only_as_a_hash_and_works_once(services: Services, tenant_id: str) -> None:
    device = _create(services, tenant_id)
    with transaction(services.db) as db:
        link = devices.enrolment_link(db, tenant_id, device.id, services.clock.now(), ISSUER + "/")
    assert link.url == f"{ISSUER}/devices/enrol?code={link.code}"
    assert link.expires_at == services.clock.now() + timedelta(minutes=15)
    with services.engine.connect() as conn:
        raw = " ".join(repr(value) for row in conn.execute(sa.text("SELECT * FROM devices")) for value in row)
    assert link.code not in raw

    with transaction(services.db) as db:
        enrolled, secret = devices.enrol(db, tenant_id, link.code, services.clock.now())
    assert enrolled.id == device.id and enrolled.enrolled_at == services.clock.now()
    assert enrolled.binding is not None and secret not in enrolled.binding and len(secret) >= 40
    with transaction(services.db) as db, pytest.raises(devices.EnrolmentRefused):
        devices.enrol(db, tenant_id, link.code, services.clock.now())


def test_an_enrolment_link_expires_after_fifteen_minutes(
    services: Services, tenant_id: str, clock: FrozenClock
) -> None:
    device = _create(services, tenant_id)
    with transaction(services.db) as db:
        link = devices.enrolment_link(db, tenant_id, device.id, clock.now(), ISSUER)
    clock.advance(timedelta(minutes=14, seconds=59))
    with services.db() as db:
        assert devices.pending_enrolment(db, tenant_id, link.code, clock.now()).id == device.id
    clock.advance(timedelta(seconds=1))
    with transaction(services.db) as db, pytest.raises(devices.EnrolmentRefused):
        devices.enrol(db, tenant_id, link.code, clock.now())


def test_a_new_link_replaces_the_old_one_and_a_disabled_device_cannot_enrol(services: Services, tenant_id: str) -> None:
    device = _create(services, tenant_id)
    now = services.clock.now()
    with transaction(services.db) as db:
        first = devices.enrolment_link(db, tenant_id, device.id, now, ISSUER)
        second = devices.enrolment_link(db, tenant_id, device.id, now, ISSUER)
    with services.db() as db, pytest.raises(devices.EnrolmentRefused):
        devices.pending_enrolment(db, tenant_id, first.code, now)
    with transaction(services.db) as db:
        devices.update_device(db, tenant_id, device.id, {"accountEnabled": False})
    with services.db() as db, pytest.raises(devices.EnrolmentRefused):
        devices.pending_enrolment(db, tenant_id, second.code, now)
    with transaction(services.db) as db, pytest.raises(ValidationFailed, match="disabled"):
        devices.enrolment_link(db, tenant_id, device.id, now, ISSUER)


@pytest.mark.parametrize("code", ["", "x", "A" * 43, "A" * 500])
def test_unknown_codes_are_refused_with_one_message(services: Services, tenant_id: str, code: str) -> None:
    with services.db() as db, pytest.raises(devices.EnrolmentRefused) as refused:
        devices.pending_enrolment(db, tenant_id, code, services.clock.now())
    assert refused.value.message == devices.BAD_ENROLMENT_CODE


def test_enrolling_again_moves_the_device_to_the_new_browser(services: Services, tenant_id: str) -> None:
    device, old_cookie = _enrolled(services, tenant_id)
    with transaction(services.db) as db:
        link = devices.enrolment_link(db, tenant_id, device.id, services.clock.now(), ISSUER)
    with transaction(services.db) as db:
        _, new_cookie = devices.enrol(db, tenant_id, link.code, services.clock.now())
    assert _lookup(services, tenant_id, old_cookie) is None
    assert _lookup(services, tenant_id, new_cookie)["id"] == device.id


# --- what a sign-in sees ------------------------------------------------------------------------


def test_the_cookie_gives_the_graph_properties_of_an_enabled_device(services: Services, tenant_id: str) -> None:
    device, cookie = _enrolled(services, tenant_id)
    seen = _lookup(services, tenant_id, cookie)
    assert seen["id"] == device.id and seen["deviceId"] == device.device_id
    assert seen["displayName"] == "LAPTOP-ADELE" and seen["operatingSystem"] == "Windows"
    assert (seen["trustType"], seen["isCompliant"], seen["isManaged"]) == ("AzureAd", True, True)
    assert seen["extensionAttribute1"] == "Finance" and seen["extensionAttribute15"] is None
    filterable = {name.lower() for name in device_filter.PROPERTIES}
    assert filterable <= {name.lower() for name in seen}

    for other in (None, "", "short", cookie + "x", "A" * 129):
        assert _lookup(services, tenant_id, other) is None
    with transaction(services.db) as db:
        devices.update_device(db, tenant_id, device.id, {"accountEnabled": False})
    assert _lookup(services, tenant_id, cookie) is None  # a disabled device is an unregistered one


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        ('device.isCompliant -eq True -and device.trustType -eq "AzureAd"', True),
        ('device.trustType -eq "AzureAD"', True),  # SPEC's spelling: values compare case-insensitively
        ('device.operatingSystem -startsWith "win" -and device.model -contains "Surface"', True),
        ('device.extensionAttribute1 -eq "Finance"', True),
        ('device.deviceOwnership -eq "Company" -and device.profileType -eq "RegisteredDevice"', True),
        ('device.manufacturer -in ["Contoso Hardware", "Fabrikam"]', True),
        ('device.trustType -eq "ServerAD"', False),
        ("device.isCompliant -ne True", False),
    ],
)
def test_the_device_filter_reads_the_enrolled_device(
    services: Services, tenant_id: str, rule: str, matches: bool
) -> None:
    _, cookie = _enrolled(services, tenant_id)
    assert device_filter.parse(rule).matches(_lookup(services, tenant_id, cookie)) is matches


def test_extension_attributes_of_an_unmanaged_noncompliant_device_are_invisible_to_rules(
    services: Services, tenant_id: str
) -> None:
    values = {**LAPTOP, "isCompliant": False, "isManaged": False, "trustType": "Workplace"}
    _, cookie = _enrolled(services, tenant_id, values)
    seen = _lookup(services, tenant_id, cookie)
    assert seen["extensionAttribute1"] == "Finance"
    assert not device_filter.parse('device.extensionAttribute1 -eq "Finance"').matches(seen)  # SPEC §3.8
    hybrid = _lookup(services, tenant_id, _enrolled(services, tenant_id, {**values, "trustType": "ServerAd"})[1])
    assert device_filter.parse('device.extensionAttribute1 -eq "Finance"').matches(hybrid)


@pytest.mark.parametrize(
    ("values", "compliant", "domain_joined"),
    [
        ({"isCompliant": True, "trustType": "AzureAd"}, True, False),
        ({"isCompliant": False, "trustType": "ServerAd"}, False, True),
        ({"isCompliant": False, "trustType": "Workplace"}, False, False),
    ],
)
def test_the_device_grant_controls_are_met_from_the_registry(
    services: Services, tenant_id: str, values: dict[str, Any], compliant: bool, domain_joined: bool
) -> None:
    _, cookie = _enrolled(services, tenant_id, {"displayName": "PC", **values})
    signals = Signals(EvaluationContext(user_id="u", device=_lookup(services, tenant_id, cookie)))
    grant, _ = compile_grant({"operator": "AND", "builtInControls": ["compliantDevice", "domainJoinedDevice"]}, {})
    met = {control.kind.value: control.met(signals) for control in grant.controls}
    assert met == {"compliantDevice": compliant, "domainJoinedDevice": domain_joined}
    unknown = Signals(EvaluationContext(user_id="u", device=None))
    assert not any(control.met(unknown) for control in grant.controls)


def test_record_sign_in_writes_at_most_once_an_hour(services: Services, tenant_id: str, clock: FrozenClock) -> None:
    device, _ = _enrolled(services, tenant_id)
    first = clock.now()
    with transaction(services.db) as db:
        devices.record_sign_in(db, tenant_id, device.id, first)
    clock.advance(timedelta(minutes=30))
    with transaction(services.db) as db:
        devices.record_sign_in(db, tenant_id, device.id, clock.now())
    with services.db() as db:
        assert devices.get_device(db, tenant_id, device.id).approximate_last_sign_in_at == first
    clock.advance(timedelta(minutes=31))
    with transaction(services.db) as db:
        devices.record_sign_in(db, tenant_id, device.id, clock.now())
    with services.db() as db:
        shape = devices.device_json(devices.get_device(db, tenant_id, device.id))
    assert shape["approximateLastSignInDateTime"] == "2026-01-01T10:01:00Z"


def test_concurrent_uses_of_one_link_enrol_one_browser(services: Services, tenant_id: str) -> None:
    device = _create(services, tenant_id)
    with transaction(services.db) as db:
        link = devices.enrolment_link(db, tenant_id, device.id, services.clock.now(), ISSUER)
    outcomes: list[object] = []
    barrier = threading.Barrier(4)

    def use() -> None:
        barrier.wait()
        try:
            with transaction(services.db) as db:
                outcomes.append(devices.enrol(db, tenant_id, link.code, services.clock.now())[1])
        except devices.EnrolmentRefused as refused:
            outcomes.append(refused)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    cookies = [o for o in outcomes if isinstance(o, str)]
    assert len(outcomes) == 4 and len(cookies) == 1
    assert sum(isinstance(o, devices.EnrolmentRefused) for o in outcomes) == 3
    assert _lookup(services, tenant_id, cookies[0])["id"] == device.id
