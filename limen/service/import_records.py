"""Records for `limen import`: reading CSV and JSON files, and checking each row on its own.

Checks here need no database; directory_import then checks rows against each other and the directory.
Rows are numbered as people see them: in CSV the header is row 1, so data starts at row 2; in JSON a
row is named by its place in the file, e.g. users[0].
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from argon2 import Type, extract_parameters
from argon2.exceptions import InvalidHashError

from limen.domain.directory import UserType, normalize_upn, upn_key
from limen.domain.errors import ValidationFailed
from limen.domain.ids import parse_guid
from limen.service.directory_users import check_password, clean_text, password_from_profile, required_text

CSV_COLUMNS = (
    "userPrincipalName",
    "displayName",
    "mail",
    "mobilePhone",
    "givenName",
    "surname",
    "accountEnabled",
    "userType",
    "password",
    "passwordHash",
    "groups",
    "id",
)
_USER_KEYS = {*CSV_COLUMNS, "passwordProfile"}
_GROUP_KEYS = {"id", "displayName", "description", "mailNickname", "securityEnabled", "members"}
# Graph properties Limen does not store. An export from Entra carries them, so they are skipped quietly;
# any other name is refused, so that a misspelt column cannot silently drop data.
_IGNORED_USER_KEYS = {
    "@odata.type", "@odata.id", "businessPhones", "jobTitle", "officeLocation", "preferredLanguage",
    "mailNickname", "department", "companyName", "employeeId", "employeeType", "createdDateTime",
    "signInActivity", "usageLocation", "city", "country", "state", "streetAddress", "postalCode",
    "onPremisesImmutableId", "onPremisesSyncEnabled", "proxyAddresses", "identities", "otherMails",
    "passwordPolicies", "deletedDateTime", "lastPasswordChangeDateTime", "creationType", "externalUserState",
    "faxNumber", "ageGroup", "showInAddressList", "imAddresses",
}  # fmt: skip
_IGNORED_GROUP_KEYS = {
    "@odata.type", "@odata.id", "createdDateTime", "groupTypes", "mailEnabled", "mail", "visibility",
    "securityIdentifier", "renewedDateTime", "proxyAddresses", "classification", "isAssignableToRole",
    "deletedDateTime", "onPremisesSyncEnabled",
}  # fmt: skip
# An argon2id PHC string as argon2-cffi and most IdPs write it; extract_parameters alone is too lenient.
_ARGON2ID_PHC = re.compile(r"^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass(frozen=True, slots=True)
class ImportRecord:
    kind: Literal["user", "group"]
    #: How a person finds the row: "row 7" (CSV) or "users[5]" (JSON).
    where: str
    data: Mapping[str, Any]
    #: Why the row could not even be read (wrong number of CSV cells, a JSON value that is no object).
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(slots=True)
class UserRow:
    where: str
    upn: str
    key: str
    display_name: str
    id: str | None
    given_name: str | None
    surname: str | None
    mail: str | None
    mobile_phone: str | None
    account_enabled: bool
    user_type: str
    password: str | None
    password_hash: str | None
    groups: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GroupRow:
    where: str
    display_name: str
    id: str | None
    description: str | None
    mail_nickname: str | None
    security_enabled: bool
    members: list[str]


def read_records(path: Path, fmt: str | None = None) -> list[ImportRecord]:
    """Read a CSV or JSON import file (UTF-8, with or without BOM); the format defaults to the suffix.

    Raises ValidationFailed for a file that cannot be read as a whole (bad JSON, unknown CSV columns).
    """
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in {"csv", "json"}:
        raise ValidationFailed(f"Unknown import format {fmt!r}: use --format csv or --format json.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"Cannot read {path}: {exc}") from None
    return list(csv_records(text)) if fmt == "csv" else json_records(text)


def csv_records(text: str) -> Iterator[ImportRecord]:
    """User records from CSV text with a header row; empty cells mean "not given"."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [name.strip() for name in next(reader, [])]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise ValidationFailed(
            f"Unknown CSV column(s) {', '.join(map(repr, unknown))}: the columns are {', '.join(CSV_COLUMNS)}."
        )
    missing = [name for name in ("userPrincipalName", "displayName") if name not in header]
    if missing:
        raise ValidationFailed(f"The CSV header lacks the required column(s) {', '.join(missing)}.")
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, often at the end of exported files
        where = f"row {number}"
        if len(cells) != len(header):
            yield ImportRecord("user", where, {}, problem=_cell_count_error(len(cells), len(header)))
            continue
        data: dict[str, Any] = {k: v.strip() for k, v in zip(header, cells, strict=True) if v.strip()}
        if "groups" in data:
            data["groups"] = [name.strip() for name in data["groups"].split(";") if name.strip()]
        yield ImportRecord("user", where, data)


