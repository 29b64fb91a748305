"""Group use cases and nested membership.

Membership is stored as direct edges (group_members); anything transitive is one recursive CTE, which
SQLite and PostgreSQL both run. Edges never form a cycle: add_member refuses them, and the CTEs use
UNION (not UNION ALL) so that even a cycle written behind our back cannot make a query loop forever.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from limen.domain.errors import NotFound, ValidationFailed
from limen.domain.ids import new_id, parse_guid
from limen.service.directory_users import clean_text, required_text
from limen.service.paging import AnySelect, Clause, Column, Filterable, Page, apply_filters, keyset_page
from limen.service.rows import get_in_tenant, not_found
from limen.store.models import Group, GroupMember, RoleAssignment, User

DirectoryObject = User | Group

MEMBER_EXISTS = "One or more added object references already exist for the following modified properties: 'members'."
GROUP_FILTERS: dict[str, Filterable] = {
    "displayName": Filterable(Group.display_name),
    "mailNickname": Filterable(Group.mail_nickname),
    "securityEnabled": Filterable(Group.security_enabled, "bool"),
    "id": Filterable(Group.id, "guid"),
}
# Graph forbids these in mailNickname: @ () \ [] " ; : <> , and spaces; we keep a conservative subset.
_NICKNAME_DROP = re.compile(r"[^A-Za-z0-9._-]")


def derive_mail_nickname(display_name: str) -> str:
    """A mailNickname from a display name, for callers that give none (Graph requires one)."""
    return _NICKNAME_DROP.sub("", display_name)[:64] or "group"


def check_mail_nickname(value: object) -> str:
    """A mailNickname as given, if Graph's character rules allow it."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("mailNickname must be a non-empty string.")
    nickname = value.strip()
    if len(nickname) > 64 or re.search(r"[@()\\\[\]\";:<>,\s]", nickname) or not nickname.isascii():
        raise ValidationFailed(
            f"mailNickname {nickname!r} is invalid: at most 64 ASCII characters, "
            'without spaces or any of @ ( ) \\ [ ] " ; : < > ,'
        )
    return nickname


def create_group(
    db: Session,
    tenant_id: str,
    now: datetime,
    *,
    display_name: str | None,
    description: str | None = None,
    mail_nickname: str | None = None,
    security_enabled: bool = True,
) -> Group:
    """Create a security group. Display names need not be unique (as in Entra); ids are."""
    name = required_text("displayName", display_name)
    if not isinstance(security_enabled, bool):
        raise ValidationFailed("securityEnabled must be true or false.")
    group = Group(
        id=new_id(),
        tenant_id=tenant_id,
        display_name=name,
        description=clean_text("description", description),
        mail_nickname=check_mail_nickname(mail_nickname) if mail_nickname is not None else derive_mail_nickname(name),
        security_enabled=security_enabled,
        mail_enabled=False,
        created_at=now,
    )
    db.add(group)
    db.flush()
    return group


def get_group(db: Session, tenant_id: str, group_id: str) -> Group:
    """The group with object id `group_id`, or NotFound."""
    return get_in_tenant(db, Group, tenant_id, group_id)


def groups_named(db: Session, tenant_id: str, display_name: str) -> list[Group]:
    """Groups whose displayName matches case-insensitively (names are not unique)."""
    stmt = sa.select(Group).where(
        Group.tenant_id == tenant_id, sa.func.lower(Group.display_name) == display_name.strip().lower()
    )
    return list(db.scalars(stmt.order_by(Group.id)))


def get_directory_object(db: Session, tenant_id: str, object_id: str) -> DirectoryObject:
    """A user or group by object id (Graph's directoryObject), or NotFound."""
    parsed = parse_guid(object_id)
    if parsed is not None:
        user = db.get(User, parsed)
        if user is not None and user.tenant_id == tenant_id:
            return user
        group = db.get(Group, parsed)
        if group is not None and group.tenant_id == tenant_id:
            return group
    raise not_found(object_id)


def list_groups(
    db: Session,
    tenant_id: str,
    *,
    top: int | None = None,
    skiptoken: str | None = None,
    filters: Sequence[Clause] = (),
) -> Page[Group]:
    """Groups ordered by displayName then id, `top` at a time."""
    stmt = sa.select(Group).where(Group.tenant_id == tenant_id)
    stmt = apply_filters(stmt, filters, GROUP_FILTERS, "microsoft.graph.group")
    return keyset_page(db, stmt, [Group.display_name, Group.id], top=top, skiptoken=skiptoken)


