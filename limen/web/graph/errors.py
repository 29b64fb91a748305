"""Graph-style errors: `{"error": {"code", "message"}}` with Graph's status codes and codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from limen.domain.errors import Conflict, LimenError, NotFound, ValidationFailed

GRAPH_PREFIX = "/v1.0"


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def graph_error_response(status: int, code: str, message: str) -> JSONResponse:
    request_id = str(uuid.uuid4())
    return JSONResponse(
        status_code=status,
        content={
            "error": {
                "code": code,
                "message": message,
                "innerError": {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id},
            }
        },
    )


def _status_for(error: LimenError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 400  # Graph answers duplicate keys with 400 Request_MultipleObjectsWithSameKeyValue.
    if isinstance(error, ValidationFailed):
        return 400
    return 400


def install_graph_error_handlers(app: FastAPI) -> None:
    """Errors under /v1.0 answer in Graph's shape; other paths keep FastAPI's default handling."""

    @app.exception_handler(GraphError)
    async def _graph_error(_request: Request, exc: GraphError) -> JSONResponse:
        return graph_error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(LimenError)
    async def _limen_error(request: Request, exc: LimenError) -> JSONResponse:
        code = exc.code if exc.code != "invalidRequest" else "Request_BadRequest"
        return graph_error_response(_status_for(exc), code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"Invalid request: {where}: {first.get('msg', 'malformed')}" if where else "Invalid request body."
        return graph_error_response(400, "Request_BadRequest", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if request.url.path.startswith(GRAPH_PREFIX):
            code = {404: "Request_ResourceNotFound", 405: "Request_BadRequest"}.get(exc.status_code, "generalException")
            message = "Resource not found for the segment." if exc.status_code == 404 else str(exc.detail)
            return graph_error_response(exc.status_code, code, message)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
