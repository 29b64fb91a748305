"""`/v1.0/roleManagement/directory`: Entra's built-in role definitions and role assignments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from limen.domain.directory import DirectoryRole, role_catalogue
from limen.domain.ids import parse_guid
from limen.service import directory
from limen.service.paging import Clause
from limen.service.rows import not_found
from limen.store.db import transaction
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import Prop, check_body, json_object
from limen.web.graph.odata import bad_request, collection, entity, list_query, parse_select
from limen.web.graph.shapes import role_assignment_json, role_definition_json

router = APIRouter(prefix="/roleManagement/directory", tags=["roles"])

ASSIGNMENT_TYPE = "microsoft.graph.unifiedRoleAssignment"
DEFINITION_TYPE = "microsoft.graph.unifiedRoleDefinition"
ASSIGNMENT_PROPERTIES = frozenset({"id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId"})
DEFINITION_PROPERTIES = frozenset(
    {
        "id",
        "displayName",
        "description",
        "isBuiltIn",
        "isEnabled",
        "isPrivileged",
        "templateId",
        "resourceScopes",
        "rolePermissions",
    }
)
_CREATE: dict[str, Prop] = {
    "principalId": Prop(str),
    "roleDefinitionId": Prop(str),
    "directoryScopeId": Prop(str),
    "appScopeId": Prop(str, nullable=True),
}


def _definition_matches(role: DirectoryRole, clause: Clause) -> bool:
    """In-memory `$filter` over the catalogue (it is small and constant)."""
    name = clause.property.lower()
    if name in {"id", "templateid"} and clause.operator == "eq" and isinstance(clause.value, str):
        return role.id == clause.value.strip().lower()
    if name == "displayname" and isinstance(clause.value, str):
        text, value = role.display_name.lower(), clause.value.lower()
        return text == value if clause.operator == "eq" else text.startswith(value)
    raise bad_request(
        f"Unsupported $filter on '{clause.property}' for {DEFINITION_TYPE}: "
        "filtering is supported on displayName, id and templateId."
    )


@router.get("/roleDefinitions")
def list_role_definitions(request: Request) -> dict[str, Any]:
    """The whole built-in catalogue, in one page, by displayName."""
    query = list_query(request, properties=DEFINITION_PROPERTIES, type_name=DEFINITION_TYPE)
    roles = sorted(role_catalogue().values(), key=lambda r: r.display_name.lower())
    roles = [r for r in roles if all(_definition_matches(r, c) for c in query.filters)]
    items = [role_definition_json(role) for role in roles]
    return collection(request, "roleManagement/directory/roleDefinitions", items, select=query.select)


@router.get("/roleDefinitions/{role_id}")
def get_role_definition(role_id: str, request: Request) -> dict[str, Any]:
    select = parse_select(request, DEFINITION_PROPERTIES, DEFINITION_TYPE)
    role = role_catalogue().get(parse_guid(role_id) or "")
    if role is None:
        raise not_found(role_id)
    return entity(request, "roleManagement/directory/roleDefinitions", role_definition_json(role), select=select)


@router.get("/roleAssignments")
def list_role_assignments(request: Request) -> dict[str, Any]:
    """Role assignments by id; `$filter=principalId eq '...'` (or roleDefinitionId)."""
    query = list_query(request, properties=ASSIGNMENT_PROPERTIES, type_name=ASSIGNMENT_TYPE)
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        page = directory.list_role_assignments(
            db, tenant_id, top=query.top, skiptoken=query.skiptoken, filters=query.filters
        )
        items = [role_assignment_json(a) for a in page.items]
    return collection(
        request,
        "roleManagement/directory/roleAssignments",
        items,
        next_skiptoken=page.next_skiptoken,
        select=query.select,
    )


@router.post("/roleAssignments", status_code=201)
def create_role_assignment(request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """Assign a built-in role to a user or group, tenant-wide (directoryScopeId "/")."""
    check_body(body, _CREATE, ASSIGNMENT_TYPE)
    if body.get("appScopeId") is not None:
        raise bad_request("appScopeId is not supported: Limen assigns directory roles tenant-wide only.")
    if "directoryScopeId" not in body:
        raise bad_request("directoryScopeId is required: use '/' for the whole directory.")
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        assignment = directory.create_role_assignment(
            db,
            tenant_id,
            services.clock.now(),
            principal_id=body.get("principalId"),
            role_definition_id=body.get("roleDefinitionId"),
            directory_scope_id=body["directoryScopeId"],
        )
        shape = role_assignment_json(assignment)
    return entity(request, "roleManagement/directory/roleAssignments", shape)


@router.get("/roleAssignments/{assignment_id}")
def get_role_assignment(assignment_id: str, request: Request) -> dict[str, Any]:
    select = parse_select(request, ASSIGNMENT_PROPERTIES, ASSIGNMENT_TYPE)
    services = get_services(request)
    with services.db() as db:
        shape = role_assignment_json(directory.get_role_assignment(db, tenant_id_for(request), assignment_id))
    return entity(request, "roleManagement/directory/roleAssignments", shape, select=select)


@router.delete("/roleAssignments/{assignment_id}", status_code=204)
def delete_role_assignment(assignment_id: str, request: Request) -> Response:
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with transaction(services.db) as db:
        directory.delete_role_assignment(db, tenant_id, assignment_id)
    return Response(status_code=204)
