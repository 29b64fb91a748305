"""`limen device add|list|show|set|remove|enrolment-link`: the device registry from the shell.

Devices are named by object id, deviceId or (when unique) display name. An enrolment link is printed
once, when it is made; Limen keeps only its hash (docs/devices.md).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from limen.cli._common import all_pages, command_services, console, friendly_errors
from limen.domain.errors import ValidationFailed
from limen.domain.timestamps import graph_time
from limen.service import devices, directory
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import Device

device_app = typer.Typer(
    help="Registered devices: what Conditional Access knows about them, and the browsers enrolled as them.",
    no_args_is_help=True,
)

_TRUST_HELP = "How the device is joined: AzureAd (joined), ServerAd (hybrid joined) or Workplace (registered)."
_EXT_HELP = "An extension attribute, N=VALUE (N from 1 to 15; N= clears it). Repeat for several."


def register(app: typer.Typer) -> None:
    """Add `device` to the `limen` app."""
    app.add_typer(device_app, name="device")


def _extension_attributes(pairs: list[str]) -> dict[str, str | None]:
    attributes: dict[str, str | None] = {}
    for pair in pairs:
        number, separator, value = pair.partition("=")
        number = number.strip().removeprefix("extensionAttribute")
        if not separator or not number.isdigit() or not 1 <= int(number) <= 15:
            raise ValidationFailed(f"--ext {pair!r}: expected N=VALUE with N from 1 to 15, e.g. --ext 1=Finance.")
        attributes[f"extensionAttribute{int(number)}"] = value or None
    return attributes


def _values(**options: Any) -> dict[str, Any]:
    """Graph properties from the options that were given (None means "not given")."""
    names = {
        "name": "displayName",
        "os": "operatingSystem",
        "os_version": "operatingSystemVersion",
        "trust_type": "trustType",
        "compliant": "isCompliant",
        "managed": "isManaged",
        "enabled": "accountEnabled",
        "ownership": "deviceOwnership",
        "enrollment_profile": "enrollmentProfileName",
        "manufacturer": "manufacturer",
        "model": "model",
        "mdm_app_id": "mdmAppId",
        "profile_type": "profileType",
        "device_id": "deviceId",
    }
    values = {names[key]: value for key, value in options.items() if key in names and value is not None}
    if options.get("physical_ids"):
        values["physicalIds"] = options["physical_ids"]
    if options.get("system_labels"):
        values["systemLabels"] = options["system_labels"]
    if options.get("ext"):
        values["extensionAttributes"] = _extension_attributes(options["ext"])
    return values


def _print_link(link: devices.EnrolmentLink) -> None:
    console.print(f"Enrolment link for {escape(link.display_name)}:", soft_wrap=True, highlight=False)
    console.print(link.url, soft_wrap=True, highlight=False, markup=False)
    expires = graph_time(link.expires_at)
    console.print(
        f"Open it in the device's browser before {expires}. It works once; Limen does not keep it and cannot "
        "show it again.",
        soft_wrap=True,
        highlight=False,
    )


def _describe(device: Device) -> str:
    trust = f"{device.trust_type}, {'compliant' if device.is_compliant else 'not compliant'}"
    if device.is_managed:
        trust += ", managed"
    if not device.account_enabled:
        trust += ", disabled"
    return trust


@device_app.command("add")
def device_add(
    name: str = typer.Option(..., "--name", "-n", help="Display name."),
    os: str | None = typer.Option(None, "--os", help="Operating system, e.g. Windows, macOS, iOS, Android."),
    os_version: str | None = typer.Option(None, "--os-version", help="e.g. 10.0.22631."),
    trust_type: str = typer.Option(devices.DEFAULT_TRUST_TYPE, "--trust-type", help=_TRUST_HELP),
    compliant: bool = typer.Option(False, "--compliant", help="isCompliant true (grant control compliantDevice)."),
    managed: bool = typer.Option(False, "--managed", help="isManaged true (managed by an MDM)."),
    ownership: str | None = typer.Option(None, "--ownership", help="Company or Personal."),
    manufacturer: str | None = typer.Option(None, "--manufacturer"),
    model: str | None = typer.Option(None, "--model"),
    profile_type: str = typer.Option(devices.DEFAULT_PROFILE_TYPE, "--profile-type", help="e.g. Shared, SecureVM."),
    enrollment_profile: str | None = typer.Option(None, "--enrollment-profile", help="enrollmentProfileName."),
    mdm_app_id: str | None = typer.Option(None, "--mdm-app-id", help="mdmAppId (a GUID)."),
    device_id: str | None = typer.Option(None, "--device-id", help="deviceId (a GUID); generated if omitted."),
    physical_ids: list[str] = typer.Option([], "--physical-id", help="A physicalIds value. Repeat for several."),
    system_labels: list[str] = typer.Option([], "--system-label", help="A systemLabels value. Repeat for several."),
    ext: list[str] = typer.Option([], "--ext", help=_EXT_HELP),
    owners: list[str] = typer.Option([], "--owner", help="A registered owner (UPN or id). Repeat for several."),
    link: bool = typer.Option(False, "--enrolment-link", help="Also print a one-time enrolment link."),
    as_json: bool = typer.Option(False, "--json", help="Print Graph JSON instead of text."),
) -> None:
    """Register a device."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors():
            values = _values(
                name=name,
                os=os,
                os_version=os_version,
                trust_type=trust_type,
                compliant=compliant,
                managed=managed,
                ownership=ownership,
                manufacturer=manufacturer,
                model=model,
                profile_type=profile_type,
                enrollment_profile=enrollment_profile,
                mdm_app_id=mdm_app_id,
                device_id=device_id,
                physical_ids=physical_ids,
                system_labels=system_labels,
                ext=ext,
            )
            with transaction(services.db) as db:
                now = services.clock.now()
                device = devices.create_device(db, tenant_id, now, values, owner_keys=owners)
                made = devices.enrolment_link(db, tenant_id, device.id, now, services.settings.issuer) if link else None
                shape = devices.device_json(device)
        if as_json:
            if made is not None:
                shape["enrolmentLink"] = {"url": made.url, "expirationDateTime": graph_time(made.expires_at)}
            console.print_json(json.dumps(shape))
            return
        console.print(
            f"Registered device [bold]{escape(device.display_name)}[/bold] ({_describe(device)}; id {device.id})."
        )
        if made is not None:
            _print_link(made)


