"""The device registry: register devices, enrol a browser as one, and tell a sign-in which device it is on.

Entra knows a device by a key in its TPM (the primary refresh token, a device certificate). Limen's
stand-in is a browser an admin has enrolled: the admin registers the device with the properties
Conditional Access reads (`isCompliant`, `trustType`, `operatingSystem`, extension attributes, ...), then
opens a one-time enrolment link in that device's managed browser, which receives a long-lived random
secret in the `limen_device` cookie. A sign-in carrying the cookie is on that device. This is meant for
browsers that IT provisions; whoever controls the machine can copy the cookie, as they could copy any
browser credential (docs/devices.md).

Every function takes the Session and the tenant explicitly, and `now` when time matters; the caller
owns the transaction. Property names in and out are Graph's (`device` resource).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.tokens import new_secret, secret_hash
from limen.domain.errors import Conflict, NotFound, ValidationFailed
from limen.domain.ids import new_id, parse_guid
from limen.domain.timestamps import graph_time
from limen.service.directory_users import clean_text, get_user_by_key
from limen.service.paging import Clause, Filterable, Page, apply_filters, keyset_page
from limen.service.rows import flush_unique, get_in_tenant, not_found
from limen.store.models import Device, DeviceOwner, User

log = logging.getLogger("limen.devices")

DEVICE_TYPE = "microsoft.graph.device"
#: Graph's spellings; input is accepted in any case and stored in these.
TRUST_TYPES = ("AzureAd", "ServerAd", "Workplace")
PROFILE_TYPES = ("RegisteredDevice", "SecureVM", "Printer", "Shared", "IoT")
OWNERSHIPS = ("Company", "Personal")
EXTENSION_ATTRIBUTES = tuple(f"extensionAttribute{n}" for n in range(1, 16))
#: An admin registering a device without saying how it is joined gets the weakest trust: registered.
DEFAULT_TRUST_TYPE = "Workplace"
DEFAULT_PROFILE_TYPE = "RegisteredDevice"

ENROL_PATH = "/devices/enrol"
#: Long enough to walk to the machine and open the link; short enough that a leaked link soon dies.
ENROLMENT_LINK_LIFETIME = timedelta(minutes=15)
#: `approximateLastSignInDateTime` is rewritten at most this often, so a busy device's sign-ins do
#: not all write the same row.
LAST_SIGN_IN_GRANULARITY = timedelta(hours=1)

DEVICE_ID_TAKEN = "Another object with the same value for property deviceId already exists."
OWNER_EXISTS = (
    "One or more added object references already exist for the following modified properties: 'registeredOwners'."
)
BAD_ENROLMENT_CODE = (
    "This device enrolment link is not valid: it has expired, was already used or was replaced by a newer "
    "one, or the device was disabled. Ask your IT team for a new link."
)

#: Longest values, per Graph property (Graph's own limits where it documents them).
_EXTENSION_ATTRIBUTE_MAX = 1024
_MAX_TEXT = 256
_MAX_LIST_ITEMS = 100

#: Graph property -> column, for the plain text properties.
_TEXT_COLUMNS = {
    "displayName": "display_name",
    "operatingSystem": "operating_system",
    "operatingSystemVersion": "operating_system_version",
    "enrollmentProfileName": "enrollment_profile_name",
    "manufacturer": "manufacturer",
    "model": "model",
}
_BOOL_COLUMNS = {"isCompliant": "is_compliant", "isManaged": "is_managed", "accountEnabled": "account_enabled"}
_CHOICE_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "trustType": ("trust_type", TRUST_TYPES),
    "profileType": ("profile_type", PROFILE_TYPES),
    "deviceOwnership": ("device_ownership", OWNERSHIPS),
}
_LIST_COLUMNS = {"physicalIds": "physical_ids", "systemLabels": "system_labels"}
#: Every property a create or an update may set (deviceId only at creation).
WRITABLE = frozenset(
    {*_TEXT_COLUMNS, *_BOOL_COLUMNS, *_CHOICE_COLUMNS, *_LIST_COLUMNS, "deviceId", "mdmAppId", "extensionAttributes"}
)

DEVICE_FILTERS: dict[str, Filterable] = {
    "id": Filterable(Device.id, "guid"),
    "deviceId": Filterable(Device.device_id, "guid"),
    "displayName": Filterable(Device.display_name),
    "operatingSystem": Filterable(Device.operating_system),
    "operatingSystemVersion": Filterable(Device.operating_system_version),
    "trustType": Filterable(Device.trust_type),
    "profileType": Filterable(Device.profile_type),
    "manufacturer": Filterable(Device.manufacturer),
    "model": Filterable(Device.model),
    "isCompliant": Filterable(Device.is_compliant, "bool"),
    "isManaged": Filterable(Device.is_managed, "bool"),
    "accountEnabled": Filterable(Device.account_enabled, "bool"),
}


class EnrolmentRefused(ValidationFailed):
    """An enrolment code that is unknown, expired, used or replaced, or whose device is disabled.

    One message for all: the page is open to anyone holding a link, so it must not tell which.
    """

    code = "invalidEnrolmentCode"

    def __init__(self) -> None:
        super().__init__(BAD_ENROLMENT_CODE)


@dataclass(frozen=True, slots=True)
class EnrolmentLink:
    """A one-time link that enrols the browser opening it. `code` is shown once and stored hashed."""

    device_id: str
    display_name: str
    url: str
    code: str
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The link as the API and `limen device enrolment-link --json` show it (never the bare code)."""
        return {
            "id": self.device_id,
            "displayName": self.display_name,
            "url": self.url,
            "expirationDateTime": graph_time(self.expires_at),
        }


