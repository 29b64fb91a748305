"""`/v1.0/roleManagement/directory`: role definitions (the built-in catalogue) and role assignments."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from limen.domain.directory import GLOBAL_ADMINISTRATOR, role_catalogue

BASE = "/v1.0/roleManagement/directory"
ASSIGNMENTS = f"{BASE}/roleAssignments"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"


def _principal(client: TestClient, headers: dict[str, str], kind: str, name: str) -> str:
    body = {"userPrincipalName": name, "displayName": name} if kind == "users" else {"displayName": name}
    response = client.post(f"/v1.0/{kind}", headers=headers, json=body)
    assert response.status_code == 201, response.text
    object_id: str = response.json()["id"]
    return object_id


def _assign(client: TestClient, headers: dict[str, str], principal: str, role: str, scope: str = "/") -> Any:
    body = {"principalId": principal, "roleDefinitionId": role, "directoryScopeId": scope}
    return client.post(ASSIGNMENTS, headers=headers, json=body)


def test_role_definitions_list_the_whole_catalogue(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = client.get(f"{BASE}/roleDefinitions", headers=admin_headers).json()
    assert len(body["value"]) == len(role_catalogue())
    ga = next(r for r in body["value"] if r["id"] == GLOBAL_ADMINISTRATOR)
    assert ga["displayName"] == "Global Administrator" and ga["templateId"] == GLOBAL_ADMINISTRATOR
    assert ga["isBuiltIn"] is True and ga["isEnabled"] is True
    one = client.get(f"{BASE}/roleDefinitions/{GLOBAL_ADMINISTRATOR.upper()}", headers=admin_headers).json()
    assert one["displayName"] == "Global Administrator"
    found = client.get(
        f"{BASE}/roleDefinitions", params={"$filter": "displayName eq 'global reader'"}, headers=admin_headers
    ).json()
    assert [r["id"] for r in found["value"]] == [GLOBAL_READER]


def test_unknown_role_definition_is_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.get(f"{BASE}/roleDefinitions/00000000-0000-4000-8000-000000000000", headers=admin_headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "Request_ResourceNotFound"


def test_assign_get_list_and_delete_for_users_and_groups(client: TestClient, admin_headers: dict[str, str]) -> None:
    user = _principal(client, admin_headers, "users", "amy@example.com")
    group = _principal(client, admin_headers, "groups", "Helpdesk")
    created = _assign(client, admin_headers, user, GLOBAL_ADMINISTRATOR)
    assert created.status_code == 201, created.text
    assignment = created.json()
    assert (assignment["principalId"], assignment["roleDefinitionId"], assignment["directoryScopeId"]) == (
        user,
        GLOBAL_ADMINISTRATOR,
        "/",
    )
    assert _assign(client, admin_headers, group, GLOBAL_READER).status_code == 201
    fetched = client.get(f"{ASSIGNMENTS}/{assignment['id']}", headers=admin_headers).json()
    assert fetched["id"] == assignment["id"]
    everything = client.get(ASSIGNMENTS, headers=admin_headers).json()["value"]
    assert len(everything) == 2
    mine = client.get(ASSIGNMENTS, params={"$filter": f"principalId eq '{user}'"}, headers=admin_headers).json()
    assert [a["id"] for a in mine["value"]] == [assignment["id"]]
    assert client.delete(f"{ASSIGNMENTS}/{assignment['id']}", headers=admin_headers).status_code == 204
    response = client.get(f"{ASSIGNMENTS}/{assignment['id']}", headers=admin_headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "Request_ResourceNotFound"


def test_assignments_page_with_next_links(client: TestClient, admin_headers: dict[str, str]) -> None:
    user = _principal(client, admin_headers, "users", "bo@example.com")
    roles = list(role_catalogue())[:5]
    for role in roles:
        assert _assign(client, admin_headers, user, role).status_code == 201
    page = client.get(f"{ASSIGNMENTS}?$top=2", headers=admin_headers).json()
    seen = [a["roleDefinitionId"] for a in page["value"]]
    while "@odata.nextLink" in page:
        page = client.get(page["@odata.nextLink"], headers=admin_headers).json()
        seen += [a["roleDefinitionId"] for a in page["value"]]
    assert sorted(seen) == sorted(roles)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"roleDefinitionId": "00000000-0000-4000-8000-000000000000"}, "not a built-in directory role"),
        ({"roleDefinitionId": "Global Administrator"}, "not a built-in directory role"),
        ({"directoryScopeId": "/administrativeUnits/5d107bba-d8e2-4e13-b6ae-884be90e5d1a"}, "directoryScopeId"),
        ({"principalId": "00000000-0000-4000-8000-000000000000"}, "not a user or group"),
        ({"principalId": 42}, "expected Edm.String"),
        ({"appScopeId": "/"}, "appScopeId"),
        ({"condition": "x"}, "Property 'condition' does not exist"),
    ],
)
def test_bad_assignments_are_400_and_assign_nothing(
    client: TestClient, admin_headers: dict[str, str], change: dict[str, Any], fragment: str
) -> None:
    user = _principal(client, admin_headers, "users", "cat@example.com")
    body = {"principalId": user, "roleDefinitionId": GLOBAL_READER, "directoryScopeId": "/", **change}
    response = client.post(ASSIGNMENTS, headers=admin_headers, json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]
    assert client.get(ASSIGNMENTS, headers=admin_headers).json()["value"] == []


def test_a_duplicate_assignment_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    user = _principal(client, admin_headers, "users", "dan@example.com")
    assert _assign(client, admin_headers, user, GLOBAL_READER).status_code == 201
    response = _assign(client, admin_headers, user, GLOBAL_READER.upper())
    assert response.status_code == 400 and "already holds" in response.json()["error"]["message"]


def test_unsupported_filters_on_assignments_are_named(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.get(ASSIGNMENTS, params={"$filter": "createdDateTime eq 'x'"}, headers=admin_headers)
    assert response.status_code == 400 and "createdDateTime" in response.json()["error"]["message"]


def test_deleting_an_unknown_assignment_is_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.delete(f"{ASSIGNMENTS}/00000000-0000-4000-8000-000000000000", headers=admin_headers)
    assert response.status_code == 404


def test_roles_need_the_admin_token(client: TestClient) -> None:
    for path in (ASSIGNMENTS, f"{BASE}/roleDefinitions"):
        response = client.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "InvalidAuthenticationToken"