def update_group(db: Session, tenant_id: str, group_id: str, values: Mapping[str, Any]) -> Group:
    """Apply a Graph PATCH (displayName, description, mailNickname, securityEnabled); all-or-nothing."""
    group = get_group(db, tenant_id, group_id)
    updates: dict[str, Any] = {}
    if "displayName" in values:
        updates["display_name"] = required_text("displayName", values["displayName"])
    if "description" in values:
        updates["description"] = clean_text("description", values["description"])
    if "mailNickname" in values:
        updates["mail_nickname"] = check_mail_nickname(values["mailNickname"])
    if "securityEnabled" in values:
        if not isinstance(values["securityEnabled"], bool):
            raise ValidationFailed("securityEnabled must be true or false.")
        updates["security_enabled"] = values["securityEnabled"]
    for column, value in updates.items():
        setattr(group, column, value)
    db.flush()
    return group


def delete_group(db: Session, tenant_id: str, group_id: str) -> None:
    """Delete a group, its own memberships (in and of it) and its role assignments."""
    group = get_group(db, tenant_id, group_id)
    db.execute(
        sa.delete(GroupMember).where(
            GroupMember.tenant_id == tenant_id,
            sa.or_(GroupMember.group_id == group.id, GroupMember.member_id == group.id),
        )
    )
    db.execute(
        sa.delete(RoleAssignment).where(RoleAssignment.tenant_id == tenant_id, RoleAssignment.principal_id == group.id)
    )
    db.delete(group)
    db.flush()


def in_tenant(tenant_id: str) -> sa.ColumnElement[bool]:
    """The edge belongs to the tenant, as a check that never steers the choice of index.

    Written `tenant_id || '' = :tenant` on purpose: as a plain `tenant_id = :tenant`, SQLite (which has no
    statistics unless ANALYZE ran) may pick ix_group_members_tenant_id, which matches every edge of the
    tenant, over the member or group index, which match a handful. Measured with EXPLAIN QUERY PLAN.
    """
    return (GroupMember.tenant_id + "") == tenant_id


def ancestors_cte(tenant_id: str, member_id: str) -> sa.CTE:
    """Ids of every group that contains `member_id`, directly or through nested groups.

    Walks edges upwards from the member, so each step is a lookup on ix_group_members_member.
    """
    anchor = sa.select(GroupMember.group_id).where(in_tenant(tenant_id), GroupMember.member_id == member_id)
    ancestors = anchor.cte("ancestors", recursive=True)
    step = sa.select(GroupMember.group_id).where(GroupMember.member_id == ancestors.c.group_id)
    return ancestors.union(step)


def _descendants(tenant_id: str, group_id: str) -> sa.CTE:
    """(member_id, member_type) of everything inside `group_id`, directly or through nested groups."""
    anchor = sa.select(GroupMember.member_id, GroupMember.member_type).where(
        in_tenant(tenant_id), GroupMember.group_id == group_id
    )
    descendants = anchor.cte("descendants", recursive=True)
    step = sa.select(GroupMember.member_id, GroupMember.member_type).where(
        GroupMember.group_id == descendants.c.member_id
    )
    return descendants.union(step)


# Built once with bind parameters: constructing a recursive CTE and its cache key costs more than
# running it, and this runs at every sign-in.
_ANCESTORS = ancestors_cte(sa.bindparam("tenant_id"), sa.bindparam("member_id"))  # type: ignore[arg-type]
MEMBER_OF_TRANSITIVE = sa.select(_ANCESTORS.c.group_id)


def member_of_transitive(db: Session, tenant_id: str, object_id: str) -> set[str]:
    """Ids of all groups a user (or group) belongs to, through any depth of nesting: one query.

    Used at every sign-in (Conditional Access conditions on groups, roles through groups).
    """
    return set(db.scalars(MEMBER_OF_TRANSITIVE, {"tenant_id": tenant_id, "member_id": object_id}))


