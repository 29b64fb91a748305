"""/authenticator/v1: enrol a device, long-poll its push requests, answer them (docs/authenticator.md).

Thin: parse and check the JSON, call limen.service.methods.push in a worker thread, map its
refusals to statuses. Errors are `{"error": {"code", "message"}}`; a missing or bad device token is
401 with `WWW-Authenticate: Bearer` (RFC 6750).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from limen.domain.methods import push as method
from limen.service.methods import push as service
from limen.service.signin import RequestMeta
from limen.web.deps import client_ip, get_services, tenant_id_for

router = APIRouter(prefix="/authenticator/v1", include_in_schema=False)

MAX_BODY_BYTES = 8 * 1024
MAX_WAIT_SECONDS = 25
#: How often a long poll looks at the database. Short enough that a request shows within a second
#: of the sign-in page asking; long enough that a waiting device costs next to nothing.
POLL_SECONDS = 0.5

_STATUS = {
    service.Problem.INVALID_CODE: 400,
    service.Problem.INVALID_FIELD: 422,
    service.Problem.NOT_FOUND: 404,
    service.Problem.BAD_SIGNATURE: 400,
    service.Problem.ALREADY_ANSWERED: 409,
    service.Problem.EXPIRED: 410,
}
# Nothing the device API returns may be cached: tokens, and requests that expire within a minute.
_NO_STORE = {"Cache-Control": "no-store"}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers={**_NO_STORE, **(headers or {})}
    )


class _BadRequest(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


async def _json_object(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
        raise _BadRequest(error(415, "unsupportedMediaType", "Send the body as JSON (Content-Type: application/json)."))
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest(error(413, "bodyTooLarge", f"The body may be at most {MAX_BODY_BYTES} bytes."))
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest(error(400, "badRequest", "The body is not valid JSON.")) from None
    if not isinstance(value, dict):
        raise _BadRequest(error(400, "badRequest", "The body must be a JSON object."))
    return value


def _string(body: dict[str, Any], name: str, *, max_length: int, required: bool = True) -> str:
    value = body.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        what = "a non-empty string" if required else "a string"
        raise _BadRequest(error(422, "invalidField", f"{name} must be {what} of at most {max_length} characters."))
    return value


def _meta(request: Request) -> RequestMeta:
    return RequestMeta(ip_address=client_ip(request), user_agent=request.headers.get("user-agent", "")[:512])


def _unauthorised(presented: bool) -> JSONResponse:
    challenge = 'Bearer realm="limen-authenticator"'
    if presented:
        challenge += ', error="invalid_token"'
    message = (
        "The device token is not valid: the device was removed or its account disabled. Enrol the device again."
        if presented
        else "Send the device token from enrolment as 'Authorization: Bearer <deviceToken>'."
    )
    return error(401, "invalidToken" if presented else "unauthenticated", message, {"WWW-Authenticate": challenge})


async def _device(request: Request) -> service.Device | JSONResponse:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _unauthorised(presented=False)
    device = await run_in_threadpool(service.authenticate, get_services(request), tenant_id_for(request), token)
    return _unauthorised(presented=True) if device is None else device


def _refused(refused: service.Refused) -> JSONResponse:
    return error(_STATUS[refused.problem], refused.problem.value, refused.message)


@router.post("/enrol")
async def enrol(request: Request) -> JSONResponse:
    try:
        body = await _json_object(request)
        code = _string(body, "code", max_length=128).strip()
        device_name = _string(body, "deviceName", max_length=256)
        platform = _string(body, "platform", max_length=64)
    except _BadRequest as bad:
        return bad.response
    public_key = body.get("publicKey")
    if not isinstance(public_key, dict):
        return error(422, "invalidField", 'publicKey must be a JWK object: {"kty": "EC", "crv": "P-256", "x", "y"}.')
    result = await run_in_threadpool(
        service.enrol,
        get_services(request),
        tenant_id_for(request),
        code,
        public_key,
        device_name,
        platform,
        _meta(request),
    )
    if isinstance(result, service.Refused):
        return _refused(result)
    return JSONResponse(
        {
            "deviceId": result.device_id,
            "deviceToken": result.device_token,
            "userId": result.user_id,
            "userPrincipalName": result.user_principal_name,
            "tenantName": result.tenant_name,
        },
        status_code=201,
        headers=_NO_STORE,
    )


@router.get("/requests")
async def requests(request: Request) -> JSONResponse:
    device = await _device(request)
    if isinstance(device, JSONResponse):
        return device
    raw_wait = request.query_params.get("wait", "0").strip()
    if not raw_wait.isdigit() or int(raw_wait) > MAX_WAIT_SECONDS:
        return error(422, "invalidField", f"wait must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}.")
    services = get_services(request)
    tenant_id = tenant_id_for(request)
    # The wait is real elapsed time, not the injected clock: it bounds how long this connection is held,
    # whatever time the business rules think it is.
    deadline = time.monotonic() + int(raw_wait)
    while True:
        pending = await run_in_threadpool(service.pending_requests, services, tenant_id, device)
        if pending or time.monotonic() >= deadline or await request.is_disconnected():
            return JSONResponse({"value": [p.to_json() for p in pending]}, headers=_NO_STORE)
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


@router.post("/requests/{request_id}")
async def answer(request: Request, request_id: str) -> JSONResponse:
    device = await _device(request)
    if isinstance(device, JSONResponse):
        return device
    try:
        body = await _json_object(request)
        decision = _string(body, "decision", max_length=16)
        number = _string(body, "number", max_length=8, required=decision == "approve")
        signature = _string(body, "signature", max_length=256)
    except _BadRequest as bad:
        return bad.response
    if decision not in method.DECISIONS:
        return error(422, "invalidField", "decision must be one of: approve, deny, report.")
    if decision == "approve" and method.normalise_number(number) is None:
        return error(422, "invalidField", "number must be the two-digit number shown on the sign-in page (10-99).")
    result = await run_in_threadpool(
        service.answer_request,
        get_services(request),
        tenant_id_for(request),
        device,
        request_id,
        decision,
        number,
        signature,
        _meta(request),
    )
    if isinstance(result, service.Refused):
        return _refused(result)
    return JSONResponse({"id": result.request_id, "decision": result.decision}, status_code=202, headers=_NO_STORE)
