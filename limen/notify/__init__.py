"""Senders of verification codes: text messages and e-mail.

`send` turns a method's `Delivery` into the message people receive and hands it to the sender
configured for its channel (`Services.sms_sender`, `Services.email_sender`, built by `build_senders`
from LIMEN_SMS_PROVIDER / LIMEN_EMAIL_PROVIDER). Failures raise DeliveryFailed. Logs name the channel
and the masked destination, never the code or the text.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from limen.config import Settings
from limen.domain.clock import Clock
from limen.domain.methods.base import Delivery
from limen.notify.base import DeliveryFailed, EmailSender, SmsSender, masked
from limen.notify.outbox import OutboxEmail, OutboxSms
from limen.notify.smtp import SmtpEmail
from limen.notify.twilio import TwilioSms

if TYPE_CHECKING:  # Services holds the senders built here; importing it for real would be circular.
    from limen.service.context import Services

__all__ = [
    "DeliveryFailed",
    "EmailSender",
    "SmsSender",
    "build_senders",
    "email_text",
    "send",
    "sms_text",
]

log = logging.getLogger("limen.notify")


def send(services: Services, delivery: Delivery, tenant_name: str) -> None:
    """Send a code by text message or e-mail; DeliveryFailed if the provider refuses or is unreachable.

    A failure is logged here (provider, status, masked destination), since the person is only told
    "couldn't send" and the operator needs to know why.
    """
    try:
        if delivery.channel == "sms":
            body = sms_text(delivery, tenant_name, services.settings.issuer)
            services.sms_sender.send_sms(delivery.destination, body)
        elif delivery.channel == "email":
            subject, body = email_text(delivery, tenant_name)
            services.email_sender.send_email(delivery.destination, subject, body)
        else:
            raise ValueError(f"no sender for channel {delivery.channel!r}")
    except DeliveryFailed as exc:
        log.warning("%s", exc.message)
        raise
    log.info("Sent a %s verification code to %s", delivery.channel, masked(delivery.channel, delivery.destination))


def _minutes(count: int) -> str:
    return "1 minute" if count == 1 else f"{count} minutes"


def _one_line(text: str) -> str:
    # A tenant name goes into a header and a one-line text: a line break must not start a new header.
    return " ".join(text.split())


def sms_text(delivery: Delivery, tenant_name: str, issuer: str) -> str:
    """ "123456 is your Contoso verification code. It expires in 5 minutes."

    The code comes first so that phones can offer it from the notification. With an https issuer a
    last line "@login.contoso.com #123456" follows (origin-bound one-time codes, WebOTP): browsers
    then fill the code in only on Limen's own pages, never on a look-alike site.
    """
    text = f"{delivery.code} is your {_one_line(tenant_name)} verification code. It expires in {_minutes(delivery.valid_minutes)}."
    parts = urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname and parts.port is None:
        text += f"\n\n@{parts.hostname} #{delivery.code}"
    return text


def email_text(delivery: Delivery, tenant_name: str) -> tuple[str, str]:
    """Subject and plain-text body. The subject does not carry the code: it shows on lock screens."""
    name = _one_line(tenant_name)
    body = (
        f"{delivery.code} is your {name} verification code. It expires in {_minutes(delivery.valid_minutes)}.\n"
        "\n"
        "If you didn't ask for this code, someone may be trying to sign in as you or to add this address to "
        "their account: don't give the code to anyone, and consider changing your password.\n"
    )
    return f"Your {name} verification code", body


def build_senders(settings: Settings, clock: Clock) -> tuple[SmsSender, EmailSender]:
    """The senders LIMEN_SMS_PROVIDER and LIMEN_EMAIL_PROVIDER select (config.py has checked them)."""
    sms: SmsSender
    if settings.sms_provider == "twilio":
        assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from
        sms = TwilioSms(
            account_sid=settings.twilio_account_sid,
            auth_token=str(settings.twilio_auth_token),
            sender=settings.twilio_from,
            base_url=settings.twilio_base_url,
        )
    else:
        sms = OutboxSms(settings.data_dir, clock)
    email: EmailSender
    if settings.email_provider == "smtp":
        assert settings.smtp_host and settings.email_from
        email = SmtpEmail(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            sender=settings.email_from,
            clock=clock,
            username=settings.smtp_username,
            password=str(settings.smtp_password) if settings.smtp_password is not None else None,
        )
    else:
        email = OutboxEmail(settings.data_dir, clock, settings.email_from)
    return sms, email
