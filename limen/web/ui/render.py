"""Jinja2 rendering with autoescape and security headers on every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

# The environment directly, not Starlette's Jinja2Templates: the pages use no `request` or `url_for`,
# and the wrapper's context processing costs a measurable share of a sign-in (bench/signin_throughput.py).
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True,
    auto_reload=False,
)


def qr_svg(text: str) -> Markup:
    """A QR code as inline SVG (the page's CSP allows no data: images and no scripts)."""
    # segno writes only the QR modules as paths; the text is encoded in them, never copied into the markup.
    return Markup(segno.make(str(text), error="m").svg_inline(scale=4, border=2, dark="#111", light="#fff"))  # noqa: S704


ENV.filters["qr"] = qr_svg

SECURITY_HEADERS = {
    # No framing (clickjacking), no inline script, no referrer leaking flow ids or codes.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def page(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    del request  # Kept in the signature: every caller has one, and a template may need it again.
    html = ENV.get_template(template).render(context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
