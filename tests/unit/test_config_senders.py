"""Sender settings (LIMEN_SMS_*, LIMEN_TWILIO_*, LIMEN_EMAIL_*, LIMEN_SMTP_*): defaults, required
companions, and settings of an unused provider refused rather than ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from limen.config import Secret, load_settings
from limen.domain.clock import FrozenClock
from limen.domain.errors import ConfigurationError
from limen.notify import build_senders
from limen.notify.outbox import OutboxEmail, OutboxSms
from limen.notify.smtp import SmtpEmail
from limen.notify.twilio import TwilioSms

BASE = {
    "LIMEN_ISSUER": "https://login.contoso.com",
    "LIMEN_DATABASE_URL": "postgresql://limen@db/limen",
    "LIMEN_SECRET_KEY": "s" * 40,
    "LIMEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
}
SID = "AC" + "0123456789abcdef" * 2
TWILIO = {
    "LIMEN_SMS_PROVIDER": "twilio",
    "LIMEN_TWILIO_ACCOUNT_SID": SID,
    "LIMEN_TWILIO_AUTH_TOKEN": "f" * 32,
    "LIMEN_TWILIO_FROM": "+15557654321",
}
SMTP = {"LIMEN_SMTP_HOST": "smtp.contoso.com", "LIMEN_EMAIL_FROM": "Contoso <no-reply@contoso.com>"}


def _problems(**env: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({**BASE, **env})
    return caught.value.message


def test_by_default_codes_go_to_the_outbox(tmp_path: Path) -> None:
    settings = load_settings({**BASE, "LIMEN_DATA_DIR": str(tmp_path)})
    assert (settings.sms_provider, settings.email_provider) == ("outbox", "outbox")
    sms, email = build_senders(settings, FrozenClock())
    assert isinstance(sms, OutboxSms) and sms.path == tmp_path / "outbox" / "sms.jsonl"
    assert isinstance(email, OutboxEmail) and email.path == tmp_path / "outbox" / "email.jsonl"


def test_twilio_settings_parse_with_the_token_masked_and_build_the_adapter() -> None:
    settings = load_settings({**BASE, **TWILIO, "LIMEN_SMS_PROVIDER": "Twilio"})
    assert settings.sms_provider == "twilio"
    assert settings.twilio_base_url == "https://api.twilio.com"
    assert isinstance(settings.twilio_auth_token, Secret) and "f" * 32 not in repr(settings)
    sms, _ = build_senders(settings, FrozenClock())
    assert isinstance(sms, TwilioSms)
    assert sms.url == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    local = load_settings({**BASE, **TWILIO, "LIMEN_TWILIO_BASE_URL": "http://127.0.0.1:8025/"})
    assert local.twilio_base_url == "http://127.0.0.1:8025"


@pytest.mark.parametrize("sender", ["+15557654321", "MG" + "ab" * 16, "Contoso", "Contoso IT"])
def test_twilio_from_may_be_a_number_a_messaging_service_or_a_sender_id(sender: str) -> None:
    assert load_settings({**BASE, **TWILIO, "LIMEN_TWILIO_FROM": sender}).twilio_from == sender


def test_twilio_without_its_credentials_is_a_startup_error_naming_each() -> None:
    message = _problems(LIMEN_SMS_PROVIDER="twilio")
    for name in ("LIMEN_TWILIO_ACCOUNT_SID", "LIMEN_TWILIO_AUTH_TOKEN", "LIMEN_TWILIO_FROM"):
        assert f"LIMEN_SMS_PROVIDER=twilio needs {name}." in message


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("LIMEN_TWILIO_ACCOUNT_SID", "SK" + "0" * 32, "must be an Account SID"),
        ("LIMEN_TWILIO_FROM", "+1 555 765 4321", "expected a phone number in E.164"),
        ("LIMEN_TWILIO_FROM", "Contoso Sign-in", "expected a phone number in E.164"),
        ("LIMEN_TWILIO_BASE_URL", "http://twilio-proxy.internal", "must use https://"),
        ("LIMEN_TWILIO_BASE_URL", "api.twilio.com", "must be an absolute https:// URL"),
        ("LIMEN_SMS_PROVIDER", "sns", "LIMEN_SMS_PROVIDER='sns': expected outbox or twilio."),
    ],
)
def test_bad_twilio_values_are_refused(name: str, value: str, fragment: str) -> None:
    assert fragment in _problems(**{**TWILIO, name: value})


def test_twilio_settings_without_the_twilio_provider_are_refused() -> None:
    env = {k: v for k, v in TWILIO.items() if k != "LIMEN_SMS_PROVIDER"}
    message = _problems(**env)
    assert (
        "LIMEN_TWILIO_ACCOUNT_SID, LIMEN_TWILIO_AUTH_TOKEN, LIMEN_TWILIO_FROM set but LIMEN_SMS_PROVIDER is outbox"
        in (message)
    )


def test_smtp_host_selects_smtp_with_starttls_on_587() -> None:
    settings = load_settings({**BASE, **SMTP})
    assert (settings.email_provider, settings.smtp_host, settings.smtp_tls, settings.smtp_port) == (
        "smtp",
        "smtp.contoso.com",
        "starttls",
        587,
    )
    assert settings.email_from == "Contoso <no-reply@contoso.com>"
    _, email = build_senders(settings, FrozenClock())
    assert isinstance(email, SmtpEmail) and (email.host, email.port, email.tls) == ("smtp.contoso.com", 587, "starttls")


@pytest.mark.parametrize(("tls", "port"), [("tls", 465), ("none", 25), ("STARTTLS", 587)])
def test_the_default_port_follows_the_tls_mode(tls: str, port: int) -> None:
    settings = load_settings({**BASE, **SMTP, "LIMEN_SMTP_TLS": tls})
    assert (settings.smtp_tls, settings.smtp_port) == (tls.lower(), port)
    assert load_settings({**BASE, **SMTP, "LIMEN_SMTP_TLS": tls, "LIMEN_SMTP_PORT": "2525"}).smtp_port == 2525


def test_smtp_credentials_are_kept_as_secrets() -> None:
    settings = load_settings({**BASE, **SMTP, "LIMEN_SMTP_USERNAME": "limen", "LIMEN_SMTP_PASSWORD": "hunter2-hunter2"})
    assert settings.smtp_username == "limen"
    assert isinstance(settings.smtp_password, Secret) and "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"LIMEN_EMAIL_PROVIDER": "smtp"}, "LIMEN_EMAIL_PROVIDER=smtp needs LIMEN_SMTP_HOST."),
        ({"LIMEN_SMTP_HOST": "smtp.contoso.com"}, "LIMEN_EMAIL_PROVIDER=smtp needs LIMEN_EMAIL_FROM"),
        ({**SMTP, "LIMEN_SMTP_TLS": "ssl"}, "LIMEN_SMTP_TLS='ssl': expected none, starttls or tls."),
        ({**SMTP, "LIMEN_SMTP_PORT": "0"}, "LIMEN_SMTP_PORT=0 is out of range (1..65535)."),
        ({**SMTP, "LIMEN_SMTP_PORT": "smtp"}, "LIMEN_SMTP_PORT='smtp' is not a whole number."),
        ({**SMTP, "LIMEN_SMTP_USERNAME": "limen"}, "must be set together"),
        ({**SMTP, "LIMEN_SMTP_PASSWORD": "pw"}, "must be set together"),
        (
            {**SMTP, "LIMEN_SMTP_TLS": "none", "LIMEN_SMTP_USERNAME": "u", "LIMEN_SMTP_PASSWORD": "p"},
            "LIMEN_SMTP_USERNAME needs LIMEN_SMTP_TLS=starttls or tls",
        ),
        ({**SMTP, "LIMEN_EMAIL_FROM": "no-reply"}, "LIMEN_EMAIL_FROM='no-reply': expected an address"),
        ({**SMTP, "LIMEN_EMAIL_PROVIDER": "ses"}, "LIMEN_EMAIL_PROVIDER='ses': expected outbox or smtp."),
        ({**SMTP, "LIMEN_EMAIL_PROVIDER": "outbox"}, "LIMEN_SMTP_HOST set but LIMEN_EMAIL_PROVIDER is outbox"),
    ],
)
def test_bad_smtp_settings_are_refused(env: dict[str, str], fragment: str) -> None:
    assert fragment in _problems(**env)


def test_credentials_without_tls_are_fine_for_a_relay_on_this_host() -> None:
    env = {**SMTP, "LIMEN_SMTP_HOST": "127.0.0.1", "LIMEN_SMTP_TLS": "none"}
    settings = load_settings({**BASE, **env, "LIMEN_SMTP_USERNAME": "u", "LIMEN_SMTP_PASSWORD": "p"})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_username) == ("127.0.0.1", 25, "u")


def test_sender_problems_are_listed_with_the_others() -> None:
    message = _problems(LIMEN_SMS_PROVIDER="twilio", LIMEN_EMAIL_PROVIDER="smtp", LIMEN_ARGON2_TIME_COST="zero")
    assert "LIMEN_ARGON2_TIME_COST='zero'" in message
    assert "LIMEN_SMS_PROVIDER=twilio needs LIMEN_TWILIO_FROM." in message
    assert "LIMEN_EMAIL_PROVIDER=smtp needs LIMEN_SMTP_HOST." in message
