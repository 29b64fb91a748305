"""The SMTP sender against a real SMTP server (aiosmtpd) on 127.0.0.1: the message, STARTTLS with
certificate checks and login only over TLS, implicit TLS, and refusals turned into DeliveryFailed."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from limen import notify
from limen.config import load_settings
from limen.domain.clock import FrozenClock
from limen.domain.methods.base import Delivery
from limen.notify.smtp import SmtpEmail
from limen.service.context import Services
from tests.conftest import make_env
from tests.support.live import free_port

SENDER = "Contoso sign-in <no-reply@contoso.test>"


@dataclass
class Mailbox:
    """What the server accepted, and who logged in."""

    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse_recipients: bool = False

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.messages.append((envelope, email.message_from_bytes(raw)))
        return "250 Message accepted"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> Any:
        if isinstance(auth_data, LoginPassword) and auth_data.password == b"correct horse":
            self.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts this certificate only: verification stays on, as in production."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(folder / "cert.pem", folder / "key.pem")


@contextmanager
def smtp_server(mailbox: Mailbox, **options: Any) -> Iterator[int]:
    """aiosmtpd on 127.0.0.1 (port 0 does not work with its Controller, so a free port is picked)."""
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=mailbox.authenticate, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _sender(port: int, tls: str, **options: Any) -> SmtpEmail:
    return SmtpEmail(host="127.0.0.1", port=port, tls=tls, sender=SENDER, clock=FrozenClock(), **options)


def test_a_plain_message_arrives_with_its_headers_and_no_code_in_the_subject(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, auth_require_tls=True) as port:
        settings = load_settings(
            make_env(
                tmp_path,
                database_url,
                LIMEN_SMTP_HOST="127.0.0.1",
                LIMEN_SMTP_PORT=str(port),
                LIMEN_SMTP_TLS="none",
                LIMEN_EMAIL_FROM=SENDER,
            )
        )
        _, services.email_sender = notify.build_senders(settings, services.clock)
        notify.send(services, Delivery("email", "adele@contoso.test", "04291733", 10), "Contoso")
    [(envelope, message)] = mailbox.messages
    assert envelope.mail_from == "no-reply@contoso.test" and envelope.rcpt_tos == ["adele@contoso.test"]
    assert message["From"] == SENDER and message["To"] == "adele@contoso.test"
    assert message["Subject"] == "Your Contoso verification code"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] == "Thu, 01 Jan 2026 09:00:00 +0000"  # the injected clock, not the wall clock
    assert message["Message-ID"].endswith("@contoso.test>")
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert body.decode().startswith("04291733 is your Contoso verification code. It expires in 10 minutes.")


def test_starttls_with_a_trusted_certificate_then_login(certificate: Certificate) -> None:
    mailbox = Mailbox()
    options = {"tls_context": certificate.server_context(), "require_starttls": True, "auth_require_tls": True}
    with smtp_server(mailbox, **options) as port:
        _sender(
            port, "starttls", username="limen", password="correct horse", ssl_context=certificate.client_context()
        ).send_email("adele@contoso.test", "Subject", "Body")
    assert mailbox.logins == ["limen"] and len(mailbox.messages) == 1


def test_starttls_checks_the_certificate(certificate: Certificate) -> None:
    mailbox = Mailbox()
    server = smtp_server(mailbox, tls_context=certificate.server_context(), require_starttls=True)
    # The system trust store does not know this self-signed certificate.
    with server as port, pytest.raises(notify.DeliveryFailed, match="SSLCertVerificationError"):
        _sender(port, "starttls").send_email("adele@contoso.test", "Subject", "Body")
    assert mailbox.messages == []


def test_starttls_is_never_skipped_when_the_server_does_not_offer_it() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port, pytest.raises(notify.DeliveryFailed, match="STARTTLS"):
        _sender(port, "starttls").send_email("adele@contoso.test", "Subject", "Body")
    assert mailbox.messages == []


def test_implicit_tls(certificate: Certificate) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, ssl_context=certificate.server_context(), auth_require_tls=False) as port:
        _sender(
            port, "tls", username="limen", password="correct horse", ssl_context=certificate.client_context()
        ).send_email("adele@contoso.test", "Subject", "Body")
    assert mailbox.logins == ["limen"] and len(mailbox.messages) == 1


def test_a_wrong_password_or_a_refused_recipient_is_delivery_failed_without_the_address(
    certificate: Certificate,
) -> None:
    mailbox = Mailbox()
    options = {"tls_context": certificate.server_context(), "auth_require_tls": True}
    with smtp_server(mailbox, **options) as port:
        wrong = _sender(port, "starttls", username="limen", password="guess", ssl_context=certificate.client_context())
        with pytest.raises(notify.DeliveryFailed, match="answered 535") as caught:
            wrong.send_email("adele@contoso.test", "Subject", "Body")
        assert "adele@contoso.test" not in caught.value.message and "ad*****@contoso.test" in caught.value.message
        mailbox.refuse_recipients = True
        right = _sender(port, "starttls", ssl_context=certificate.client_context())
        with pytest.raises(notify.DeliveryFailed, match="refused the recipient"):
            right.send_email("adele@contoso.test", "Subject", "Body")
    assert mailbox.messages == []


def test_a_server_that_is_not_there_is_delivery_failed() -> None:
    with pytest.raises(notify.DeliveryFailed, match="ConnectionRefusedError"):
        _sender(free_port(), "none").send_email("adele@contoso.test", "Subject", "Body")


def test_the_outbox_keeps_messages_in_a_private_file(services: Services) -> None:
    notify.send(services, Delivery("email", "adele@contoso.test", "55501234", 10), "Contoso")
    notify.send(services, Delivery("sms", "+15551234567", "123456", 5), "Contoso")
    folder = services.settings.data_dir / "outbox"
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in ("email.jsonl", "sms.jsonl"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600
    [mail] = notify.outbox.read_outbox(folder / "email.jsonl")
    assert mail["to"] == "adele@contoso.test" and mail["subject"] == "Your Contoso verification code"
    assert mail["body"].startswith("55501234 is your Contoso")
    assert mail["time"] == services.clock.now().isoformat()
    [text] = notify.outbox.read_outbox(folder / "sms.jsonl")
    # The development issuer is http://127.0.0.1, where origin-bound codes do not apply.
    assert text == {
        "time": services.clock.now().isoformat(),
        "to": "+15551234567",
        "body": "123456 is your Contoso verification code. It expires in 5 minutes.",
    }