def _cell_count_error(cells: int, columns: int) -> str:
    return (
        f"has {cells} cells but the header has {columns} columns; "
        'quote values that contain commas, such as passwordHash ("$argon2id$v=19$m=...,t=...,p=...$...").'
    )


def json_records(text: str) -> list[ImportRecord]:
    """Records from `{"users": [...], "groups": [...]}`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"The file is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not set(document) <= {"users", "groups"}:
        raise ValidationFailed('The JSON file must be an object with "users" and/or "groups" arrays.')
    records: list[ImportRecord] = []
    sections: tuple[tuple[Literal["user", "group"], str], ...] = (("user", "users"), ("group", "groups"))
    for kind, key in sections:
        items = document.get(key, [])
        if not isinstance(items, list):
            raise ValidationFailed(f'"{key}" must be an array.')
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            if isinstance(item, dict):
                records.append(ImportRecord(kind, where, item))
            else:
                records.append(ImportRecord(kind, where, {}, problem="must be a JSON object"))
    return records


def _check_keys(record: ImportRecord, known: set[str], ignored: set[str], type_name: str) -> None:
    if record.problem is not None:
        raise ValidationFailed(record.problem)
    data = record.data
    unknown = sorted(k for k in data if k not in known and k not in ignored)
    if unknown:
        raise ValidationFailed(f"Property '{unknown[0]}' does not exist on type '{type_name}'.")


def _flag(name: str, value: object, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValidationFailed(f"{name} must be true or false, not {value!r}.")


def _optional_id(value: object) -> str | None:
    if value is None:
        return None
    parsed = parse_guid(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationFailed(f"id {value!r} is not a GUID.")
    return parsed


def check_password_hash(value: object) -> str:
    """Accept an argon2id PHC string (for migrating from another IdP); it is stored as given."""
    if not isinstance(value, str) or not _ARGON2ID_PHC.match(value) or len(value) > 256:
        raise ValidationFailed(
            "passwordHash must be an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)."
        )
    try:
        if extract_parameters(value).type is not Type.ID:
            raise InvalidHashError
    except InvalidHashError:
        raise ValidationFailed("passwordHash is not a valid argon2id hash.") from None
    return value


def _names(field_name: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationFailed(f"{field_name} must be a list of non-empty names.")
    return [v.strip() for v in value]


def user_row(record: ImportRecord) -> UserRow:
    """Check one user record on its own; raise ValidationFailed naming the first problem."""
    data = record.data
    _check_keys(record, _USER_KEYS, _IGNORED_USER_KEYS, "microsoft.graph.user")
    raw_upn = data.get("userPrincipalName")
    if not isinstance(raw_upn, str) or not raw_upn.strip():
        raise ValidationFailed("userPrincipalName is required.")
    upn = normalize_upn(raw_upn)
    password = data.get("password")
    if "passwordProfile" in data:
        if password is not None:
            raise ValidationFailed("Give password or passwordProfile.password, not both.")
        password = password_from_profile(data["passwordProfile"])
    if password is not None and data.get("passwordHash") is not None:
        raise ValidationFailed("Give either password or passwordHash, not both.")
    user_type = data.get("userType", UserType.MEMBER.value)
    if not isinstance(user_type, str):
        raise ValidationFailed("userType must be Member or Guest.")
    return UserRow(
        where=record.where,
        upn=upn,
        key=upn_key(upn),
        display_name=required_text("displayName", data.get("displayName")),
        id=_optional_id(data.get("id")),
        given_name=clean_text("givenName", data.get("givenName")),
        surname=clean_text("surname", data.get("surname")),
        mail=clean_text("mail", data.get("mail")),
        mobile_phone=clean_text("mobilePhone", data.get("mobilePhone")),
        account_enabled=_flag("accountEnabled", data.get("accountEnabled"), True),
        user_type=UserType.parse(user_type).value,
        password=check_password(password) if password is not None else None,
        password_hash=check_password_hash(data["passwordHash"]) if data.get("passwordHash") is not None else None,
        groups=_names("groups", data.get("groups")),
    )


def group_row(record: ImportRecord) -> GroupRow:
    """Check one group record on its own; raise ValidationFailed naming the first problem."""
    data = record.data
    _check_keys(record, _GROUP_KEYS, _IGNORED_GROUP_KEYS, "microsoft.graph.group")
    nickname = data.get("mailNickname")
    if nickname is not None and not isinstance(nickname, str):
        raise ValidationFailed("mailNickname must be a string.")
    description = clean_text("description", data.get("description"))
    return GroupRow(
        where=record.where,
        display_name=required_text("displayName", data.get("displayName")),
        id=_optional_id(data.get("id")),
        description=description,
        mail_nickname=nickname,
        security_enabled=_flag("securityEnabled", data.get("securityEnabled"), True),
        members=_names("members", data.get("members")),
    )
