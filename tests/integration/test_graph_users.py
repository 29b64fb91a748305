"""`/v1.0/users` over HTTP: Graph's shapes, paging, filters, PATCH semantics and errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from limen.service.context import Services
from limen.store.models import User

USERS = "/v1.0/users"


def _create(client: TestClient, headers: dict[str, str], upn: str, **extra: Any) -> dict[str, Any]:
    response = client.post(USERS, headers=headers, json={"userPrincipalName": upn, "displayName": upn[:3], **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


def test_create_returns_the_graph_user_and_never_the_password(
    client: TestClient, admin_headers: dict[str, str], services: Services
) -> None:
    body = _create(
        client,
        admin_headers,
        "Ada.Lovelace@example.com",
        displayName="Ada Lovelace",
        givenName="Ada",
        surname="Lovelace",
        mail="ada@example.com",
        mobilePhone="+44 20 7946 0000",
        mailNickname="ada",
        passwordProfile={"password": "analytical engine 1843", "forceChangePasswordNextSignIn": False},
    )
    assert body["@odata.context"].endswith("/v1.0/$metadata#users/$entity")
    assert body["userPrincipalName"] == "Ada.Lovelace@example.com"
    assert body["accountEnabled"] is True and body["userType"] == "Member"
    assert body["createdDateTime"] == "2026-01-01T09:00:00Z"
    assert body["signInActivity"] == {"lastSignInDateTime": None}
    assert "analytical" not in str(body) and "password" not in {k.lower() for k in body}
    with services.db() as db:
        user = db.get(User, body["id"])
        assert user is not None and user.password_hash is not None
        assert services.hasher.verify(user.password_hash, "analytical engine 1843").ok


def test_a_user_is_found_by_id_or_by_upn_in_any_case(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _create(client, admin_headers, "bob@example.com")
    for key in (created["id"], "BOB@example.com"):
        response = client.get(f"{USERS}/{key}", headers=admin_headers)
        assert response.status_code == 200 and response.json()["id"] == created["id"]
    selected = client.get(f"{USERS}/{created['id']}?$select=displayName,mail", headers=admin_headers).json()
    assert set(selected) == {"@odata.context", "displayName", "mail"}


def test_listing_pages_with_next_links_until_every_user_is_seen(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for i in range(5):
        _create(client, admin_headers, f"user{i}@example.com")
    page = client.get(f"{USERS}?$top=2", headers=admin_headers).json()
    seen = [u["userPrincipalName"] for u in page["value"]]
    assert page["@odata.context"].endswith("$metadata#users")
    while "@odata.nextLink" in page:
        assert "%24skiptoken=" in page["@odata.nextLink"] and "top=2" in page["@odata.nextLink"]
        page = client.get(page["@odata.nextLink"], headers=admin_headers).json()
        seen += [u["userPrincipalName"] for u in page["value"]]
    assert seen == [f"user{i}@example.com" for i in range(5)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("userPrincipalName eq 'CAROL@example.com'", ["carol@example.com"]),
        ("displayName eq 'Dave Smith'", ["dave@example.com"]),
        ("startswith(displayName,'da')", ["dave@example.com"]),
        ("mail eq 'c@corp.example'", ["carol@example.com"]),
        ("accountEnabled eq false", ["erin@example.com"]),
        ("startswith(displayName,'C') and userType eq 'Guest'", []),
    ],
)
def test_filter_supports_eq_startswith_and_and(
    client: TestClient, admin_headers: dict[str, str], query: str, expected: list[str]
) -> None:
    _create(client, admin_headers, "carol@example.com", displayName="Carol", mail="c@corp.example")
    _create(client, admin_headers, "dave@example.com", displayName="Dave Smith")
    _create(client, admin_headers, "erin@example.com", displayName="Erin", accountEnabled=False)
    response = client.get(USERS, params={"$filter": query}, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert [u["userPrincipalName"] for u in response.json()["value"]] == expected


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"$filter": "jobTitle eq 'CEO'"}, "Unsupported $filter property 'jobTitle'"),
        ({"$filter": "displayName ne 'x'"}, "operator 'ne'"),
        ({"$filter": "endswith(mail,'@x.com')"}, "function 'endswith'"),
        ({"$filter": "displayName eq 'a' or displayName eq 'b'"}, "'or'"),
        ({"$top": "1000"}, "$top"),
        ({"$top": "abc"}, "$top"),
        ({"$orderby": "displayName"}, "$orderby"),
        ({"$skiptoken": "garbage"}, "$skiptoken"),
        ({"$select": "jobTitle"}, "'jobTitle'"),
    ],
)
def test_unsupported_query_options_are_refused_by_name(
    client: TestClient, admin_headers: dict[str, str], params: dict[str, str], fragment: str
) -> None:
    message = _error(client.get(USERS, params=params, headers=admin_headers), 400, "Request_BadRequest")
    assert fragment in message


def test_patch_changes_only_given_fields_and_answers_204(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _create(client, admin_headers, "frank@example.com", mail="frank@old.example")
    response = client.patch(
        f"{USERS}/{created['id']}",
        headers=admin_headers,
        json={"displayName": "Frank N.", "mobilePhone": "+1 555 0100", "accountEnabled": False},
    )
    assert response.status_code == 204 and response.content == b""
    user = client.get(f"{USERS}/{created['id']}", headers=admin_headers).json()
    assert (user["displayName"], user["mobilePhone"], user["accountEnabled"]) == ("Frank N.", "+1 555 0100", False)
    assert user["mail"] == "frank@old.example"
    assert client.patch(f"{USERS}/{created['id']}", headers=admin_headers, json={"mail": None}).status_code == 204
    assert client.get(f"{USERS}/{created['id']}", headers=admin_headers).json()["mail"] is None


def test_patch_can_rename_the_upn_and_set_a_password(
    client: TestClient, admin_headers: dict[str, str], services: Services
) -> None:
    created = _create(client, admin_headers, "grace@example.com")
    response = client.patch(
        f"{USERS}/grace@example.com",
        headers=admin_headers,
        json={"userPrincipalName": "grace.hopper@example.com", "passwordProfile": {"password": "COBOL since 1959"}},
    )
    assert response.status_code == 204, response.text
    with services.db() as db:
        user = db.get(User, created["id"])
        assert user is not None and user.user_principal_name == "grace.hopper@example.com"
        assert user.password_hash is not None and services.hasher.verify(user.password_hash, "COBOL since 1959").ok


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"userPrincipalName": "x@example.com"}, "displayName is required"),
        ({"displayName": "No UPN"}, "userPrincipalName is required"),
        ({"userPrincipalName": "not-an-upn", "displayName": "X"}, "not a valid userPrincipalName"),
        (
            {"userPrincipalName": "x@example.com", "displayName": "X", "jobTitle": "CEO"},
            "Property 'jobTitle' does not exist on type 'microsoft.graph.user'",
        ),
        ({"userPrincipalName": "x@example.com", "displayName": "X", "accountEnabled": "yes"}, "expected Edm.Boolean"),
        ({"userPrincipalName": "x@example.com", "displayName": 7}, "expected Edm.String"),
        ({"userPrincipalName": "x@example.com", "displayName": "X", "userType": "Admin"}, "Unknown userType"),
        (
            {"userPrincipalName": "x@example.com", "displayName": "X", "passwordProfile": {"password": "short"}},
            "8 to 256",
        ),
        (
            {
                "userPrincipalName": "x@example.com",
                "displayName": "X",
                "passwordProfile": {"password": "long enough pw", "forceChangePasswordNextSignIn": True},
            },
            "not supported yet",
        ),
        (
            {"userPrincipalName": "x@example.com", "displayName": "X", "passwordProfile": {"pwd": "x"}},
            "passwordProfile",
        ),
    ],
)
def test_bad_create_bodies_are_400_with_a_precise_message_and_create_nothing(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    message = _error(client.post(USERS, headers=admin_headers, json=body), 400, "Request_BadRequest")
    assert fragment in message
    assert client.get(USERS, headers=admin_headers).json()["value"] == []


def test_malformed_json_and_non_object_bodies_are_400(client: TestClient, admin_headers: dict[str, str]) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}
    assert "valid JSON" in _error(client.post(USERS, headers=headers, content=b"{nope"), 400, "Request_BadRequest")
    assert "JSON object" in _error(client.post(USERS, headers=headers, content=b"[1]"), 400, "Request_BadRequest")


def test_a_duplicate_upn_is_refused_case_insensitively(client: TestClient, admin_headers: dict[str, str]) -> None:
    _create(client, admin_headers, "heidi@example.com")
    response = client.post(
        USERS, headers=admin_headers, json={"userPrincipalName": "HEIDI@example.com", "displayName": "H"}
    )
    assert "already exists" in _error(response, 400, "Request_MultipleObjectsWithSameKeyValue")
    other = _create(client, admin_headers, "ivan@example.com")
    response = client.patch(
        f"{USERS}/{other['id']}", headers=admin_headers, json={"userPrincipalName": "Heidi@Example.com"}
    )
    assert response.status_code == 400


def test_bad_patch_changes_nothing(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _create(client, admin_headers, "judy@example.com")
    response = client.patch(
        f"{USERS}/{created['id']}", headers=admin_headers, json={"displayName": "Changed", "accountEnabled": "no"}
    )
    assert response.status_code == 400
    assert client.get(f"{USERS}/{created['id']}", headers=admin_headers).json()["displayName"] == "jud"


def test_delete_answers_204_then_the_user_is_gone(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _create(client, admin_headers, "kim@example.com")
    assert client.delete(f"{USERS}/{created['id']}", headers=admin_headers).status_code == 204
    _error(client.get(f"{USERS}/{created['id']}", headers=admin_headers), 404, "Request_ResourceNotFound")
    _error(client.delete(f"{USERS}/{created['id']}", headers=admin_headers), 404, "Request_ResourceNotFound")


@pytest.mark.parametrize("key", ["00000000-0000-4000-8000-000000000000", "nobody@example.com", "not-an-id"])
def test_unknown_users_are_404_resource_not_found(client: TestClient, admin_headers: dict[str, str], key: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"displayName": "x"}} if method == "PATCH" else {}
        response = client.request(method, f"{USERS}/{key}", headers=admin_headers, **kwargs)
        assert f"'{key}' does not exist" in _error(response, 404, "Request_ResourceNotFound")
    _error(client.get(f"{USERS}/{key}/memberOf", headers=admin_headers), 404, "Request_ResourceNotFound")


def test_member_of_lists_direct_groups_and_transitive_member_of_the_nesting(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    user = _create(client, admin_headers, "leo@example.com")
    inner = client.post("/v1.0/groups", headers=admin_headers, json={"displayName": "Inner"}).json()
    outer = client.post("/v1.0/groups", headers=admin_headers, json={"displayName": "Outer"}).json()
    for group, member in ((inner, user), (outer, inner)):
        ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{member['id']}"}
        assert (
            client.post(f"/v1.0/groups/{group['id']}/members/$ref", headers=admin_headers, json=ref).status_code == 204
        )
    direct = client.get(f"{USERS}/{user['id']}/memberOf", headers=admin_headers).json()["value"]
    assert [(g["@odata.type"], g["displayName"]) for g in direct] == [("#microsoft.graph.group", "Inner")]
    transitive = client.get(f"{USERS}/leo@example.com/transitiveMemberOf", headers=admin_headers).json()["value"]
    assert [g["displayName"] for g in transitive] == ["Inner", "Outer"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [({}, "Access token is empty."), ({"Authorization": "Bearer wrong-token"}, "Access token validation failure.")],
)
def test_requests_without_the_admin_token_are_401(client: TestClient, headers: dict[str, str], message: str) -> None:
    for method, path in (("GET", USERS), ("POST", USERS), ("GET", f"{USERS}/x@example.com")):
        response = client.request(method, path, headers=headers, json={"userPrincipalName": "x@example.com"})
        assert _error(response, 401, "InvalidAuthenticationToken") == message
