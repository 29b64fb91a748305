"""`/v1.0/identity/conditionalAccess/...`: policies, named locations and authentication strengths.

Graph's paths, verbs and JSON: list (`{"value": [...]}`), create (201 with the object), get, update
(PATCH, 204) and delete (204). Validation errors are Graph's 400 with the JSON path of the first
problem in the message and every problem in `error.details` (`target` is the JSON path); a plan that
lacks Conditional Access answers 403.

Warnings (references to objects Limen does not know, normalised values) never fail a request. A
create returns them in the body as the instance annotation `@limen.warnings`, a list of
`{"target": <JSON path>, "message": ...}`; an update answers 204 with a `Limen-Warnings: <count>`
header, or, when the client sends `Prefer: return=representation`, 200 with the object and its
`@limen.warnings`. Headers carry only the count: a long list in a header would break proxies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from limen.domain.access.schema import Issue, PolicyInvalid
from limen.service import conditional_access as ca
from limen.service import what_if as what_if_service
from limen.service.policy_lint import api_warnings
from limen.store.db import transaction
from limen.web.deps import get_services, tenant_id_for
from limen.web.graph._body import json_object
from limen.web.graph.errors import GraphError, graph_error_response
from limen.web.graph.odata import bad_request, collection, entity, parse_select

router = APIRouter(prefix="/identity/conditionalAccess", tags=["conditional access"])

POLICIES = "identity/conditionalAccess/policies"
NAMED_LOCATIONS = "identity/conditionalAccess/namedLocations"
STRENGTHS = "identity/conditionalAccess/authenticationStrength/policies"

POLICY_PROPERTIES = frozenset(
    [
        "id",
        "displayName",
        "description",
        "createdDateTime",
        "modifiedDateTime",
        "state",
        "conditions",
        "grantControls",
        "sessionControls",
    ]
)
NAMED_LOCATION_PROPERTIES = frozenset(
    [
        "id",
        "displayName",
        "createdDateTime",
        "modifiedDateTime",
        "ipRanges",
        "isTrusted",
        "countriesAndRegions",
        "includeUnknownCountriesAndRegions",
        "countryLookupMethod",
        "compliantNetworkType",
    ]
)
STRENGTH_PROPERTIES = frozenset(
    [
        "id",
        "createdDateTime",
        "modifiedDateTime",
        "displayName",
        "description",
        "policyType",
        "requirementsSatisfied",
        "allowedCombinations",
        "combinationConfigurations",
    ]
)

WARNINGS_ANNOTATION = "@limen.warnings"
WARNINGS_HEADER = "Limen-Warnings"

T = TypeVar("T")


@contextmanager
def _graph_errors() -> Iterator[None]:
    try:
        yield
    except ca.PlanRequired as exc:
        raise GraphError(403, "Authorization_RequestDenied", exc.message) from None


def _invalid_response(error: PolicyInvalid) -> JSONResponse:
    response = graph_error_response(400, "Request_BadRequest", error.message)
    body = json.loads(bytes(response.body))
    body["error"]["details"] = [
        {"code": "invalidProperty" if issue.path else "invalidValue", "target": issue.path, "message": issue.message}
        for issue in error.errors
    ]
    return JSONResponse(status_code=400, content=body)


def _write(request: Request, action: Callable[[Any, str], T]) -> T | JSONResponse:
    """Run a write in one transaction; an invalid document answers 400 with every problem listed.

    The 400 is built after the transaction has rolled back, so nothing of the request remains.
    """
    services = get_services(request)
    try:
        with _graph_errors(), transaction(services.db) as db:
            return action(db, tenant_id_for(request))
    except PolicyInvalid as exc:
        return _invalid_response(exc)


Saved = tuple[dict[str, Any], tuple[Issue, ...]]


def _write_created(request: Request, entity_set: str, action: Callable[[Any, str], Saved]) -> Response:
    """`_write`, answered with the created entity (201), or the 400."""
    result = _write(request, action)
    return result if isinstance(result, Response) else _created(request, entity_set, *result)


def _write_updated(request: Request, entity_set: str, action: Callable[[Any, str], Saved]) -> Response:
    """`_write`, answered as a PATCH is (204, or the entity with `Prefer: return=representation`), or the 400."""
    result = _write(request, action)
    return result if isinstance(result, Response) else _updated(request, entity_set, *result)


def _warnings_json(warnings: Sequence[Issue]) -> list[dict[str, str]]:
    return [{"target": issue.path, "message": issue.message} for issue in warnings]


def _created(request: Request, entity_set: str, shape: dict[str, Any], warnings: Sequence[Issue]) -> JSONResponse:
    body = entity(request, entity_set, shape)
    if warnings:
        body[WARNINGS_ANNOTATION] = _warnings_json(warnings)
    return JSONResponse(status_code=201, content=body)


def _updated(request: Request, entity_set: str, shape: dict[str, Any], warnings: Sequence[Issue]) -> Response:
    headers = {WARNINGS_HEADER: str(len(warnings))} if warnings else {}
    if "return=representation" in request.headers.get("prefer", "").replace(" ", "").lower():
        body = entity(request, entity_set, shape)
        if warnings:
            body[WARNINGS_ANNOTATION] = _warnings_json(warnings)
        return JSONResponse(status_code=200, content=body, headers=headers)
    return Response(status_code=204, headers=headers)


def _refuse_paging(request: Request) -> None:
    for option in ("$top", "$skiptoken", "$filter"):
        if option in request.query_params:
            raise bad_request(
                f"The query option '{option}' is not supported on this collection (it has at most 195 items)."
            )


# -- policies ----------------------------------------------------------------------------------------


@router.get("/policies")
def list_policies(request: Request) -> dict[str, Any]:
    """Every policy of the tenant, with `grantControls.authenticationStrength` expanded as Graph does."""
    _refuse_paging(request)
    select = parse_select(request, POLICY_PROPERTIES, "microsoft.graph.conditionalAccessPolicy")
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        strengths = ca.strength_lookup(db, tenant_id)
        items = [ca.policy_json(row, strengths) for row in ca.list_policies(db, tenant_id)]
    return collection(request, POLICIES, items, select=select)


@router.post("/policies", status_code=201, response_model=None)
def create_policy(request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Create a policy; `id` and other server-set properties in the body are ignored."""
    now = get_services(request).clock.now()

    def action(db: Any, tenant_id: str) -> Saved:
        saved = ca.create_policy(db, tenant_id, body, now)
        warnings = (*saved.warnings, *api_warnings(db, tenant_id, {**saved.row.document, "state": saved.row.state}))
        return ca.policy_json(saved.row, ca.strength_lookup(db, tenant_id)), warnings

    return _write_created(request, POLICIES, action)


