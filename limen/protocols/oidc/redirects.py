"""Building the redirect back to the client after authorization (success or error)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from limen.domain.session import CompletedMethod
from limen.protocols.oidc.authorize import AuthorizeRequest
from limen.protocols.oidc.tokens import issue_code
from limen.service.context import Services
from limen.store.db import transaction


def with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def success_redirect(
    services: Services,
    tenant_id: str,
    request: AuthorizeRequest,
    *,
    user_id: str,
    session_id: str,
    methods: tuple[CompletedMethod, ...],
) -> str:
    if request.device_authorization is not None:
        # The sign-in of a device authorization (RFC 8628): no code for anyone. Back to Limen's own
        # confirmation page (limen.protocols.oidc.device_pages), where the person approves the device.
        # Only ever a path on Limen itself: this branch must never become an open redirect.
        if not request.redirect_uri.startswith("/device/"):
            raise ValueError("a device authorization returns to /device/ only")
        return request.redirect_uri
    with transaction(services.db) as db:
        code = issue_code(
            db, services, tenant_id=tenant_id, request=request, user_id=user_id, session_id=session_id, methods=methods
        )
    # RFC 9207: `iss` lets the client detect mix-up attacks between several providers.
    return with_query(request.redirect_uri, {"code": code, "state": request.state, "iss": services.settings.issuer})


def error_redirect(services: Services, request: AuthorizeRequest, error: str, description: str) -> str:
    return with_query(
        request.redirect_uri,
        {"error": error, "error_description": description, "state": request.state, "iss": services.settings.issuer},
    )
