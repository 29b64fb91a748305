"""Directory vocabulary: tenants' plans, users, groups and Entra's built-in directory roles.

Role template ids are Entra's, so role assignments and Conditional Access policies exported from
Entra refer to the same roles here (SPEC.md §1.3 and §10 "Role catalogue").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from limen.domain.errors import ValidationFailed


class Plan(StrEnum):
    FREE = "free"
    P1 = "p1"
    P2 = "p2"

    @classmethod
    def parse(cls, value: str) -> Plan:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValidationFailed(f"Unknown plan {value!r}: expected one of free, p1, p2.") from None


#: A self-hosted tenant has every feature unless the operator says otherwise (SPEC.md §10 "Plans").
DEFAULT_PLAN = Plan.P2


class UserType(StrEnum):
    MEMBER = "Member"
    GUEST = "Guest"

    @classmethod
    def parse(cls, value: str) -> UserType:
        for member in cls:
            if member.value.lower() == value.strip().lower():
                return member
        raise ValidationFailed(f"Unknown userType {value!r}: expected Member or Guest.")


# Entra accepts `local@domain` with a restricted alphabet; the guest form `x#EXT#@domain` is allowed.
_UPN = re.compile(r"^[A-Za-z0-9._%+'#!$&*=?^`{|}~-]{1,113}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def normalize_upn(value: str) -> str:
    """Validate a userPrincipalName and return it trimmed; comparison keys are its lower-case form."""
    upn = value.strip()
    if not _UPN.match(upn) or ".." in upn or upn.startswith("."):
        raise ValidationFailed(f"{value!r} is not a valid userPrincipalName (expected name@domain).")
    if len(upn) > 113 + 1 + 256:
        raise ValidationFailed("userPrincipalName is too long.")
    return upn


def upn_key(upn: str) -> str:
    """User principal names compare case-insensitively, as in Entra."""
    return upn.strip().lower()


@dataclass(frozen=True, slots=True)
class DirectoryRole:
    id: str
    display_name: str
    description: str
    is_privileged: bool
    security_defaults_admin: bool
    deprecated: bool = False


@cache
def role_catalogue() -> dict[str, DirectoryRole]:
    """Entra's built-in directory roles keyed by template id (lower-case GUID)."""
    raw = resources.files("limen.domain").joinpath("data/directory_roles.json").read_text("utf-8")
    roles = {}
    for item in json.loads(raw):
        role = DirectoryRole(
            id=item["id"].lower(),
            display_name=item["displayName"],
            description=item.get("description", ""),
            is_privileged=bool(item.get("isPrivileged", False)),
            security_defaults_admin=bool(item.get("securityDefaultsAdmin", False)),
            deprecated=bool(item.get("deprecated", False)),
        )
        roles[role.id] = role
    return roles


GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
DIRECTORY_SYNCHRONIZATION_ACCOUNTS = "d29b2b05-8046-44ba-8758-1e26182fcf32"


def find_role(key: str) -> DirectoryRole:
    """Find a role by template id or (case-insensitive) display name."""
    catalogue = role_catalogue()
    if key.lower() in catalogue:
        return catalogue[key.lower()]
    for role in catalogue.values():
        if role.display_name.lower() == key.strip().lower():
            return role
    raise ValidationFailed(f"Unknown directory role {key!r}: use a role template id or a built-in role name.")
