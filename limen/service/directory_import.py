"""Bulk import of users and groups (`limen import`), fast enough for 100,000 users in seconds.

Speed comes from doing per-row work in memory: rows are checked against each other and against one
query of the tenant's existing UPNs, then written with batched executemany inserts in one transaction.

All-or-nothing by default: if any row is bad, every bad row is reported and nothing is written (an
admin fixes the file and runs it again, with no half-imported directory to clean up). With
`skip_invalid`, bad rows are reported and the good ones are written.

Passwords: `password` is hashed with argon2id, which is deliberately slow (~50 hashes/s per core with
the default parameters, so 100,000 take about 15 minutes on 2 cores); `passwordHash` takes an argon2id
hash from another IdP as is; rows without either get no password (sign-in by another method or SSPR).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from limen.domain.errors import Conflict, ValidationFailed
from limen.domain.ids import new_id
from limen.service.context import Services
from limen.service.directory_groups import check_mail_nickname, derive_mail_nickname
from limen.service.import_records import GroupRow, ImportRecord, RowError, UserRow, group_row, user_row
from limen.service.tenants import default_tenant_id
from limen.store.db import transaction
from limen.store.models import Base, Group, GroupMember, User

#: Rows per INSERT batch: big enough to amortise round trips, small enough to keep memory flat.
CHUNK = 5000

_TABLES = Base.metadata.tables

#: progress(phase, done, total) with phase one of "checking", "hashing", "writing".
ProgressCallback = Callable[[str, int, int], None]


@dataclass
class ImportReport:
    users_created: int = 0
    groups_created: int = 0
    memberships_added: int = 0
    passwords_hashed: int = 0
    rows_skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    #: False when bad rows stopped the import (all-or-nothing) and nothing was written.
    written: bool = False


@dataclass
class _Plan:
    users: list[UserRow] = field(default_factory=list)
    #: lower-case name -> column values of each group the import creates
    new_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str], str] = field(default_factory=dict)  # (group_id, member_id) -> member_type
    skipped: set[str] = field(default_factory=set)


def _noop(_phase: str, _done: int, _total: int) -> None:
    return None


def import_directory(
    services: Services,
    records: Iterable[ImportRecord],
    progress: ProgressCallback | None = None,
    *,
    skip_invalid: bool = False,
    tenant_id: str | None = None,
) -> ImportReport:
    """Import users and groups into the tenant (the default tenant unless given).

    Users are created (an existing UPN is a row error, never an overwrite). Groups named by a user's
    `groups` or by a group record are reused when exactly one group has that name, else created.
    Returns a report; row errors are in `report.errors` with `report.written` False unless
    `skip_invalid`. Raises Conflict if the directory changed underneath (nothing is written then).
    """
    report_progress = progress or _noop
    tenant = tenant_id or default_tenant_id(services)
    rows = list(records)
    report = ImportReport()
    with services.db() as db:
        rows_of_upns = db.execute(sa.select(User.upn_key, User.id).where(User.tenant_id == tenant)).all()
        existing_upns: dict[str, str] = {key: user_id for key, user_id in rows_of_upns}
        plan = _plan(db, tenant, rows, existing_upns, report, report_progress)
    report.rows_skipped = len(plan.skipped)
    if report.errors and not skip_invalid:
        return report
    report.passwords_hashed = _hash_passwords(services, plan.users, report_progress)
    now = services.clock.now()
    try:
        with transaction(services.db) as db:
            if plan.new_groups:
                db.execute(sa.insert(_TABLES["groups"]), [{**g, "created_at": now} for g in plan.new_groups.values()])
            done = 0
            for chunk in _chunks(plan.users, CHUNK):
                # Core INSERT, not ORM bulk: the ORM splits a batch wherever the set of null columns changes
                # (every row with a password hash), which cost 25 times as many round trips.
                db.execute(sa.insert(_TABLES["users"]), [_user_values(u, tenant, now) for u in chunk])
                done += len(chunk)
                report_progress("writing", done, len(plan.users))
            edges = [
                {"group_id": g, "member_id": m, "member_type": t, "tenant_id": tenant}
                for (g, m), t in plan.edges.items()
            ]
            for chunk in _chunks(edges, CHUNK):
                db.execute(sa.insert(_TABLES["group_members"]), chunk)
    except IntegrityError:
        raise Conflict(
            "The directory changed during the import (a user or group with the same key was created): "
            "nothing was imported. Run the import again."
        ) from None
    report.users_created = len(plan.users)
    report.groups_created = len(plan.new_groups)
    report.memberships_added = len(plan.edges)
    report.written = True
    return report


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _user_values(row: UserRow, tenant_id: str, now: datetime) -> dict[str, Any]:
    assert row.password is None, "passwords are hashed before writing"
    password_hash = row.password_hash
    return {
        "id": row.id,
        "tenant_id": tenant_id,
        "user_principal_name": row.upn,
        "upn_key": row.key,
        "display_name": row.display_name,
        "given_name": row.given_name,
        "surname": row.surname,
        "mail": row.mail,
        "mobile_phone": row.mobile_phone,
        "account_enabled": row.account_enabled,
        "user_type": row.user_type,
        "password_hash": password_hash,
        "password_changed_at": now if password_hash else None,
        "created_at": now,
        "last_sign_in_at": None,
    }


def _hash_passwords(services: Services, users: list[UserRow], progress: ProgressCallback) -> int:
    """Replace clear-text passwords by argon2id hashes, on every core.

    Threads suffice: argon2-cffi releases the GIL while hashing, so two threads run twice as fast
    as one on two cores (measured), without the start-up cost and pickling of a process pool.
    """
    pending = [u for u in users if u.password is not None]
    if not pending:
        return 0
    workers = max(1, min(len(pending), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="limen-import-hash") as pool:
        for done, (row, hashed) in enumerate(
            zip(pending, pool.map(services.hasher.hash, [u.password for u in pending]), strict=True), start=1
        ):
            row.password_hash, row.password = hashed, None
            if done % 50 == 0 or done == len(pending):
                progress("hashing", done, len(pending))
    return len(pending)


def _plan(
    db: Session,
    tenant_id: str,
    rows: list[ImportRecord],
    existing_upns: dict[str, str],
    report: ImportReport,
    progress: ProgressCallback,
) -> _Plan:
    """Check every row (alone, against the file, against the directory) and work out what to write."""
    plan = _Plan()

    def fail(where: str, message: str) -> None:
        report.errors.append(RowError(where, message))
        plan.skipped.add(where)

    seen_upns: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    group_rows: list[GroupRow] = []
    for done, record in enumerate(rows, start=1):
        if done % CHUNK == 0 or done == len(rows):
            progress("checking", done, len(rows))
        try:
            if record.kind == "group":
                group_rows.append(group_row(record))
                continue
            user = user_row(record)
        except ValidationFailed as exc:
            fail(record.where, exc.message)
            continue
        if user.key in seen_upns:
            fail(user.where, f"userPrincipalName '{user.upn}' is already used by {seen_upns[user.key]}.")
        elif user.key in existing_upns:
            fail(user.where, f"userPrincipalName '{user.upn}' already exists in the directory.")
        elif user.id is not None and user.id in seen_ids:
            fail(user.where, f"id '{user.id}' is already used by {seen_ids[user.id]}.")
        else:
            seen_upns[user.key] = user.where
            if user.id is not None:
                seen_ids[user.id] = user.where
            plan.users.append(user)
    _check_ids_unused(db, plan, group_rows, fail)
    for user in plan.users:
        user.id = user.id or new_id()

    groups = _GroupResolver(db, tenant_id, plan, fail)
    groups.load(
        [name for u in plan.users for name in u.groups]
        + [g.display_name for g in group_rows]
        + [m for g in group_rows for m in g.members if "@" not in m]
    )
    # Group records first, so a group both described and named by users gets the record's details.
    group_ids = groups.register(group_rows)
    kept: list[UserRow] = []
    for user in plan.users:
        ids = [groups.resolve(name, user.where) for name in user.groups]
        if None in ids:
            continue
        kept.append(user)
        for group_id in ids:
            plan.edges[(str(group_id), str(user.id))] = "user"
    plan.users = kept
    user_ids = {**existing_upns, **{u.key: str(u.id) for u in plan.users}}
    groups.add_members(group_rows, group_ids, user_ids)
    groups.drop_unused(group_rows)
    _drop_existing_edges(db, plan)
    return plan


def _check_ids_unused(db: Session, plan: _Plan, group_rows: list[GroupRow], fail: Callable[[str, str], None]) -> None:
    """Explicit ids (kept when migrating, so exported policies still match) must be new to the directory."""
    wanted = [u.id for u in plan.users if u.id] + [g.id for g in group_rows if g.id]
    taken: set[str] = set()
    for chunk in _chunks(wanted, 900):  # stay under SQLite's bound-parameter limit
        taken |= set(db.scalars(sa.select(User.id).where(User.id.in_(chunk))))
        taken |= set(db.scalars(sa.select(Group.id).where(Group.id.in_(chunk))))
    if not taken:
        return
    for user in [u for u in plan.users if u.id in taken]:
        fail(user.where, f"id '{user.id}' already belongs to an object in the directory.")
    plan.users = [u for u in plan.users if u.id not in taken]
    for group in group_rows:
        if group.id in taken:
            fail(group.where, f"id '{group.id}' already belongs to an object in the directory.")


def _drop_existing_edges(db: Session, plan: _Plan) -> None:
    """Memberships that already exist (existing member, existing group) are satisfied, not errors."""
    new_ids = {str(g["id"]) for g in plan.new_groups.values()}
    old_groups = sorted({g for g, _ in plan.edges if g not in new_ids})
    for chunk in _chunks(old_groups, 900):
        stmt = sa.select(GroupMember.group_id, GroupMember.member_id).where(GroupMember.group_id.in_(chunk))
        for pair in db.execute(stmt):
            plan.edges.pop(pair, None)


class _GroupResolver:
    """Maps group names to ids: an existing group when exactly one has the name, else a new one."""

    def __init__(self, db: Session, tenant_id: str, plan: _Plan, fail: Callable[[str, str], None]) -> None:
        self.db, self.tenant_id, self.plan, self.fail = db, tenant_id, plan, fail
        self.existing: dict[str, list[str]] = defaultdict(list)
        self.created_by: dict[str, str] = {}  # new group key -> where of the record that described it

    def load(self, names: list[str]) -> None:
        wanted = sorted({n.lower() for n in names})
        for chunk in _chunks(wanted, 900):
            stmt = sa.select(sa.func.lower(Group.display_name), Group.id).where(
                Group.tenant_id == self.tenant_id, sa.func.lower(Group.display_name).in_(chunk)
            )
            for name, group_id in self.db.execute(stmt):
                self.existing[name].append(group_id)

    def resolve(self, name: str, where: str, row: GroupRow | None = None) -> str | None:
        key = name.lower()
        if len(self.existing.get(key, [])) > 1:
            self.fail(where, f"group name '{name}' matches {len(self.existing[key])} existing groups; rename one.")
            return None
        if key in self.existing:
            return self.existing[key][0]
        if key not in self.plan.new_groups:
            nickname = row.mail_nickname if row else None
            try:
                nickname = check_mail_nickname(nickname) if nickname else derive_mail_nickname(name)
            except ValidationFailed as exc:
                self.fail(where, exc.message)
                return None
            self.plan.new_groups[key] = {
                "id": (row.id if row else None) or new_id(),
                "tenant_id": self.tenant_id,
                "display_name": name,
                "description": row.description if row else None,
                "mail_nickname": nickname,
                "security_enabled": row.security_enabled if row else True,
                "mail_enabled": False,
            }
            if row is not None:
                self.created_by[key] = row.where
        return str(self.plan.new_groups[key]["id"])

    def register(self, group_rows: list[GroupRow]) -> dict[str, str | None]:
        """Ids of the groups that group records describe (None for a bad record)."""
        seen: dict[str, str] = {}
        ids: dict[str, str | None] = {}
        for row in group_rows:
            key = row.display_name.lower()
            if row.where in self.plan.skipped:
                ids[row.where] = None
            elif key in seen:
                self.fail(row.where, f"group '{row.display_name}' is already described by {seen[key]}.")
                ids[row.where] = None
            elif row.id and self.existing.get(key) and row.id not in self.existing[key]:
                self.fail(row.where, f"group '{row.display_name}' already exists with another id.")
                ids[row.where] = None
            else:
                seen[key] = row.where
                ids[row.where] = self.resolve(row.display_name, row.where, row)
        return ids

    def add_members(
        self, group_rows: list[GroupRow], group_ids: dict[str, str | None], user_ids: dict[str, str]
    ) -> None:
        """Members of group records: UPNs (file or directory) or group names; nesting must stay acyclic."""
        children = self._existing_nesting()
        for row in group_rows:
            group_id = group_ids[row.where]
            if group_id is None:
                continue
            edges: dict[tuple[str, str], str] = {}
            for member in row.members:
                kind = "user" if "@" in member else "group"
                if kind == "user":
                    member_id = user_ids.get(member.lower())
                elif member.lower() in self.existing or member.lower() in self.plan.new_groups:
                    member_id = self.resolve(member, row.where)
                else:
                    member_id = None
                if member_id is None:
                    self.fail(row.where, f"member '{member}' is not a valid user or group of the file or directory.")
                    break
                if kind == "group" and (member_id == group_id or _reaches(children, member_id, group_id)):
                    self.fail(row.where, f"adding group '{member}' to '{row.display_name}' would make a cycle.")
                    break
                edges[(group_id, member_id)] = kind
            else:
                self.plan.edges.update(edges)
                for (parent, child), kind in edges.items():
                    if kind == "group":
                        children[parent].add(child)

    def drop_unused(self, group_rows: list[GroupRow]) -> None:
        """A bad (skipped) group record creates nothing, unless good rows need its group."""
        used = {id_ for edge in self.plan.edges for id_ in edge}
        for key, where in self.created_by.items():
            if where in self.plan.skipped and str(self.plan.new_groups[key]["id"]) not in used:
                del self.plan.new_groups[key]

    def _existing_nesting(self) -> dict[str, set[str]]:
        # Group-in-group edges are few even in large directories; loading them all makes the cycle check a
        # walk in memory instead of one recursive query per edge.
        children: dict[str, set[str]] = defaultdict(set)
        stmt = sa.select(GroupMember.group_id, GroupMember.member_id).where(
            GroupMember.tenant_id == self.tenant_id, GroupMember.member_type == "group"
        )
        for parent, child in self.db.execute(stmt):
            children[parent].add(child)
        return children


def _reaches(children: dict[str, set[str]], start: str, target: str) -> bool:
    """True when `target` is inside `start` at any depth."""
    stack, seen = [start], {start}
    while stack:
        for child in children.get(stack.pop(), ()):
            if child == target:
                return True
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return False
