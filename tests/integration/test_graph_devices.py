"""`/v1.0/devices` over HTTP: Graph's device JSON, PATCH semantics, owners by `$ref`, the enrolment link
action, and Graph's errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from limen.service.context import Services
from limen.store.models import User

DEVICES = "/v1.0/devices"
GRAPH = "https://graph.microsoft.com/v1.0"


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(DEVICES, headers=headers, json={"displayName": "LAPTOP-1", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _error(response: Any, status: int, code: str = "Request_BadRequest") -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


def test_create_get_and_list_in_graph_json(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = _create(
        client,
        admin_headers,
        **{
            "@odata.type": "#microsoft.graph.device",
            "deviceId": "4c299165-6e8f-4b45-a5ba-c5d250a707ff",
            "operatingSystem": "Windows",
            "operatingSystemVersion": "10.0.22631",
            "trustType": "AzureAd",
            "isCompliant": True,
            "accountEnabled": True,
            "alternativeSecurityIds": [{"type": 2, "key": "base64Y3YxN2E1MWFlYw=="}],
            "extensionAttributes": {"extensionAttribute7": "Kiosk"},
            "physicalIds": ["[ZTDId]:abc"],
        },
    )
    assert created["@odata.context"].endswith("/v1.0/$metadata#devices/$entity")
    assert created["deviceId"] == "4c299165-6e8f-4b45-a5ba-c5d250a707ff"
    assert created["isCompliant"] is True and created["isManaged"] is False
    assert created["extensionAttributes"]["extensionAttribute7"] == "Kiosk"
    assert created["physicalIds"] == ["[ZTDId]:abc"] and "alternativeSecurityIds" not in created
    assert created["approximateLastSignInDateTime"] is None
    assert not {"binding", "enrolmentCode"} & set(created)

    got = client.get(f"{DEVICES}/{created['id']}", headers=admin_headers)
    assert got.status_code == 200 and got.json()["displayName"] == "LAPTOP-1"
    selected = client.get(f"{DEVICES}/{created['id']}?$select=displayName,trustType", headers=admin_headers).json()
    assert set(selected) == {"@odata.context", "displayName", "trustType"}

    _create(client, admin_headers, displayName="IPHONE-2", operatingSystem="iOS")
    listed = client.get(DEVICES, headers=admin_headers).json()
    assert [d["displayName"] for d in listed["value"]] == ["IPHONE-2", "LAPTOP-1"]
    compliant = client.get(f"{DEVICES}?$filter=isCompliant eq true", headers=admin_headers).json()
    assert [d["displayName"] for d in compliant["value"]] == ["LAPTOP-1"]
    ios = client.get(f"{DEVICES}?$filter=startswith(operatingSystem,'i')", headers=admin_headers).json()
    assert [d["displayName"] for d in ios["value"]] == ["IPHONE-2"]
    page = client.get(f"{DEVICES}?$top=1", headers=admin_headers).json()
    assert len(page["value"]) == 1 and "@odata.nextLink" in page


def test_patch_changes_the_given_properties_and_delete_removes(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    device = _create(
        client, admin_headers, extensionAttributes={"extensionAttribute1": "a", "extensionAttribute2": "b"}
    )
    url = f"{DEVICES}/{device['id']}"
    response = client.patch(
        url,
        headers=admin_headers,
        json={"isCompliant": True, "trustType": "serverad", "extensionAttributes": {"extensionAttribute1": None}},
    )
    assert response.status_code == 204, response.text
    after = client.get(url, headers=admin_headers).json()
    assert after["isCompliant"] is True and after["trustType"] == "ServerAd"
    assert after["extensionAttributes"]["extensionAttribute1"] is None
    assert after["extensionAttributes"]["extensionAttribute2"] == "b"
    assert after["displayName"] == "LAPTOP-1"

    assert client.delete(url, headers=admin_headers).status_code == 204
    _error(client.get(url, headers=admin_headers), 404, "Request_ResourceNotFound")
    _error(client.delete(url, headers=admin_headers), 404, "Request_ResourceNotFound")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"displayName": "x", "color": "red"}, "Property 'color' does not exist on type 'microsoft.graph.device'"),
        ({"displayName": "x", "isCompliant": "true"}, "expected Edm.Boolean, got a string"),
        ({"displayName": 7}, "expected Edm.String, got a number"),
        ({"displayName": "x", "trustType": "Domain"}, "trustType must be one of AzureAd, ServerAd, Workplace"),
        ({"displayName": "x", "extensionAttributes": {"extensionAttribute0": "a"}}, "extensionAttribute0"),
        ({"displayName": "x", "id": "4c299165-6e8f-4b45-a5ba-c5d250a707ff"}, "it is assigned by Limen"),
        ({"displayName": "x", "complianceExpirationDateTime": "2026-01-01T00:00:00Z"}, "not supported by Limen"),
        ({"displayName": "x", "deviceId": "1234"}, "deviceId must be a GUID"),
        ({"operatingSystem": "Windows"}, "displayName is required"),
        ({"displayName": "x", "@odata.type": "#microsoft.graph.user"}, "@odata.type must be"),
    ],
)
def test_bad_input_gets_graph_errors(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    assert fragment in _error(client.post(DEVICES, headers=admin_headers, json=body), 400)
    assert client.get(DEVICES, headers=admin_headers).json()["value"] == []


def test_bad_patches_and_requests_are_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    device = _create(client, admin_headers)
    url = f"{DEVICES}/{device['id']}"
    assert "cannot be changed" in _error(client.patch(url, headers=admin_headers, json={"deviceId": device["id"]}), 400)
    assert "cannot be null" in _error(client.patch(url, headers=admin_headers, json={"displayName": None}), 400)
    assert "Unable to read JSON" in _error(client.patch(url, headers=admin_headers, content=b"{"), 400)
    _error(client.patch(f"{DEVICES}/not-an-id", headers=admin_headers, json={}), 404, "Request_ResourceNotFound")
    assert "Unsupported $filter property" in _error(
        client.get(f"{DEVICES}?$filter=colour eq 'red'", headers=admin_headers), 400
    )
    assert "Could not find a property" in _error(client.get(f"{DEVICES}?$select=binding", headers=admin_headers), 400)
    assert client.get(DEVICES).status_code == 401
    assert client.get(url, headers=admin_headers).json()["isCompliant"] is False


def test_duplicate_device_id_is_refused(client: TestClient, admin_headers: dict[str, str]) -> None:
    given = "4c299165-6e8f-4b45-a5ba-c5d250a707ff"
    _create(client, admin_headers, deviceId=given)
    message = _error(
        client.post(DEVICES, headers=admin_headers, json={"displayName": "y", "deviceId": given}),
        400,
        "Request_MultipleObjectsWithSameKeyValue",
    )
    assert "deviceId" in message


def test_registered_owners_by_reference(
    client: TestClient, admin_headers: dict[str, str], user: User, services: Services
) -> None:
    device = _create(client, admin_headers, **{"registeredOwners@odata.bind": [f"{GRAPH}/users/{user.id}"]})
    owners_url = f"{DEVICES}/{device['id']}/registeredOwners"
    owners = client.get(owners_url, headers=admin_headers).json()["value"]
    assert [(o["@odata.type"], o["userPrincipalName"]) for o in owners] == [
        ("#microsoft.graph.user", user.user_principal_name)
    ]
    ref = {"@odata.id": f"{GRAPH}/directoryObjects/{user.id}"}
    assert "already exist" in _error(client.post(f"{owners_url}/$ref", headers=admin_headers, json=ref), 400)

    assert client.delete(f"{owners_url}/{user.id}/$ref", headers=admin_headers).status_code == 204
    assert client.get(owners_url, headers=admin_headers).json()["value"] == []
    _error(client.delete(f"{owners_url}/{user.id}/$ref", headers=admin_headers), 404, "Request_ResourceNotFound")
    assert client.post(f"{owners_url}/$ref", headers=admin_headers, json=ref).status_code == 204
    assert len(client.get(owners_url, headers=admin_headers).json()["value"]) == 1

    group = {"@odata.id": f"{GRAPH}/groups/{user.id}"}
    assert "are users" in _error(client.post(f"{owners_url}/$ref", headers=admin_headers, json=group), 400)
    unknown = {"@odata.id": f"{GRAPH}/users/4c299165-6e8f-4b45-a5ba-c5d250a707ff"}
    _error(client.post(f"{owners_url}/$ref", headers=admin_headers, json=unknown), 404, "Request_ResourceNotFound")
    assert "not supported" in _error(client.get(f"{owners_url}?$top=1", headers=admin_headers), 400)


def test_the_enrolment_link_action_returns_the_link_once(
    client: TestClient, admin_headers: dict[str, str], services: Services
) -> None:
    device = _create(client, admin_headers)
    response = client.post(f"{DEVICES}/{device['id']}/enrolmentLink", headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["id"] == device["id"] and body["displayName"] == "LAPTOP-1"
    assert body["url"].startswith(f"{services.settings.issuer}/devices/enrol?code=")
    assert body["expirationDateTime"] == "2026-01-01T09:15:00Z"
    code = body["url"].split("code=", 1)[1]
    assert code not in client.get(f"{DEVICES}/{device['id']}", headers=admin_headers).text

    page = client.get(body["url"].removeprefix(services.settings.issuer))
    assert page.status_code == 200 and "LAPTOP-1" in page.text

    client.patch(f"{DEVICES}/{device['id']}", headers=admin_headers, json={"accountEnabled": False})
    assert "disabled" in _error(client.post(f"{DEVICES}/{device['id']}/enrolmentLink", headers=admin_headers), 400)
    missing = client.post(f"{DEVICES}/4c299165-6e8f-4b45-a5ba-c5d250a707ff/enrolmentLink", headers=admin_headers)
    _error(missing, 404, "Request_ResourceNotFound")
