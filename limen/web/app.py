"""The ASGI application: Limen's sign-in UI, OpenID Connect endpoints and the Graph-compatible API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from limen.config import Settings, load_settings
from limen.domain.errors import ConfigurationError
from limen.service.context import Services, build_services
from limen.service.keys import ensure_signing_key
from limen.service.tenants import ensure_default_tenant
from limen.store import migrate
from limen.web.access_log import AccessLogMiddleware
from limen.web.graph.errors import install_graph_error_handlers
from limen.web.graph.router import router as graph_router

log = logging.getLogger("limen")

STATIC = Path(__file__).parent / "ui" / "static"


def create_app(services: Services) -> FastAPI:
    from limen.protocols.forward_auth.router import router as forward_auth_router
    from limen.protocols.oidc.router import router as oidc_router
    from limen.web.device.router import router as device_router
    from limen.web.ui.devices import router as device_enrolment_router
    from limen.web.ui.router import router as ui_router
    from limen.web.ui.router import routes as signin_routes
    from limen.web.ui.security_info import router as security_info_router
    from limen.web.ui.signin_steps import routes as step_routes

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not migrate.is_up_to_date(services.engine):
            raise ConfigurationError("The database schema is not up to date: run `limen db upgrade` first.")
        tenant = ensure_default_tenant(services)
        ensure_signing_key(services, tenant.id)
        yield

    app = FastAPI(
        title="Limen",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/v1.0/docs",
        openapi_url="/v1.0/openapi.json",
        redoc_url=None,
    )
    app.state.services = services
    app.add_middleware(AccessLogMiddleware)
    install_graph_error_handlers(app)
    # Routes match in order: the sign-in pages and OIDC endpoints (the hot paths) come before the
    # many admin API routes.
    app.router.routes.extend(signin_routes)
    app.router.routes.extend(step_routes)
    app.include_router(ui_router)
    app.include_router(security_info_router)
    app.include_router(oidc_router)
    app.include_router(forward_auth_router)
    app.include_router(device_router)
    app.include_router(device_enrolment_router)
    app.include_router(graph_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory limen.web.app:create_app_from_env` (one per worker process)."""
    settings: Settings = load_settings()
    return create_app(build_services(settings))
