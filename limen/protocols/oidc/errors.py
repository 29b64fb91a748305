"""OAuth 2.0 error responses (RFC 6749 §4.1.2.1 and §5.2)."""

from __future__ import annotations


class OAuthError(Exception):
    """An error the client may see. `redirectable` is False when the redirect URI cannot be trusted."""

    def __init__(self, error: str, description: str, *, status: int = 400, redirectable: bool = True) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.redirectable = redirectable

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}
