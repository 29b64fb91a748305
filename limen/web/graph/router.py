"""All Graph-compatible routes, mounted at /v1.0 and guarded by the admin token."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from limen.web.graph import applications, conditional_access, devices, groups, methods, policies, roles, users
from limen.web.graph.auth import require_admin

router = APIRouter(prefix="/v1.0", dependencies=[Depends(require_admin)])
router.include_router(users.router)
router.include_router(groups.router)
router.include_router(roles.router)
router.include_router(applications.router)
router.include_router(methods.router)
router.include_router(policies.router)
router.include_router(conditional_access.router)
router.include_router(devices.router)
