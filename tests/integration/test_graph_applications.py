"""`/v1.0/applications`: registrations, client secrets (addPassword/removePassword) and errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from limen.crypto.tokens import secret_hash
from limen.service.context import Services
from limen.store.models import ApplicationPassword

APPS = "/v1.0/applications"


def _app(client: TestClient, headers: dict[str, str], name: str = "Payroll", **extra: Any) -> dict[str, Any]:
    body = {"displayName": name, "web": {"redirectUris": ["https://payroll.example/callback"]}, **extra}
    response = client.post(APPS, headers=headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_returns_graphs_application_shape(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _app(
        client, admin_headers, web={"redirectUris": ["https://a.example/cb"], "logoutUrl": "https://a.example/"}
    )
    assert created["@odata.context"].endswith("$metadata#applications/$entity")
    assert created["displayName"] == "Payroll" and created["isFallbackPublicClient"] is False
    assert created["web"] == {"redirectUris": ["https://a.example/cb"], "logoutUrl": "https://a.example/"}
    assert created["publicClient"] == {"redirectUris": []}
    assert created["passwordCredentials"] == [] and created["appId"] != created["id"]


def test_get_by_object_id_and_by_app_id_alternate_key(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _app(client, admin_headers)
    by_id = client.get(f"{APPS}/{created['id']}", headers=admin_headers).json()
    by_app_id = client.get(f"{APPS}(appId='{created['appId']}')", headers=admin_headers).json()
    assert by_id["id"] == by_app_id["id"] == created["id"]
    missing = client.get(f"{APPS}(appId='00000000-0000-4000-8000-000000000000')", headers=admin_headers)
    assert missing.status_code == 404


def test_add_password_shows_the_secret_once_and_stores_only_its_hash(
    client: TestClient, admin_headers: dict[str, str], services: Services
) -> None:
    created = _app(client, admin_headers)
    response = client.post(
        f"{APPS}/{created['id']}/addPassword",
        headers=admin_headers,
        json={"passwordCredential": {"displayName": "CI", "endDateTime": "2027-01-01T00:00:00Z"}},
    )
    assert response.status_code == 200, response.text
    credential = response.json()
    secret = credential["secretText"]
    assert credential["hint"] == secret[:3] and credential["displayName"] == "CI"
    assert (credential["startDateTime"], credential["endDateTime"]) == ("2026-01-01T09:00:00Z", "2027-01-01T00:00:00Z")
    listed = client.get(f"{APPS}/{created['id']}", headers=admin_headers).json()["passwordCredentials"]
    assert [c["keyId"] for c in listed] == [credential["keyId"]] and "secretText" not in listed[0]
    assert secret not in client.get(APPS, headers=admin_headers).text
    with services.db() as db:
        stored = db.get(ApplicationPassword, credential["keyId"])
        assert stored is not None and stored.secret_hash == secret_hash(secret)


def test_remove_password_revokes_one_secret(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _app(client, admin_headers)
    key_ids = [
        client.post(f"{APPS}/{created['id']}/addPassword", headers=admin_headers, json={}).json()["keyId"]
        for _ in range(2)
    ]
    path = f"{APPS}/{created['id']}/removePassword"
    assert client.post(path, headers=admin_headers, json={"keyId": key_ids[0]}).status_code == 204
    listed = client.get(f"{APPS}/{created['id']}", headers=admin_headers).json()["passwordCredentials"]
    assert [c["keyId"] for c in listed] == [key_ids[1]]
    assert client.post(path, headers=admin_headers, json={"keyId": key_ids[0]}).status_code == 404
    assert client.post(path, headers=admin_headers, json={"keyId": "nope"}).status_code == 400


def test_patch_replaces_redirect_uris_and_keeps_the_rest(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _app(client, admin_headers)
    response = client.patch(
        f"{APPS}/{created['id']}",
        headers=admin_headers,
        json={"displayName": "Payroll v2", "web": {"redirectUris": ["https://payroll.example/v2/cb"]}},
    )
    assert response.status_code == 204, response.text
    fetched = client.get(f"{APPS}/{created['id']}", headers=admin_headers).json()
    assert fetched["displayName"] == "Payroll v2"
    assert fetched["web"]["redirectUris"] == ["https://payroll.example/v2/cb"]
    patch = {"publicClient": {"redirectUris": ["com.example.payroll:/cb"]}, "isFallbackPublicClient": True}
    assert client.patch(f"{APPS}(appId='{created['appId']}')", headers=admin_headers, json=patch).status_code == 204
    fetched = client.get(f"{APPS}/{created['id']}", headers=admin_headers).json()
    assert fetched["isFallbackPublicClient"] is True and fetched["publicClient"]["redirectUris"] == [
        "com.example.payroll:/cb"
    ]


def test_list_pages_and_filters(client: TestClient, admin_headers: dict[str, str]) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        _app(client, admin_headers, name)
    page = client.get(f"{APPS}?$top=2", headers=admin_headers).json()
    names = [a["displayName"] for a in page["value"]]
    names += [a["displayName"] for a in client.get(page["@odata.nextLink"], headers=admin_headers).json()["value"]]
    assert names == ["Alpha", "Beta", "Gamma"]
    found = client.get(APPS, params={"$filter": "startswith(displayName,'g')"}, headers=admin_headers).json()
    assert [a["displayName"] for a in found["value"]] == ["Gamma"]


def test_delete_answers_204_and_removes_secrets(
    client: TestClient, admin_headers: dict[str, str], services: Services
) -> None:
    created = _app(client, admin_headers)
    client.post(f"{APPS}/{created['id']}/addPassword", headers=admin_headers, json={})
    assert client.delete(f"{APPS}/{created['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{APPS}/{created['id']}", headers=admin_headers).status_code == 404
    with services.db() as db:
        assert db.query(ApplicationPassword).count() == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "displayName is required"),
        ({"displayName": "X", "web": {"redirectUris": ["http://evil.example/cb"]}}, "https"),
        ({"displayName": "X", "web": {"redirectUris": "https://a.example"}}, "expected an array"),
        (
            {"displayName": "X", "web": {"homePageUrl": "https://a.example"}},
            "Property 'web.homePageUrl' does not exist",
        ),
        ({"displayName": "X", "web": {"implicitGrantSettings": {}}}, "implicit grant"),
        ({"displayName": "X", "tags": []}, "Property 'tags' does not exist on type 'microsoft.graph.application'"),
        ({"displayName": "X", "passwordCredentials": []}, "addPassword"),
        ({"displayName": "X", "isFallbackPublicClient": "yes"}, "expected Edm.Boolean"),
        ({"displayName": "X", "signInAudience": "AzureADMultipleOrgs"}, "AzureADMyOrg"),
        ({"displayName": "X", "appId": "not-a-guid"}, "GUID"),
    ],
)
def test_bad_application_bodies_are_400_and_create_nothing(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    response = client.post(APPS, headers=admin_headers, json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]
    assert client.get(APPS, headers=admin_headers).json()["value"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"passwordCredential": {"endDateTime": "tomorrow"}}, "endDateTime"),
        ({"passwordCredential": {"endDateTime": "2020-01-01T00:00:00Z"}}, "future"),
        ({"passwordCredential": {"secretText": "mine"}}, "chosen by Limen"),
        ({"passwordCredential": "x"}, "expected an object"),
    ],
)
def test_bad_add_password_requests_are_400(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    created = _app(client, admin_headers)
    response = client.post(f"{APPS}/{created['id']}/addPassword", headers=admin_headers, json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]["message"]
    assert client.get(f"{APPS}/{created['id']}", headers=admin_headers).json()["passwordCredentials"] == []


def test_public_clients_get_no_secrets(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = client.post(
        APPS,
        headers=admin_headers,
        json={
            "displayName": "CLI",
            "isFallbackPublicClient": True,
            "publicClient": {"redirectUris": ["http://127.0.0.1/cb"]},
        },
    ).json()
    response = client.post(f"{APPS}/{created['id']}/addPassword", headers=admin_headers, json={})
    assert response.status_code == 400 and "PKCE" in response.json()["error"]["message"]


@pytest.mark.parametrize("suffix", ["", "/addPassword", "/removePassword"])
def test_unknown_applications_are_404(client: TestClient, admin_headers: dict[str, str], suffix: str) -> None:
    method = "GET" if not suffix else "POST"
    body = {"keyId": "00000000-0000-4000-8000-000000000000"} if suffix == "/removePassword" else {}
    response = client.request(
        method, f"{APPS}/00000000-0000-4000-8000-000000000000{suffix}", headers=admin_headers, json=body
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "Request_ResourceNotFound"


def test_applications_need_the_admin_token(client: TestClient) -> None:
    response = client.get(APPS, headers={"Authorization": "Basic abc"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "InvalidAuthenticationToken"
