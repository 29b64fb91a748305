"""Directory role assignments (Graph `unifiedRoleAssignment`) and the effective roles of a user.

Roles are Entra's built-in role templates (limen.domain.directory.role_catalogue); a user holds a role
assigned to them directly or to any group they belong to at any depth (SPEC.md §1.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from limen.domain.directory import role_catalogue
from limen.domain.errors import Conflict, NotFound, ValidationFailed
from limen.domain.ids import new_id, parse_guid
from limen.service.directory_groups import ancestors_cte, get_directory_object
from limen.service.paging import Clause, Filterable, Page, apply_filters, keyset_page
from limen.service.rows import get_in_tenant
from limen.store.models import RoleAssignment

#: Limen assigns directory roles tenant-wide only; administrative units and app scopes do not exist here.
TENANT_SCOPE = "/"

ROLE_ASSIGNMENT_FILTERS: dict[str, Filterable] = {
    "principalId": Filterable(RoleAssignment.principal_id, "guid"),
    "roleDefinitionId": Filterable(RoleAssignment.role_definition_id, "guid"),
    "directoryScopeId": Filterable(RoleAssignment.directory_scope_id, "text"),
}


def _role_definition_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("roleDefinitionId is required: a built-in role template id.")
    parsed = parse_guid(value)
    if parsed is None or parsed not in role_catalogue():
        raise ValidationFailed(
            f"roleDefinitionId '{value}' is not a built-in directory role: "
            "use a template id from /v1.0/roleManagement/directory/roleDefinitions."
        )
    return parsed


def create_role_assignment(
    db: Session,
    tenant_id: str,
    now: datetime,
    *,
    principal_id: str | None,
    role_definition_id: str | None,
    directory_scope_id: str = TENANT_SCOPE,
) -> RoleAssignment:
    """Assign a role to a user or group of the tenant, at scope "/"; duplicates are refused."""
    if not isinstance(principal_id, str) or not principal_id.strip():
        raise ValidationFailed("principalId is required: the id of a user or group.")
    role_id = _role_definition_id(role_definition_id)
    if directory_scope_id != TENANT_SCOPE:
        raise ValidationFailed(
            f"directoryScopeId '{directory_scope_id}' is not supported: Limen assigns directory roles "
            "tenant-wide only, with directoryScopeId '/'."
        )
    try:
        principal = get_directory_object(db, tenant_id, principal_id)
    except NotFound:
        raise ValidationFailed(f"principalId '{principal_id}' is not a user or group of this directory.") from None
    existing = db.scalar(
        sa.select(RoleAssignment.id).where(
            RoleAssignment.tenant_id == tenant_id,
            RoleAssignment.principal_id == principal.id,
            RoleAssignment.role_definition_id == role_id,
            RoleAssignment.directory_scope_id == TENANT_SCOPE,
        )
    )
    if existing is not None:
        raise Conflict(
            f"Principal '{principal.id}' already holds role '{role_id}' at scope '/' (assignment {existing})."
        )
    assignment = RoleAssignment(
        id=new_id(),
        tenant_id=tenant_id,
        principal_id=principal.id,
        role_definition_id=role_id,
        directory_scope_id=TENANT_SCOPE,
        created_at=now,
    )
    db.add(assignment)
    try:
        db.flush()
    except IntegrityError:  # a concurrent request assigned the same role first
        raise Conflict(f"Principal '{principal.id}' already holds role '{role_id}' at scope '/'.") from None
    return assignment


def get_role_assignment(db: Session, tenant_id: str, assignment_id: str) -> RoleAssignment:
    """The assignment with this id, or NotFound."""
    return get_in_tenant(db, RoleAssignment, tenant_id, assignment_id)


def list_role_assignments(
    db: Session,
    tenant_id: str,
    *,
    top: int | None = None,
    skiptoken: str | None = None,
    filters: Sequence[Clause] = (),
) -> Page[RoleAssignment]:
    """Role assignments ordered by id; filterable by principalId and roleDefinitionId."""
    stmt = sa.select(RoleAssignment).where(RoleAssignment.tenant_id == tenant_id)
    stmt = apply_filters(stmt, filters, ROLE_ASSIGNMENT_FILTERS, "microsoft.graph.unifiedRoleAssignment")
    return keyset_page(db, stmt, [RoleAssignment.id], top=top, skiptoken=skiptoken)


def delete_role_assignment(db: Session, tenant_id: str, assignment_id: str) -> None:
    """Remove an assignment; NotFound if it does not exist."""
    db.delete(get_role_assignment(db, tenant_id, assignment_id))
    db.flush()


def _role_ids_statement() -> sa.Select[str]:
    ancestors = ancestors_cte(sa.bindparam("tenant_id"), sa.bindparam("user_id"))  # type: ignore[arg-type]
    # One IN list (the user and their groups) rather than an OR, so that the (tenant_id, principal_id, ...)
    # unique index finds each principal's rows directly instead of scanning the tenant's assignments.
    principals = sa.union(sa.select(sa.bindparam("user_id", type_=sa.String)), sa.select(ancestors.c.group_id))
    return (
        sa.select(RoleAssignment.role_definition_id)
        .where(
            RoleAssignment.tenant_id == sa.bindparam("tenant_id"),
            RoleAssignment.directory_scope_id == TENANT_SCOPE,
            RoleAssignment.principal_id.in_(principals),
        )
        .distinct()
    )


# Built once: it runs at every sign-in, and building the statement costs more than executing it.
ROLE_IDS_OF = _role_ids_statement()


def role_ids_of(db: Session, tenant_id: str, user_id: str) -> set[str]:
    """Template ids of every role the user holds, directly or through any group at any depth: one query."""
    return set(db.scalars(ROLE_IDS_OF, {"tenant_id": tenant_id, "user_id": user_id}))
