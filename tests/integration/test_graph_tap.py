"""`/v1.0/users/{id}/authentication/temporaryAccessPassMethods` over HTTP: create (the only response with
the pass), list, get, delete, replacement of the previous pass, and Graph's errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from limen.domain.clock import FrozenClock
from limen.service.context import Services
from limen.service.methods import tap as tap_service
from limen.store.db import transaction
from limen.store.models import User

UPN = "adele.vance@contoso.test"


def _path(key: str = UPN) -> str:
    return f"/v1.0/users/{key}/authentication/temporaryAccessPassMethods"


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    message: str = error["message"]
    return message


def test_create_shows_the_pass_once_and_reads_never_show_it(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str, user: User
) -> None:
    created = client.post(_path(), headers=admin_headers, json={"lifetimeInMinutes": 480, "isUsableOnce": True})
    assert created.status_code == 201, created.text
    body = created.json()
    value = body["temporaryAccessPass"]
    assert isinstance(value, str) and len(value) == 8
    assert body["@odata.context"].endswith(
        f"/v1.0/$metadata#users('{UPN}')/authentication/temporaryAccessPassMethods/$entity"
    )
    assert body["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
    assert (body["lifetimeInMinutes"], body["isUsableOnce"], body["isUsable"]) == (480, True, True)
    assert (body["createdDateTime"], body["startDateTime"]) == ("2026-01-01T09:00:00Z", "2026-01-01T09:00:00Z")
    assert body["methodUsabilityReason"] == "EnabledByPolicy"

    listed = client.get(_path(user.id), headers=admin_headers).json()
    [item] = listed["value"]
    assert item["id"] == body["id"] and item["temporaryAccessPass"] is None
    one = client.get(f"{_path()}/{body['id']}", headers=admin_headers).json()
    assert one["temporaryAccessPass"] is None and one["lifetimeInMinutes"] == 480
    assert value not in client.get(_path(), headers=admin_headers).text

    with transaction(services.db) as db:
        assert tap_service.check(db, services, tenant_id, user.id, value) is not None
    spent = client.get(f"{_path()}/{body['id']}", headers=admin_headers).json()
    assert (spent["isUsable"], spent["methodUsabilityReason"]) == (False, "OneTimeUsed")


def test_a_new_pass_replaces_the_old_and_delete_ends_it(
    client: TestClient, admin_headers: dict[str, str], services: Services, tenant_id: str, user: User
) -> None:
    first = client.post(_path(), headers=admin_headers, json={}).json()
    second = client.post(_path(), headers=admin_headers, json={"startDateTime": "2026-01-02T09:00:00Z"}).json()
    assert first["id"] != second["id"]
    assert [m["id"] for m in client.get(_path(), headers=admin_headers).json()["value"]] == [second["id"]]
    assert (second["isUsable"], second["methodUsabilityReason"]) == (False, "NotYetValid")
    _error(client.get(f"{_path()}/{first['id']}", headers=admin_headers), 404, "Request_ResourceNotFound")

    assert client.delete(f"{_path()}/{second['id']}", headers=admin_headers).status_code == 204
    assert client.get(_path(), headers=admin_headers).json()["value"] == []
    _error(client.delete(f"{_path()}/{second['id']}", headers=admin_headers), 404, "Request_ResourceNotFound")
    with transaction(services.db) as db:
        assert tap_service.check(db, services, tenant_id, user.id, second["temporaryAccessPass"]) is None


def test_expiry_shows_in_the_shape(
    client: TestClient, admin_headers: dict[str, str], clock: FrozenClock, user: User
) -> None:
    created = client.post(_path(), headers=admin_headers, json={"lifetimeInMinutes": 10}).json()
    clock.advance(timedelta(minutes=10))
    later = client.get(f"{_path()}/{created['id']}", headers=admin_headers).json()
    assert (later["isUsable"], later["methodUsabilityReason"]) == (False, "Expired")


def test_bad_bodies_and_unknown_users_get_graph_errors(
    client: TestClient, admin_headers: dict[str, str], user: User
) -> None:
    for body, fragment in (
        ({"lifetimeInMinutes": 5}, "between 10 and 43200"),
        ({"lifetimeInMinutes": "60"}, "Invalid value for property 'lifetimeInMinutes'"),
        ({"isUsableOnce": "yes"}, "Invalid value for property 'isUsableOnce'"),
        ({"startDateTime": "next week"}, "is not an ISO 8601 time"),
        ({"startDateTime": "2025-01-01T00:00:00Z"}, "in the past"),
        ({"temporaryAccessPass": "MyOwnPass1"}, "does not exist on type"),
    ):
        assert fragment in _error(client.post(_path(), headers=admin_headers, json=body), 400, "Request_BadRequest")
    assert client.get(_path(), headers=admin_headers).json()["value"] == []
    _error(client.post(_path("nobody@contoso.test"), headers=admin_headers, json={}), 404, "Request_ResourceNotFound")
    assert client.post(_path(), json={}).status_code == 401