@device_app.command("list")
def device_list(as_json: bool = typer.Option(False, "--json", help="Print Graph JSON instead of a table.")) -> None:
    """List every registered device, by display name."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with services.db() as db:
            found = list(all_pages(lambda token: devices.list_devices(db, tenant_id, top=999, skiptoken=token)))
        if as_json:
            console.print_json(json.dumps([devices.device_json(device) for device in found]))
            return
        table = Table("displayName", "operatingSystem", "trustType", "compliant", "enabled", "browser", "id")
        for device in found:
            table.add_row(
                escape(device.display_name),
                " ".join(filter(None, [device.operating_system, device.operating_system_version])),
                device.trust_type,
                "yes" if device.is_compliant else "no",
                "yes" if device.account_enabled else "[red]no[/red]",
                "enrolled" if device.binding else "-",
                device.id,
            )
        console.print(table)


@device_app.command("show")
def device_show(
    key: str = typer.Argument(..., help="Object id, deviceId, or display name if unique."),
    as_json: bool = typer.Option(False, "--json", help="Print Graph JSON instead of text."),
) -> None:
    """Show a device: its properties, owners and whether a browser is enrolled as it."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), services.db() as db:
            device = devices.find_device(db, tenant_id, key)
            owners = [user.user_principal_name for user in devices.list_owners(db, tenant_id, device.id)]
            shape = devices.device_json(device)
        if as_json:
            console.print_json(json.dumps({**shape, "registeredOwners": owners}))
            return
        attributes = shape.pop("extensionAttributes")
        for name, value in shape.items():
            if value not in (None, []):
                console.print(f"{name}: {value}", soft_wrap=True, highlight=False, markup=False)
        for name, value in attributes.items():
            if value is not None:
                console.print(f"{name}: {value}", soft_wrap=True, highlight=False, markup=False)
        console.print(f"registeredOwners: {', '.join(owners) or '-'}", soft_wrap=True, highlight=False)
        enrolled = graph_time(device.enrolled_at) if device.binding else None
        console.print(f"browser: {'enrolled ' + enrolled if enrolled else 'none enrolled'}", soft_wrap=True)


