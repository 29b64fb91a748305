"""`/v1.0/groups` over HTTP: CRUD, member references, nesting, cycles and errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

GROUPS = "/v1.0/groups"


def _group(client: TestClient, headers: dict[str, str], name: str, **extra: Any) -> dict[str, Any]:
    response = client.post(GROUPS, headers=headers, json={"displayName": name, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _user(client: TestClient, headers: dict[str, str], upn: str) -> dict[str, Any]:
    response = client.post("/v1.0/users", headers=headers, json={"userPrincipalName": upn, "displayName": upn})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _add(client: TestClient, headers: dict[str, str], group_id: str, reference: str) -> Any:
    return client.post(f"{GROUPS}/{group_id}/members/$ref", headers=headers, json={"@odata.id": reference})


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    message: str = response.json()["error"]["message"]
    return message


def test_create_get_update_delete_a_group(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _group(client, admin_headers, "Remote Workers", description="Away from the office")
    assert created["mailNickname"] == "RemoteWorkers"
    assert (created["securityEnabled"], created["mailEnabled"], created["groupTypes"]) == (True, False, [])
    assert created["@odata.context"].endswith("$metadata#groups/$entity")
    response = client.patch(
        f"{GROUPS}/{created['id']}", headers=admin_headers, json={"description": None, "displayName": "Remote"}
    )
    assert response.status_code == 204
    fetched = client.get(f"{GROUPS}/{created['id']}", headers=admin_headers).json()
    assert (fetched["displayName"], fetched["description"]) == ("Remote", None)
    assert client.delete(f"{GROUPS}/{created['id']}", headers=admin_headers).status_code == 204
    _error(client.get(f"{GROUPS}/{created['id']}", headers=admin_headers), 404, "Request_ResourceNotFound")


def test_listing_pages_and_filters_by_display_name(client: TestClient, admin_headers: dict[str, str]) -> None:
    for name in ("Sales", "Sales EMEA", "Engineering", "Support"):
        _group(client, admin_headers, name)
    page = client.get(f"{GROUPS}?$top=3", headers=admin_headers).json()
    names = [g["displayName"] for g in page["value"]]
    page = client.get(page["@odata.nextLink"], headers=admin_headers).json()
    assert names + [g["displayName"] for g in page["value"]] == ["Engineering", "Sales", "Sales EMEA", "Support"]
    assert "@odata.nextLink" not in page
    found = client.get(GROUPS, params={"$filter": "startswith(displayName,'sales')"}, headers=admin_headers).json()
    assert [g["displayName"] for g in found["value"]] == ["Sales", "Sales EMEA"]
    exact = client.get(GROUPS, params={"$filter": "displayName eq 'support'"}, headers=admin_headers).json()
    assert [g["displayName"] for g in exact["value"]] == ["Support"]


@pytest.mark.parametrize(
    "reference",
    [
        "https://graph.microsoft.com/v1.0/directoryObjects/{id}",
        "https://graph.microsoft.com/v1.0/users/{id}",
        "http://127.0.0.1:8000/v1.0/directoryObjects/{id}",
        "/v1.0/directoryObjects/{id}",
        "directoryObjects/{id}",
    ],
)
def test_members_can_be_added_by_any_graph_reference_form(
    client: TestClient, admin_headers: dict[str, str], reference: str
) -> None:
    group = _group(client, admin_headers, "Sales")
    user = _user(client, admin_headers, "ann@example.com")
    assert _add(client, admin_headers, group["id"], reference.format(id=user["id"])).status_code == 204
    members = client.get(f"{GROUPS}/{group['id']}/members", headers=admin_headers).json()["value"]
    assert [(m["@odata.type"], m["id"]) for m in members] == [("#microsoft.graph.user", user["id"])]


def test_nested_groups_appear_in_transitive_members_once_each(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    top, middle, bottom = (_group(client, admin_headers, n) for n in ("Top", "Middle", "Bottom"))
    user = _user(client, admin_headers, "bea@example.com")
    for parent, child in ((top, middle), (middle, bottom), (bottom, user), (top, user)):
        reference = f"https://graph.microsoft.com/v1.0/directoryObjects/{child['id']}"
        assert _add(client, admin_headers, parent["id"], reference).status_code == 204
    direct = client.get(f"{GROUPS}/{top['id']}/members", headers=admin_headers).json()["value"]
    assert {m["id"] for m in direct} == {middle["id"], user["id"]}
    every = client.get(f"{GROUPS}/{top['id']}/transitiveMembers", headers=admin_headers).json()["value"]
    assert sorted(m["id"] for m in every) == sorted([middle["id"], bottom["id"], user["id"]])
    kinds = {m["id"]: m["@odata.type"] for m in every}
    assert kinds[bottom["id"]] == "#microsoft.graph.group" and kinds[user["id"]] == "#microsoft.graph.user"


def test_member_listings_page_with_next_links(client: TestClient, admin_headers: dict[str, str]) -> None:
    group = _group(client, admin_headers, "Big")
    ids = set()
    for i in range(5):
        user = _user(client, admin_headers, f"u{i}@example.com")
        ids.add(user["id"])
        _add(client, admin_headers, group["id"], f"directoryObjects/{user['id']}")
    for path in ("members", "transitiveMembers"):
        page = client.get(f"{GROUPS}/{group['id']}/{path}?$top=2", headers=admin_headers).json()
        seen = [m["id"] for m in page["value"]]
        while "@odata.nextLink" in page:
            page = client.get(page["@odata.nextLink"], headers=admin_headers).json()
            seen += [m["id"] for m in page["value"]]
        assert sorted(seen) == sorted(ids)


def test_a_cycle_is_refused_and_changes_nothing(client: TestClient, admin_headers: dict[str, str]) -> None:
    a, b, c = (_group(client, admin_headers, n) for n in ("A", "B", "C"))
    _add(client, admin_headers, a["id"], f"directoryObjects/{b['id']}")
    _add(client, admin_headers, b["id"], f"directoryObjects/{c['id']}")
    message = _error(_add(client, admin_headers, c["id"], f"directoryObjects/{a['id']}"), 400, "Request_BadRequest")
    assert "cycle" in message
    assert client.get(f"{GROUPS}/{c['id']}/members", headers=admin_headers).json()["value"] == []


def test_adding_the_same_member_twice_gives_graphs_error(client: TestClient, admin_headers: dict[str, str]) -> None:
    group = _group(client, admin_headers, "G")
    user = _user(client, admin_headers, "cy@example.com")
    reference = f"https://graph.microsoft.com/v1.0/directoryObjects/{user['id']}"
    assert _add(client, admin_headers, group["id"], reference).status_code == 204
    message = _error(_add(client, admin_headers, group["id"], reference), 400, "Request_BadRequest")
    assert message == (
        "One or more added object references already exist for the following modified properties: 'members'."
    )


def test_removing_a_member_answers_204_and_twice_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    group = _group(client, admin_headers, "G")
    user = _user(client, admin_headers, "dee@example.com")
    _add(client, admin_headers, group["id"], f"directoryObjects/{user['id']}")
    path = f"{GROUPS}/{group['id']}/members/{user['id']}/$ref"
    assert client.delete(path, headers=admin_headers).status_code == 204
    _error(client.delete(path, headers=admin_headers), 404, "Request_ResourceNotFound")


@pytest.mark.parametrize(
    ("reference", "status", "fragment"),
    [
        ("https://evil.example/v1.0/directoryObjects/{id}", 400, "Invalid @odata.id"),
        ("https://graph.microsoft.com/v1.0/me", 400, "Invalid @odata.id"),
        ("https://graph.microsoft.com/v1.0/directoryObjects/not-a-guid", 400, "not an object id"),
        ("https://graph.microsoft.com/v1.0/groups/{id}", 400, "one of the users"),
        (
            "https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-4000-8000-000000000000",
            404,
            "does not exist",
        ),
        ("", 400, "@odata.id is required"),
    ],
)
def test_bad_member_references_are_refused(
    client: TestClient, admin_headers: dict[str, str], reference: str, status: int, fragment: str
) -> None:
    group = _group(client, admin_headers, "G")
    user = _user(client, admin_headers, "eve@example.com")
    response = _add(client, admin_headers, group["id"], reference.format(id=user["id"]))
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]
    assert client.get(f"{GROUPS}/{group['id']}/members", headers=admin_headers).json()["value"] == []


def test_members_can_be_bound_at_creation(client: TestClient, admin_headers: dict[str, str]) -> None:
    user = _user(client, admin_headers, "fay@example.com")
    group = _group(
        client,
        admin_headers,
        "Bound",
        **{"members@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{user['id']}"]},
    )
    members = client.get(f"{GROUPS}/{group['id']}/members", headers=admin_headers).json()["value"]
    assert [m["id"] for m in members] == [user["id"]]
    bad = client.post(
        GROUPS,
        headers=admin_headers,
        json={"displayName": "Never", "members@odata.bind": ["https://graph.microsoft.com/v1.0/users/nobody"]},
    )
    assert bad.status_code == 400
    assert client.get(GROUPS, params={"$filter": "displayName eq 'Never'"}, headers=admin_headers).json()["value"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "displayName is required"),
        ({"displayName": "  "}, "displayName is required"),
        (
            {"displayName": "X", "visibility": "Private"},
            "Property 'visibility' does not exist on type 'microsoft.graph.group'",
        ),
        ({"displayName": "X", "securityEnabled": "true"}, "expected Edm.Boolean"),
        ({"displayName": "X", "mailEnabled": True}, "mailEnabled must be false"),
        ({"displayName": "X", "groupTypes": ["Unified"]}, "groupTypes"),
        ({"displayName": "X", "mailNickname": "has space"}, "mailNickname"),
    ],
)
def test_bad_group_bodies_are_400_and_create_nothing(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    message = _error(client.post(GROUPS, headers=admin_headers, json=body), 400, "Request_BadRequest")
    assert fragment in message
    assert client.get(GROUPS, headers=admin_headers).json()["value"] == []


def test_deleting_a_group_detaches_it_from_its_parents(client: TestClient, admin_headers: dict[str, str]) -> None:
    parent, child = _group(client, admin_headers, "Parent"), _group(client, admin_headers, "Child")
    _add(client, admin_headers, parent["id"], f"directoryObjects/{child['id']}")
    assert client.delete(f"{GROUPS}/{child['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{GROUPS}/{parent['id']}/members", headers=admin_headers).json()["value"] == []


@pytest.mark.parametrize("path", ["", "/members", "/transitiveMembers"])
def test_unknown_groups_are_404(client: TestClient, admin_headers: dict[str, str], path: str) -> None:
    response = client.get(f"{GROUPS}/00000000-0000-4000-8000-000000000000{path}", headers=admin_headers)
    _error(response, 404, "Request_ResourceNotFound")


def test_groups_need_the_admin_token(client: TestClient) -> None:
    response = client.post(GROUPS, json={"displayName": "X"}, headers={"Authorization": "Bearer nope"})
    _error(response, 401, "InvalidAuthenticationToken")


def test_descriptions_may_be_1024_characters_but_no_more(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert (
        client.post(GROUPS, headers=admin_headers, json={"displayName": "Long", "description": "d" * 1024}).status_code
        == 201
    )
    response = client.post(GROUPS, headers=admin_headers, json={"displayName": "Longer", "description": "d" * 1025})
    assert response.status_code == 400 and "at most 1024" in response.json()["error"]["message"]
