"""What every sender is: one method that sends or raises DeliveryFailed."""

from __future__ import annotations

from typing import Protocol

from limen.domain.errors import LimenError
from limen.domain.methods import email, sms


class DeliveryFailed(LimenError):
    """A provider refused a message or could not be reached.

    `message` is for operators (provider, status, provider error code; the destination masked, never
    the code or the text); `user_message` is what the person trying to sign in may be told.
    """

    code = "deliveryFailed"
    user_message = "We couldn't send the code right now. Try again in a moment, or use another method."

    def __init__(self, channel: str, destination: str, detail: str) -> None:
        self.channel = channel
        self.masked_destination = masked(channel, destination)
        self.detail = detail
        super().__init__(f"Could not send {channel} to {self.masked_destination}: {detail}")


class SmsSender(Protocol):
    def send_sms(self, to: str, body: str) -> None:
        """Send `body` to `to` (E.164, "+15551234567"), or raise DeliveryFailed."""
        ...


class EmailSender(Protocol):
    def send_email(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text message to `to`, or raise DeliveryFailed."""
        ...


def masked(channel: str, destination: str) -> str:
    """The destination as logs may show it ("+1 XXXXXXXX67", "ad*****@contoso.com")."""
    return sms.mask(destination) if channel == "sms" else email.mask(destination)