@router.get("/policies/{policy_id}")
def get_policy(policy_id: str, request: Request) -> dict[str, Any]:
    select = parse_select(request, POLICY_PROPERTIES, "microsoft.graph.conditionalAccessPolicy")
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    with services.db() as db:
        shape = ca.policy_json(ca.get_policy(db, tenant_id, policy_id), ca.strength_lookup(db, tenant_id))
    return entity(request, POLICIES, shape, select=select)


@router.patch("/policies/{policy_id}", status_code=204, response_model=None)
def update_policy(policy_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Change the given properties; nested objects merge, arrays are replaced."""
    now = get_services(request).clock.now()

    def action(db: Any, tenant_id: str) -> Saved:
        saved = ca.update_policy(db, tenant_id, policy_id, body, now)
        warnings = (*saved.warnings, *api_warnings(db, tenant_id, {**saved.row.document, "state": saved.row.state}))
        return ca.policy_json(saved.row, ca.strength_lookup(db, tenant_id)), warnings

    return _write_updated(request, POLICIES, action)


@router.delete("/policies/{policy_id}", status_code=204, response_model=None)
def delete_policy(policy_id: str, request: Request) -> Response:
    services = get_services(request)
    with transaction(services.db) as db:
        ca.delete_policy(db, tenant_id_for(request), policy_id)
    return Response(status_code=204)


# -- named locations ---------------------------------------------------------------------------------


@router.get("/namedLocations")
def list_named_locations(request: Request) -> dict[str, Any]:
    _refuse_paging(request)
    select = parse_select(request, NAMED_LOCATION_PROPERTIES, "microsoft.graph.namedLocation")
    services = get_services(request)
    with services.db() as db:
        items = [ca.named_location_json(row) for row in ca.list_named_locations(db, tenant_id_for(request))]
    return collection(request, NAMED_LOCATIONS, items, select=select)


@router.post("/namedLocations", status_code=201, response_model=None)
def create_named_location(request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Create an ipNamedLocation or countryNamedLocation (`@odata.type` says which)."""
    now = get_services(request).clock.now()

    def action(db: Any, tenant_id: str) -> Saved:
        saved = ca.create_named_location(db, tenant_id, body, now)
        return ca.named_location_json(saved.row), saved.warnings

    return _write_created(request, NAMED_LOCATIONS, action)


@router.get("/namedLocations/{location_id}")
def get_named_location(location_id: str, request: Request) -> dict[str, Any]:
    select = parse_select(request, NAMED_LOCATION_PROPERTIES, "microsoft.graph.namedLocation")
    services = get_services(request)
    with services.db() as db:
        shape = ca.named_location_json(ca.get_named_location(db, tenant_id_for(request), location_id))
    return entity(request, NAMED_LOCATIONS, shape, select=select)


@router.patch("/namedLocations/{location_id}", status_code=204, response_model=None)
def update_named_location(location_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    now = get_services(request).clock.now()

    def action(db: Any, tenant_id: str) -> Saved:
        saved = ca.update_named_location(db, tenant_id, location_id, body, now)
        return ca.named_location_json(saved.row), saved.warnings

    return _write_updated(request, NAMED_LOCATIONS, action)


@router.delete("/namedLocations/{location_id}", status_code=204, response_model=None)
def delete_named_location(location_id: str, request: Request) -> Response:
    """Delete a named location no policy uses; a trusted one must be un-trusted first."""
    services = get_services(request)
    with transaction(services.db) as db:
        ca.delete_named_location(db, tenant_id_for(request), location_id)
    return Response(status_code=204)


# -- authentication strengths ------------------------------------------------------------------------


@router.get("/authenticationStrength/policies")
def list_strengths(request: Request) -> dict[str, Any]:
    """The three built-in strengths and the tenant's custom ones."""
    _refuse_paging(request)
    select = parse_select(request, STRENGTH_PROPERTIES, "microsoft.graph.authenticationStrengthPolicy")
    services = get_services(request)
    with services.db() as db:
        items = ca.list_strengths(db, tenant_id_for(request))
    return collection(request, STRENGTHS, items, select=select)


@router.post("/authenticationStrength/policies", status_code=201, response_model=None)
def create_strength(request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    now = get_services(request).clock.now()

    def action(db: Any, tenant_id: str) -> Saved:
        saved = ca.create_strength(db, tenant_id, body, now)
        return ca.strength_json(saved.row), saved.warnings

    return _write_created(request, STRENGTHS, action)


@router.get("/authenticationStrength/policies/{strength_id}")
def get_strength(strength_id: str, request: Request) -> dict[str, Any]:
    select = parse_select(request, STRENGTH_PROPERTIES, "microsoft.graph.authenticationStrengthPolicy")
    services = get_services(request)
    with services.db() as db:
        shape = ca.get_strength(db, tenant_id_for(request), strength_id)
    return entity(request, STRENGTHS, shape, select=select)


@router.patch("/authenticationStrength/policies/{strength_id}", status_code=204, response_model=None)
def update_strength(strength_id: str, request: Request, body: dict[str, Any] = Depends(json_object)) -> Response:
    """Change a custom strength; the built-in ones are read-only."""
    now = get_services(request).clock.now()

    def action(db: Any, tenant_id: str) -> Saved:
        saved = ca.update_strength(db, tenant_id, strength_id, body, now)
        return ca.strength_json(saved.row), saved.warnings

    return _write_updated(request, STRENGTHS, action)


@router.delete("/authenticationStrength/policies/{strength_id}", status_code=204, response_model=None)
def delete_strength(strength_id: str, request: Request) -> Response:
    """Delete a custom strength no policy uses."""
    services = get_services(request)
    with transaction(services.db) as db:
        ca.delete_strength(db, tenant_id_for(request), strength_id)
    return Response(status_code=204)


@router.post("/evaluate")
def what_if(request: Request, body: dict[str, Any] = Depends(json_object)) -> dict[str, Any]:
    """What If: which policies apply to the described sign-in, and why the others do not."""
    results = what_if_service.evaluate_request(get_services(request), tenant_id_for(request), body)
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)",
        "value": results,
    }
