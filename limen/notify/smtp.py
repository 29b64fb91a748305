"""E-mail through an SMTP server (a relay or a provider's submission endpoint), with the standard library.

TLS modes: `starttls` (port 587: plain connection upgraded before anything else is said, and refused
if the server cannot upgrade, so an attacker on the path cannot strip it), `tls` (port 465: TLS from
the first byte) and `none` (a relay on the same host or network). Certificates are verified against
the system's trust store.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from limen.domain.clock import Clock
from limen.notify.base import DeliveryFailed, masked

log = logging.getLogger("limen.notify")

TIMEOUT_SECONDS = 10.0
TLS_MODES = ("none", "starttls", "tls")


class SmtpEmail:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: str,
        sender: str,
        clock: Clock,
        username: str | None = None,
        password: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {TLS_MODES}, not {tls!r}")
        self.host, self.port, self.tls = host, port, tls
        self._sender = sender
        self._clock = clock
        self._credentials = (username, password) if username is not None and password is not None else None
        self._timeout = timeout
        self._context = ssl_context or ssl.create_default_context()

    def message(self, to: str, subject: str, body: str) -> EmailMessage:
        """The message as it will be sent (headers, plain-text body)."""
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(self._clock.now())
        # With an explicit domain make_msgid does not ask DNS for this host's name on every message.
        domain = parseaddr(self._sender)[1].rpartition("@")[2] or "limen.invalid"
        message["Message-ID"] = make_msgid(domain=domain)
        # RFC 3834: out-of-office robots must not answer a message no one will read.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        return message

    def send_email(self, to: str, subject: str, body: str) -> None:
        message = self.message(to, subject, body)
        try:
            with self._connect() as smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self._context)
                if self._credentials is not None:
                    smtp.login(*self._credentials)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(str(code) for code, _ in exc.recipients.values())
            raise DeliveryFailed("email", to, f"{self._where} refused the recipient ({codes})") from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed("email", to, f"{self._where} answered {exc.smtp_code}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed("email", to, f"{self._where}: {exc}") from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryFailed("email", to, f"{self._where} failed ({type(exc).__name__}: {exc})") from exc
        log.info("E-mail to %s accepted by %s", masked("email", to), self._where)

    @property
    def _where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout, context=self._context)
        return smtplib.SMTP(self.host, self.port, timeout=self._timeout)