@device_app.command("set")
def device_set(
    key: str = typer.Argument(..., help="Object id, deviceId, or display name if unique."),
    name: str | None = typer.Option(None, "--name", "-n", help="New display name."),
    os: str | None = typer.Option(None, "--os"),
    os_version: str | None = typer.Option(None, "--os-version"),
    trust_type: str | None = typer.Option(None, "--trust-type", help=_TRUST_HELP),
    compliant: bool | None = typer.Option(None, "--compliant/--not-compliant", help="isCompliant."),
    managed: bool | None = typer.Option(None, "--managed/--not-managed", help="isManaged."),
    enabled: bool | None = typer.Option(
        None, "--enabled/--disabled", help="accountEnabled; a disabled device counts as unregistered."
    ),
    ownership: str | None = typer.Option(None, "--ownership", help="Company or Personal."),
    manufacturer: str | None = typer.Option(None, "--manufacturer"),
    model: str | None = typer.Option(None, "--model"),
    profile_type: str | None = typer.Option(None, "--profile-type"),
    enrollment_profile: str | None = typer.Option(None, "--enrollment-profile"),
    mdm_app_id: str | None = typer.Option(None, "--mdm-app-id"),
    physical_ids: list[str] = typer.Option([], "--physical-id", help="Replace physicalIds. Repeat for several."),
    system_labels: list[str] = typer.Option([], "--system-label", help="Replace systemLabels. Repeat for several."),
    ext: list[str] = typer.Option([], "--ext", help=_EXT_HELP),
    add_owners: list[str] = typer.Option([], "--add-owner", help="Add a registered owner (UPN or id)."),
    remove_owners: list[str] = typer.Option([], "--remove-owner", help="Remove a registered owner (UPN or id)."),
) -> None:
    """Change the given properties of a device; the others keep their values."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors():
            values = _values(
                name=name,
                os=os,
                os_version=os_version,
                trust_type=trust_type,
                compliant=compliant,
                managed=managed,
                enabled=enabled,
                ownership=ownership,
                manufacturer=manufacturer,
                model=model,
                profile_type=profile_type,
                enrollment_profile=enrollment_profile,
                mdm_app_id=mdm_app_id,
                physical_ids=physical_ids,
                system_labels=system_labels,
                ext=ext,
            )
            if not values and not add_owners and not remove_owners:
                raise ValidationFailed("Nothing to change: give at least one option (see --help).")
            with transaction(services.db) as db:
                device = devices.find_device(db, tenant_id, key)
                devices.update_device(db, tenant_id, device.id, values)
                for owner in add_owners:
                    devices.add_owner(db, tenant_id, device.id, owner)
                for owner in remove_owners:
                    devices.remove_owner(db, tenant_id, device.id, directory.get_user_by_key(db, tenant_id, owner).id)
        console.print(f"Updated device [bold]{escape(device.display_name)}[/bold] ({_describe(device)}).")


@device_app.command("remove")
def device_remove(key: str = typer.Argument(..., help="Object id, deviceId, or display name if unique.")) -> None:
    """Delete a device; a browser enrolled as it counts as unregistered from then on."""
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), transaction(services.db) as db:
            device = devices.find_device(db, tenant_id, key)
            devices.delete_device(db, tenant_id, device.id)
        console.print(f"Removed device {escape(device.display_name)} (id {device.id}).", soft_wrap=True)


@device_app.command("enrolment-link")
def device_enrolment_link(
    key: str = typer.Argument(..., help="Object id, deviceId, or display name if unique."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Make a one-time link (15 minutes) that enrols the browser opening it as this device.

    It replaces the device's earlier link; enrolling moves the device to the new browser.
    """
    with command_services() as services:
        tenant_id = default_tenant_id(services)
        with friendly_errors(), transaction(services.db) as db:
            device = devices.find_device(db, tenant_id, key)
            made = devices.enrolment_link(db, tenant_id, device.id, services.clock.now(), services.settings.issuer)
        if as_json:
            console.print_json(json.dumps(made.to_json()))
            return
        _print_link(made)
