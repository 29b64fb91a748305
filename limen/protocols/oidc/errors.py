"""OAuth 2.0 error responses (RFC 6749 §4.1.2.1 and §5.2)."""

from __future__ import annotations

from typing import Any


class OAuthError(Exception):
    """An error the client may see. `redirectable` is False when the redirect URI cannot be trusted.

    `error_codes` are AADSTS numbers (SPEC.md §8.2), sent as Entra does: clients written for Entra key
    off them, and the description then starts with "AADSTSnnnnn:".
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        redirectable: bool = True,
        error_codes: tuple[int, ...] = (),
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.redirectable = redirectable
        self.error_codes = error_codes

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "error_description": self.description}
        if self.error_codes:
            body["error_codes"] = list(self.error_codes)
        return body
