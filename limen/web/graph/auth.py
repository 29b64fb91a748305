"""Admin API authentication: until admin sign-in and app permissions exist, a bearer token from config."""

from __future__ import annotations

from fastapi import Request

from limen.crypto.tokens import constant_time_equals
from limen.web.deps import get_services
from limen.web.graph.errors import GraphError


def require_admin(request: Request) -> None:
    """FastAPI dependency: the request must carry `Authorization: Bearer <LIMEN_ADMIN_TOKEN>`."""
    token = get_services(request).settings.admin_token
    if token is None:
        raise GraphError(503, "ServiceNotAvailable", "The admin API is disabled: set LIMEN_ADMIN_TOKEN to enable it.")
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    if not constant_time_equals(presented.strip(), str(token)):
        raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
