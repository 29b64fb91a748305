"""Domain errors. Each has a stable `code`; the web layer maps codes to HTTP statuses and messages."""

from __future__ import annotations


class LimenError(Exception):
    code: str = "limenError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ValidationFailed(LimenError):
    """Input that breaks a documented rule; the message says which and why."""

    code = "invalidRequest"


class NotFound(LimenError):
    code = "Request_ResourceNotFound"


class Conflict(LimenError):
    code = "Request_MultipleObjectsWithSameKeyValue"


class ConfigurationError(LimenError):
    code = "configurationError"