# --- validation ---------------------------------------------------------------------------------


def _choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    spelled = {choice.lower(): choice for choice in allowed}
    found = spelled.get(value.strip().lower()) if isinstance(value, str) else None
    if found is None:
        raise ValidationFailed(f"{field} must be one of {', '.join(allowed)}, not {value!r}.")
    return found


def _guid(field: str, value: object) -> str:
    parsed = parse_guid(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationFailed(f"{field} must be a GUID such as 00000000-0000-0000-0000-000000000000, not {value!r}.")
    return parsed


def _strings(field: str, value: object) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValidationFailed(f"{field} must be an array of strings.")
    items = [item.strip() for item in value if item.strip()]
    if len(items) > _MAX_LIST_ITEMS or any(len(item) > _MAX_TEXT for item in items):
        raise ValidationFailed(f"{field} may hold at most {_MAX_LIST_ITEMS} values of at most {_MAX_TEXT} characters.")
    return list(dict.fromkeys(items))


def _extension_attributes(value: object, current: Mapping[str, Any]) -> dict[str, str]:
    """Graph PATCH semantics for `extensionAttributes`: named attributes change, null clears one, the
    others keep their values. Names are Graph's exactly (`extensionAttribute1`..`extensionAttribute15`)."""
    if not isinstance(value, Mapping):
        raise ValidationFailed('extensionAttributes must be an object, e.g. {"extensionAttribute1": "value"}.')
    merged = dict(current)
    for name, attribute in value.items():
        if name not in EXTENSION_ATTRIBUTES:
            raise ValidationFailed(
                f"Property '{name}' does not exist on type 'microsoft.graph.onPremisesExtensionAttributes': "
                "use extensionAttribute1 to extensionAttribute15."
            )
        text = clean_text(name, attribute, limit=_EXTENSION_ATTRIBUTE_MAX)
        if text is None:
            merged.pop(name, None)
        else:
            merged[name] = text
    return merged


def _columns(values: Mapping[str, Any], current: Device | None) -> dict[str, Any]:
    """Graph properties -> column values, every one checked before anything changes."""
    unknown = sorted(set(values) - WRITABLE)
    if unknown:
        raise ValidationFailed(f"Property '{unknown[0]}' does not exist on type '{DEVICE_TYPE}'.")
    columns: dict[str, Any] = {}
    for name, column in _TEXT_COLUMNS.items():
        if name in values:
            columns[column] = clean_text(name, values[name], required=name == "displayName", limit=_MAX_TEXT)
    for name, column in _BOOL_COLUMNS.items():
        if name in values:
            if not isinstance(values[name], bool):
                raise ValidationFailed(f"{name} must be true or false.")
            columns[column] = values[name]
    for name, (column, allowed) in _CHOICE_COLUMNS.items():
        if name in values:
            value = values[name]
            # Ownership may be cleared; a device always has a trust type and a profile type.
            columns[column] = None if value is None and name == "deviceOwnership" else _choice(name, value, allowed)
    for name, column in _LIST_COLUMNS.items():
        if name in values:
            columns[column] = [] if values[name] is None else _strings(name, values[name])
    if "mdmAppId" in values:
        columns["mdm_app_id"] = None if values["mdmAppId"] is None else _guid("mdmAppId", values["mdmAppId"])
    if "deviceId" in values:
        if current is not None:
            raise ValidationFailed("deviceId is set when the device is registered and cannot be changed.")
        columns["device_id"] = _guid("deviceId", values["deviceId"])
    if "extensionAttributes" in values:
        existing = current.extension_attributes if current is not None else {}
        columns["extension_attributes"] = _extension_attributes(values["extensionAttributes"], existing)
    return columns


# --- the registry -------------------------------------------------------------------------------


def create_device(
    db: Session, tenant_id: str, now: datetime, values: Mapping[str, Any], *, owner_keys: Sequence[str] = ()
) -> Device:
    """Register a device from Graph properties (`displayName` required; `deviceId` generated when absent).

    `owner_keys` are users (object id or userPrincipalName) to record as registered owners.
    Raises ValidationFailed for bad input, NotFound for an unknown owner, Conflict for a taken deviceId.
    """
    columns = _columns(values, None)
    if "display_name" not in columns:
        raise ValidationFailed("displayName is required.")
    device = Device(
        id=new_id(),
        tenant_id=tenant_id,
        device_id=columns.pop("device_id", None) or new_id(),
        trust_type=DEFAULT_TRUST_TYPE,
        profile_type=DEFAULT_PROFILE_TYPE,
        is_compliant=False,
        is_managed=False,
        account_enabled=True,
        physical_ids=[],
        system_labels=[],
        extension_attributes={},
        created_at=now,
    )
    for column, value in columns.items():
        setattr(device, column, value)
    _ensure_device_id_free(db, tenant_id, device.device_id)
    db.add(device)
    flush_unique(db, DEVICE_ID_TAKEN)
    for key in owner_keys:
        add_owner(db, tenant_id, device.id, key)
    return device


def _ensure_device_id_free(db: Session, tenant_id: str, device_id: str) -> None:
    if db.scalar(sa.select(Device.id).where(Device.tenant_id == tenant_id, Device.device_id == device_id)):
        raise Conflict(DEVICE_ID_TAKEN)


def get_device(db: Session, tenant_id: str, object_id: str) -> Device:
    """The device with object id `object_id` (Graph's `/devices/{id}`), or NotFound."""
    return get_in_tenant(db, Device, tenant_id, object_id)


def find_device(db: Session, tenant_id: str, key: str) -> Device:
    """A device by object id, `deviceId`, or display name (case-insensitive; it must be unambiguous).

    For the command line, where admins know devices by name; the API takes object ids only, as Graph does.
    """
    parsed = parse_guid(key)
    if parsed is not None:
        stmt = sa.select(Device).where(
            Device.tenant_id == tenant_id, sa.or_(Device.id == parsed, Device.device_id == parsed)
        )
        device = db.scalars(stmt).first()
        if device is not None:
            return device
    named = db.scalars(
        sa.select(Device).where(Device.tenant_id == tenant_id, sa.func.lower(Device.display_name) == key.lower())
    ).all()
    if len(named) > 1:
        raise ValidationFailed(f"{len(named)} devices are named '{key}': give the object id instead.")
    if not named:
        raise not_found(key)
    return named[0]


def list_devices(
    db: Session,
    tenant_id: str,
    *,
    top: int | None = None,
    skiptoken: str | None = None,
    filters: Sequence[Clause] = (),
) -> Page[Device]:
    """Devices ordered by displayName then id, `top` at a time."""
    stmt = sa.select(Device).where(Device.tenant_id == tenant_id)
    stmt = apply_filters(stmt, filters, DEVICE_FILTERS, DEVICE_TYPE)
    return keyset_page(db, stmt, [Device.display_name, Device.id], top=top, skiptoken=skiptoken)


def update_device(db: Session, tenant_id: str, object_id: str, values: Mapping[str, Any]) -> Device:
    """Apply a Graph PATCH: only the given properties change, all checked first (all-or-nothing)."""
    device = get_device(db, tenant_id, object_id)
    for column, value in _columns(values, device).items():
        setattr(device, column, value)
    db.flush()
    return device


def delete_device(db: Session, tenant_id: str, object_id: str) -> None:
    """Delete a device with its owner records; its browser is an unregistered device again."""
    device = get_device(db, tenant_id, object_id)
    db.execute(sa.delete(DeviceOwner).where(DeviceOwner.device_id == device.id))
    db.delete(device)
    db.flush()


# --- registered owners --------------------------------------------------------------------------


def list_owners(db: Session, tenant_id: str, object_id: str) -> list[User]:
    """The device's registered owners, by userPrincipalName."""
    device = get_device(db, tenant_id, object_id)
    stmt = (
        sa.select(User)
        .join(DeviceOwner, DeviceOwner.user_id == User.id)
        .where(DeviceOwner.device_id == device.id)
        .order_by(User.upn_key)
    )
    return list(db.scalars(stmt))


def owner_ids(db: Session, device_ids: Sequence[str]) -> dict[str, list[str]]:
    """Registered owner ids of each of `device_ids` (all of one tenant), in one query."""
    owners: dict[str, list[str]] = {device_id: [] for device_id in device_ids}
    if device_ids:
        stmt = sa.select(DeviceOwner.device_id, DeviceOwner.user_id).where(DeviceOwner.device_id.in_(device_ids))
        for device_id, user_id in db.execute(stmt.order_by(DeviceOwner.user_id)):
            owners[device_id].append(user_id)
    return owners


def add_owner(db: Session, tenant_id: str, object_id: str, user_key: str) -> User:
    """Record a user (object id or userPrincipalName) as a registered owner; refuse duplicates."""
    device = get_device(db, tenant_id, object_id)
    user = get_user_by_key(db, tenant_id, user_key)
    if db.get(DeviceOwner, (device.id, user.id)) is not None:
        raise ValidationFailed(OWNER_EXISTS)
    db.add(DeviceOwner(device_id=device.id, user_id=user.id, tenant_id=tenant_id))
    db.flush()
    return user


def remove_owner(db: Session, tenant_id: str, object_id: str, user_id: str) -> None:
    """Remove a registered owner; NotFound when the user is not one."""
    device = get_device(db, tenant_id, object_id)
    parsed = parse_guid(user_id)
    edge = db.get(DeviceOwner, (device.id, parsed)) if parsed else None
    if edge is None:
        raise NotFound(f"'{user_id}' is not a registered owner of device '{device.id}'.")
    db.delete(edge)
    db.flush()


# --- enrolment: a browser becomes the device ----------------------------------------------------


def enrolment_link(db: Session, tenant_id: str, object_id: str, now: datetime, issuer: str) -> EnrolmentLink:
    """A new one-time enrolment link for the device, valid for ENROLMENT_LINK_LIFETIME.

    It replaces any earlier link of the device. Only the SHA-256 of its code is stored, so the link
    can be shown once and never again.
    """
    device = get_device(db, tenant_id, object_id)
    if not device.account_enabled:
        raise ValidationFailed(f"Device '{device.display_name}' is disabled: enable it before enrolling a browser.")
    code = new_secret(32)
    expires_at = now + ENROLMENT_LINK_LIFETIME
    device.enrolment_code_hash = secret_hash(code)
    device.enrolment_expires_at = expires_at
    db.flush()
    log.info("enrolment link created for device %s, valid until %s", device.id, expires_at.isoformat())
    return EnrolmentLink(
        device_id=device.id,
        display_name=device.display_name,
        url=f"{issuer.rstrip('/')}{ENROL_PATH}?code={code}",
        code=code,
        expires_at=expires_at,
    )


def pending_enrolment(db: Session, tenant_id: str, code: str, now: datetime) -> Device:
    """The enabled device a still-valid, unused enrolment code belongs to; EnrolmentRefused otherwise.

    Reads only: the confirmation page calls it, and a link preview fetching the page must not use the code.
    """
    if not code or len(code) > 128:
        raise EnrolmentRefused
    device = db.scalar(
        sa.select(Device).where(Device.tenant_id == tenant_id, Device.enrolment_code_hash == secret_hash(code))
    )
    expires_at = device.enrolment_expires_at if device is not None else None
    if device is None or expires_at is None or expires_at <= now or not device.account_enabled:
        raise EnrolmentRefused
    return device


def enrol(db: Session, tenant_id: str, code: str, now: datetime) -> tuple[Device, str]:
    """Use an enrolment code: bind a new browser secret to its device and return both.

    The secret goes into the browser's `limen_device` cookie; its SHA-256 replaces the device's previous
    binding, so a device has one browser at a time. EnrolmentRefused as for `pending_enrolment`.
    """
    if not code or len(code) > 128:
        raise EnrolmentRefused
    secret = new_secret(32)
    binding = secret_hash(secret)
    # One conditional UPDATE, before any read, is what makes the code work once when requests race:
    # the second waits for the first's row lock (PostgreSQL) or write lock (SQLite), then finds the code
    # gone. Reading first would, on SQLite, turn the loser's later write into a "database is locked".
    done = db.execute(
        sa.update(Device)
        .where(
            Device.tenant_id == tenant_id,
            Device.enrolment_code_hash == secret_hash(code),
            Device.enrolment_expires_at > now,
            Device.account_enabled.is_(True),
        )
        .values(binding=binding, enrolled_at=now, enrolment_code_hash=None, enrolment_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise EnrolmentRefused
    device = db.scalars(
        sa.select(Device)
        .where(Device.tenant_id == tenant_id, Device.binding == binding)
        .execution_options(populate_existing=True)
    ).one()
    log.info("browser enrolled as device %s", device.id)
    return device, secret


# --- sign-in ------------------------------------------------------------------------------------


def device_for_cookie(db: Session, tenant_id: str, cookie_value: str | None) -> Mapping[str, object] | None:
    """The Graph properties of the enabled device whose browser secret is `cookie_value`, else None.

    The keys are those Conditional Access device filters read (limen.domain.access.device_filter) plus
    `id` (the object id, for `record_sign_in` and the sign-in log) and `isManaged` (which makes extension
    attributes visible to rules). None means an unregistered device: every property null (SPEC.md §3.8).
    """
    if not cookie_value or not 20 <= len(cookie_value) <= 128:
        return None
    device = db.scalar(
        sa.select(Device).where(
            Device.tenant_id == tenant_id, Device.binding == secret_hash(cookie_value), Device.account_enabled.is_(True)
        )
    )
    return None if device is None else filter_properties(device)


#: Graph properties of a device that Conditional Access does not read (device filters, the sign-in log).
_NOT_FILTERED = frozenset({"accountEnabled", "approximateLastSignInDateTime", "registrationDateTime"})


def filter_properties(device: Device) -> dict[str, object]:
    """A registered device as Conditional Access sees it: its Graph JSON with the extension attributes
    flattened, without the properties rules do not read."""
    shape = device_json(device)
    extensions: dict[str, object] = shape.pop("extensionAttributes")
    return {key: value for key, value in shape.items() if key not in _NOT_FILTERED} | extensions


def record_sign_in(db: Session, tenant_id: str, object_id: str, now: datetime) -> None:
    """Note a sign-in on the device (`approximateLastSignInDateTime`), at most once per granularity."""
    db.execute(
        sa.update(Device)
        .where(
            Device.id == object_id,
            Device.tenant_id == tenant_id,
            sa.or_(
                Device.approximate_last_sign_in_at.is_(None),
                Device.approximate_last_sign_in_at < now - LAST_SIGN_IN_GRANULARITY,
            ),
        )
        .values(approximate_last_sign_in_at=now)
        .execution_options(synchronize_session=False)
    )


def sign_in_device(
    db: Session, tenant_id: str, cookie_value: str | None, *, device_code_flow: bool
) -> Mapping[str, object] | None:
    """The registered device a sign-in comes from (its `device_for_cookie` properties), or None.

    A device code flow's browser is not the device signing in, so such a sign-in has none (SPEC.md §3.8).
    Read once per database session: the decision, each decision after a step, and the log row all ask.
    No query at all when the browser has no device cookie (most sign-ins).
    """
    if not cookie_value or device_code_flow:
        return None
    known: dict[tuple[str, str], Mapping[str, object] | None] = db.info.setdefault("limen.sign_in_devices", {})
    key = (tenant_id, cookie_value)
    if key not in known:
        known[key] = device_for_cookie(db, tenant_id, cookie_value)
    return known[key]


# --- Graph JSON ---------------------------------------------------------------------------------


def device_json(device: Device) -> dict[str, Any]:
    """Graph v1.0 `device` JSON of a registry row (no secrets: neither binding nor enrolment code)."""
    return {
        "id": device.id,
        "deviceId": device.device_id,
        "displayName": device.display_name,
        "operatingSystem": device.operating_system,
        "operatingSystemVersion": device.operating_system_version,
        "trustType": device.trust_type,
        "isCompliant": device.is_compliant,
        "isManaged": device.is_managed,
        "accountEnabled": device.account_enabled,
        "deviceOwnership": device.device_ownership,
        "enrollmentProfileName": device.enrollment_profile_name,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "mdmAppId": device.mdm_app_id,
        "profileType": device.profile_type,
        "physicalIds": list(device.physical_ids),
        "systemLabels": list(device.system_labels),
        "extensionAttributes": {name: device.extension_attributes.get(name) for name in EXTENSION_ATTRIBUTES},
        "approximateLastSignInDateTime": graph_time(device.approximate_last_sign_in_at),
        "registrationDateTime": graph_time(device.created_at),
    }