def add_member(db: Session, tenant_id: str, group_id: str, member_id: str) -> DirectoryObject:
    """Add a user or group to a group; refuse duplicates and any edge that would close a cycle."""
    group = get_group(db, tenant_id, group_id)
    member = get_directory_object(db, tenant_id, member_id)
    if isinstance(member, Group):
        if member.id == group.id:
            raise ValidationFailed("A group cannot be a member of itself.")
        # Adding M to G closes a cycle exactly when M already contains G somewhere below it.
        ancestors = ancestors_cte(tenant_id, group.id)
        if db.scalar(sa.select(ancestors.c.group_id).where(ancestors.c.group_id == member.id)) is not None:
            raise ValidationFailed(
                f"Cannot add group '{member.display_name}' to group '{group.display_name}': "
                f"'{group.display_name}' is already inside '{member.display_name}' (directly or through "
                "nested groups), and group nesting cannot form a cycle."
            )
    if db.get(GroupMember, (group.id, member.id)) is not None:
        raise ValidationFailed(MEMBER_EXISTS)
    db.add(
        GroupMember(
            group_id=group.id,
            member_id=member.id,
            member_type="group" if isinstance(member, Group) else "user",
            tenant_id=tenant_id,
        )
    )
    db.flush()
    return member


def remove_member(db: Session, tenant_id: str, group_id: str, member_id: str) -> None:
    """Remove a direct member; NotFound when it is not one."""
    group = get_group(db, tenant_id, group_id)
    parsed = parse_guid(member_id)
    edge = db.get(GroupMember, (group.id, parsed)) if parsed else None
    if edge is None:
        raise NotFound(f"'{member_id}' is not a direct member of group '{group.id}'.")
    db.delete(edge)
    db.flush()


def member_counts(db: Session, tenant_id: str) -> dict[str, int]:
    """Number of direct members of every non-empty group of the tenant, in one query."""
    stmt = (
        sa.select(GroupMember.group_id, sa.func.count())
        .where(GroupMember.tenant_id == tenant_id)
        .group_by(GroupMember.group_id)
    )
    return {group_id: count for group_id, count in db.execute(stmt)}


def _load_members(db: Session, refs: Sequence[tuple[str, str]]) -> list[DirectoryObject]:
    """Users and groups for (id, type) pairs, in the given order."""
    user_ids = [member_id for member_id, kind in refs if kind == "user"]
    group_ids = [member_id for member_id, kind in refs if kind == "group"]
    found: dict[str, DirectoryObject] = {}
    if user_ids:
        found.update({u.id: u for u in db.scalars(sa.select(User).where(User.id.in_(user_ids)))})
    if group_ids:
        found.update({g.id: g for g in db.scalars(sa.select(Group).where(Group.id.in_(group_ids)))})
    return [found[member_id] for member_id, _ in refs if member_id in found]


def _member_page(
    db: Session, stmt: AnySelect, id_column: Column, top: int | None, skiptoken: str | None
) -> Page[DirectoryObject]:
    page = keyset_page(db, stmt, [id_column], top=top, skiptoken=skiptoken)
    return Page(items=_load_members(db, page.items), next_skiptoken=page.next_skiptoken)


def list_members(
    db: Session, tenant_id: str, group_id: str, *, top: int | None = None, skiptoken: str | None = None
) -> Page[DirectoryObject]:
    """Direct members (users and groups) of a group, ordered by id."""
    group = get_group(db, tenant_id, group_id)
    stmt = sa.select(GroupMember.member_id, GroupMember.member_type).where(GroupMember.group_id == group.id)
    return _member_page(db, stmt, GroupMember.member_id, top, skiptoken)


def list_transitive_members(
    db: Session, tenant_id: str, group_id: str, *, top: int | None = None, skiptoken: str | None = None
) -> Page[DirectoryObject]:
    """Every user and group inside a group at any depth, each once, ordered by id."""
    group = get_group(db, tenant_id, group_id)
    descendants = _descendants(tenant_id, group.id)
    stmt = sa.select(descendants.c.member_id, descendants.c.member_type)
    return _member_page(db, stmt, descendants.c.member_id, top, skiptoken)


def list_member_of(
    db: Session,
    tenant_id: str,
    object_id: str,
    *,
    transitive: bool,
    top: int | None = None,
    skiptoken: str | None = None,
) -> Page[Group]:
    """Groups `object_id` belongs to, directly or (with `transitive`) at any depth, by displayName."""
    if transitive:
        ancestors = ancestors_cte(tenant_id, object_id)
        ids: Any = sa.select(ancestors.c.group_id)
    else:
        ids = sa.select(GroupMember.group_id).where(in_tenant(tenant_id), GroupMember.member_id == object_id)
    stmt = sa.select(Group).where(Group.id.in_(ids))
    return keyset_page(db, stmt, [Group.display_name, Group.id], top=top, skiptoken=skiptoken)
