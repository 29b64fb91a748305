"""Request-scoped access to the process-wide Services object."""

from __future__ import annotations

from fastapi import Request

from limen.service.context import Services
from limen.service.tenants import default_tenant_id


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def client_ip(request: Request) -> str:
    # uvicorn's --proxy-headers/--forwarded-allow-ips already rewrote the client for trusted proxies.
    return request.client.host if request.client else "unknown"


def tenant_id_for(request: Request) -> str:
    """The tenant a request belongs to. One deployment serves its default tenant at the root URL."""
    return default_tenant_id(get_services(request))
