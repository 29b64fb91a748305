"""User use cases: create, read, list, update, delete, enable/disable and set passwords.

Every function takes the Session, the tenant and (when it writes) `now` explicitly; the caller owns the
transaction. Passwords are hashed by the hasher passed in (argon2id, CPU-bound: keep it off the event loop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.crypto.passwords import Argon2Hasher
from limen.domain.directory import UserType, normalize_upn, upn_key
from limen.domain.errors import Conflict, ValidationFailed
from limen.domain.ids import new_id, parse_guid
from limen.service import sessions
from limen.service.paging import Clause, Filterable, Page, apply_filters, keyset_page
from limen.service.rows import flush_unique, get_in_tenant, not_found
from limen.store.models import GroupMember, RoleAssignment, User

#: Entra's length rule for cloud passwords; banned-password checks come with the password policy.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256

UPN_TAKEN = "Another object with the same value for property userPrincipalName already exists."

# Lengths follow the columns (and Graph's own limits for these properties).
_TEXT_LIMITS = {
    "displayName": 256,
    "givenName": 64,
    "surname": 64,
    "mail": 320,
    "mobilePhone": 64,
    "description": 1024,
}

USER_FILTERS: dict[str, Filterable] = {
    "userPrincipalName": Filterable(User.upn_key, "key"),
    "displayName": Filterable(User.display_name),
    "mail": Filterable(User.mail),
    "givenName": Filterable(User.given_name),
    "surname": Filterable(User.surname),
    "userType": Filterable(User.user_type),
    "accountEnabled": Filterable(User.account_enabled, "bool"),
    "id": Filterable(User.id, "guid"),
}


@dataclass(frozen=True, slots=True)
class UserChanges:
    """PATCH semantics: only the fields present in `values` change. Keys are Graph property names."""

    values: Mapping[str, Any]


def check_password(password: object) -> str:
    """Refuse passwords Entra would refuse for length; return it unchanged otherwise."""
    if not isinstance(password, str):
        raise ValidationFailed("passwordProfile.password must be a string.")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"The password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long.")
    return password


def password_from_profile(profile: object) -> str | None:
    """The password inside Graph's `passwordProfile`, checked for type and length.

    forceChangePasswordNextSignIn=true is refused rather than ignored: Limen cannot force a change at
    next sign-in yet, and silently dropping a security request would mislead the admin.
    """
    if not isinstance(profile, dict):
        raise ValidationFailed('passwordProfile must be an object, e.g. {"password": "..."}.')
    for key, value in profile.items():
        if key not in {"password", "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"}:
            raise ValidationFailed(f"Property '{key}' does not exist on type 'microsoft.graph.passwordProfile'.")
        if key != "password" and value is not None and not isinstance(value, bool):
            raise ValidationFailed(f"passwordProfile.{key} must be true or false.")
        if key != "password" and value is True:
            raise ValidationFailed(
                f"passwordProfile.{key}=true is not supported yet: Limen cannot require a password change at "
                "the next sign-in. Set it to false."
            )
    password = profile.get("password")
    return None if password is None else check_password(password)


def clean_text(field: str, value: object, *, required: bool = False, limit: int | None = None) -> str | None:
    """Trim an optional text property; empty means absent, and `required` fields must be present. At most
    `limit` characters (by default the directory's limit for `field`)."""
    if value is None:
        if required:
            raise ValidationFailed(f"{field} is required.")
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string.")
    text = value.strip()
    if not text:
        if required:
            raise ValidationFailed(f"{field} is required and cannot be empty.")
        return None
    if limit is None:
        limit = _TEXT_LIMITS.get(field, 256)
    if len(text) > limit:
        raise ValidationFailed(f"{field} is too long: at most {limit} characters.")
    return text


def required_text(field: str, value: object) -> str:
    """Like clean_text, for properties that must be present and non-empty."""
    text = clean_text(field, value, required=True)
    assert text is not None  # clean_text raised otherwise
    return text


def _user_type(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationFailed("userType must be a string: Member or Guest.")
    return UserType.parse(value).value


def create_user(
    db: Session,
    tenant_id: str,
    now: datetime,
    *,
    user_principal_name: str | None,
    display_name: str | None,
    hasher: Argon2Hasher | None = None,
    password: str | None = None,
    mail: str | None = None,
    mobile_phone: str | None = None,
    given_name: str | None = None,
    surname: str | None = None,
    account_enabled: bool = True,
    user_type: str = UserType.MEMBER.value,
) -> User:
    """Create a user. The UPN must be valid and unused in the tenant (case-insensitively).

    With `password`, `hasher` must be given; only the argon2id hash is stored.
    Raises ValidationFailed for bad input and Conflict for a taken UPN; writes nothing then.
    """
    if user_principal_name is None or user_principal_name == "":
        raise ValidationFailed("userPrincipalName is required.")
    if not isinstance(user_principal_name, str):
        raise ValidationFailed("userPrincipalName must be a string.")
    upn = normalize_upn(user_principal_name)
    name = required_text("displayName", display_name)
    if not isinstance(account_enabled, bool):
        raise ValidationFailed("accountEnabled must be true or false.")
    password_hash = None
    if password is not None:
        if hasher is None:
            raise ValueError("create_user needs a hasher to set a password")
        password_hash = hasher.hash(check_password(password))
    user = User(
        id=new_id(),
        tenant_id=tenant_id,
        user_principal_name=upn,
        upn_key=upn_key(upn),
        display_name=name,
        given_name=clean_text("givenName", given_name),
        surname=clean_text("surname", surname),
        mail=clean_text("mail", mail),
        mobile_phone=clean_text("mobilePhone", mobile_phone),
        account_enabled=account_enabled,
        user_type=_user_type(user_type),
        password_hash=password_hash,
        password_changed_at=now if password_hash else None,
        created_at=now,
    )
    _ensure_upn_free(db, tenant_id, user.upn_key)
    db.add(user)
    flush_unique(db, UPN_TAKEN)
    return user


def _ensure_upn_free(db: Session, tenant_id: str, key: str, *, except_id: str | None = None) -> None:
    stmt = sa.select(User.id).where(User.tenant_id == tenant_id, User.upn_key == key)
    if except_id is not None:
        stmt = stmt.where(User.id != except_id)
    if db.scalar(stmt) is not None:
        raise Conflict(UPN_TAKEN)


def get_user(db: Session, tenant_id: str, user_id: str) -> User:
    """The user with object id `user_id`, or NotFound."""
    return get_in_tenant(db, User, tenant_id, user_id)


def find_by_upn(db: Session, tenant_id: str, upn: str) -> User | None:
    """The user whose userPrincipalName matches `upn` case-insensitively, if any."""
    return db.scalar(sa.select(User).where(User.tenant_id == tenant_id, User.upn_key == upn_key(upn)))


def get_user_by_key(db: Session, tenant_id: str, key: str) -> User:
    """Graph's `/users/{id | userPrincipalName}`: a GUID is an object id, anything else a UPN."""
    if parse_guid(key) is not None:
        return get_user(db, tenant_id, key)
    user = find_by_upn(db, tenant_id, key) if "@" in key else None
    if user is None:
        raise not_found(key)
    return user


def list_users(
    db: Session,
    tenant_id: str,
    *,
    top: int | None = None,
    skiptoken: str | None = None,
    filters: Sequence[Clause] = (),
) -> Page[User]:
    """Users ordered by userPrincipalName (case-insensitively), `top` at a time."""
    stmt = sa.select(User).where(User.tenant_id == tenant_id)
    stmt = apply_filters(stmt, filters, USER_FILTERS, "microsoft.graph.user")
    return keyset_page(db, stmt, [User.upn_key], top=top, skiptoken=skiptoken)


def update_user(
    db: Session,
    tenant_id: str,
    user_id: str,
    changes: UserChanges,
    now: datetime,
    *,
    hasher: Argon2Hasher | None = None,
) -> User:
    """Apply a Graph PATCH. Every field is validated before anything changes.

    `password` (from passwordProfile.password) re-hashes and stamps password_changed_at. A new password,
    or the account disabled, revokes the user's sessions and refresh tokens (`sessions.revoke_user`).
    """
    user = get_user_by_key(db, tenant_id, user_id)
    values = dict(changes.values)
    updates: dict[str, Any] = {}
    if "userPrincipalName" in values:
        raw = values["userPrincipalName"]
        if not isinstance(raw, str):
            raise ValidationFailed("userPrincipalName must be a string.")
        upn = normalize_upn(raw)
        _ensure_upn_free(db, tenant_id, upn_key(upn), except_id=user.id)
        updates["user_principal_name"] = upn
        updates["upn_key"] = upn_key(upn)
    if "displayName" in values:
        updates["display_name"] = required_text("displayName", values["displayName"])
    for graph_name, column in (
        ("givenName", "given_name"),
        ("surname", "surname"),
        ("mail", "mail"),
        ("mobilePhone", "mobile_phone"),
    ):
        if graph_name in values:
            updates[column] = clean_text(graph_name, values[graph_name])
    if "accountEnabled" in values:
        if not isinstance(values["accountEnabled"], bool):
            raise ValidationFailed("accountEnabled must be true or false.")
        updates["account_enabled"] = values["accountEnabled"]
    if "userType" in values:
        updates["user_type"] = _user_type(values["userType"])
    if "password" in values:
        if hasher is None:
            raise ValueError("update_user needs a hasher to change a password")
        updates["password_hash"] = hasher.hash(check_password(values["password"]))
        updates["password_changed_at"] = now
    revoke = "password_hash" in updates or (user.account_enabled and updates.get("account_enabled") is False)
    for column, value in updates.items():
        setattr(user, column, value)
    flush_unique(db, UPN_TAKEN)
    if revoke:
        sessions.revoke_user(db, user.id, now)
    return user


def set_password(db: Session, tenant_id: str, user_id: str, password: str, now: datetime, hasher: Argon2Hasher) -> User:
    """Replace a user's password (admin reset): only the argon2id hash is kept."""
    return update_user(db, tenant_id, user_id, UserChanges({"password": password}), now, hasher=hasher)


def set_account_enabled(db: Session, tenant_id: str, user_id: str, enabled: bool, now: datetime) -> User:
    """Enable or disable sign-in for a user (Graph's accountEnabled); disabling revokes sessions (`update_user`)."""
    return update_user(db, tenant_id, user_id, UserChanges({"accountEnabled": enabled}), now)


def revoke_sign_in_sessions(db: Session, tenant_id: str, user_id: str, now: datetime) -> tuple[User, int]:
    """Graph `revokeSignInSessions`: end the user's sessions and refresh tokens (a suspected
    compromise, a lost device). Returns the user and how many sessions ended."""
    user = get_user_by_key(db, tenant_id, user_id)
    return user, sessions.revoke_user(db, user.id, now)


def delete_user(db: Session, tenant_id: str, user_id: str) -> None:
    """Delete a user with its group memberships and role assignments.

    Sessions, codes and refresh tokens go with the user through their ON DELETE CASCADE keys.
    """
    user = get_user_by_key(db, tenant_id, user_id)
    db.execute(sa.delete(GroupMember).where(GroupMember.member_id == user.id))  # user ids are unique
    db.execute(
        sa.delete(RoleAssignment).where(RoleAssignment.tenant_id == tenant_id, RoleAssignment.principal_id == user.id)
    )
    db.delete(user)
    db.flush()
