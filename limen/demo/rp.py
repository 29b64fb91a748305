"""A minimal OIDC relying party (Authlib's Starlette client) that shows who signed in and the ID token.

It is what a newcomer's own application would do: discovery, authorization code with PKCE and
nonce, ID token validation against JWKS, userinfo, RP-initiated logout. Tests run it for real.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route


@dataclass(frozen=True)
class RelyingPartyConfig:
    issuer: str
    client_id: str
    client_secret: str
    base_url: str  # where this app is reachable, e.g. http://127.0.0.1:8001
    scope: str = "openid profile email offline_access"


_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}"
    "pre{background:#f4f4f4;padding:1rem;overflow:auto}a.button{background:#0b5cad;color:#fff;"
    "padding:.5rem 1.2rem;border-radius:4px;text-decoration:none}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>",
        status_code=status,
    )


def create_rp_app(config: RelyingPartyConfig, *, transport: Any = None) -> Starlette:
    oauth = OAuth()
    client_kwargs: dict[str, Any] = {"scope": config.scope, "code_challenge_method": "S256"}
    if transport is not None:
        client_kwargs["transport"] = transport
    oauth.register(
        "limen",
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=f"{config.issuer}/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )
    client = oauth.create_client("limen")

    async def home(request: Request) -> Response:
        user = request.session.get("user")
        if not user:
            return _page(
                "Demo application",
                '<p>You are not signed in.</p><p><a class=button href="/login">Sign in with Limen</a></p>',
            )
        claims = json.dumps(request.session.get("id_token_claims", {}), indent=2, sort_keys=True)
        info = json.dumps(request.session.get("userinfo", {}), indent=2, sort_keys=True)
        return _page(
            "Demo application",
            f"<p>Signed in as <strong>{html.escape(str(user.get('name', '')))}</strong> "
            f"(<code>{html.escape(str(user.get('preferred_username', '')))}</code>).</p>"
            f"<h2>ID token claims</h2><pre id=claims>{html.escape(claims)}</pre>"
            f"<h2>userinfo</h2><pre id=userinfo>{html.escape(info)}</pre>"
            '<p><a class=button href="/logout">Sign out</a></p>',
        )

    async def login(request: Request) -> Response:
        return await client.authorize_redirect(request, f"{config.base_url}/callback")  # type: ignore[no-any-return]

    async def callback(request: Request) -> Response:
        try:
            token = await client.authorize_access_token(request)  # validates the ID token against JWKS
        except OAuthError as exc:
            return _page(
                "Sign-in failed", f"<p>{html.escape(exc.error or '')}: {html.escape(exc.description or '')}</p>", 400
            )
        claims = dict(token["userinfo"])
        request.session["id_token_claims"] = claims
        request.session["userinfo"] = dict(await client.userinfo(token=token))
        request.session["id_token"] = token["id_token"]
        request.session["user"] = {"name": claims.get("name"), "preferred_username": claims.get("preferred_username")}
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        metadata = await client.load_server_metadata()
        hint = request.session.get("id_token")
        request.session.clear()
        params = {"post_logout_redirect_uri": f"{config.base_url}/", "client_id": config.client_id}
        if hint:
            params["id_token_hint"] = hint
        return RedirectResponse(f"{metadata['end_session_endpoint']}?{urlencode(params)}", status_code=303)

    return Starlette(
        routes=[Route("/", home), Route("/login", login), Route("/callback", callback), Route("/logout", logout)],
        middleware=[Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), session_cookie="demo_rp")],
    )
