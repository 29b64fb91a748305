"""One typed Settings object built from LIMEN_* environment variables, validated at start-up.

Every variable is documented in docs/configuration.md. Unknown LIMEN_* names are an error, so a
typo cannot silently leave a security setting at its default (STYLE.md L9).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from limen.domain.directory import DEFAULT_PLAN, Plan
from limen.domain.errors import ConfigurationError


class Secret(str):
    """A string that does not show itself in repr() or logs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('**********')"


#: Variables read by the test-suite and tools, not by the server; allowed beside the settings.
#: LIMEN_AUTHENTICATOR_STATE is the `limen-authenticator` client's state file: people try the client
#: in the shell that runs the server, and the server must not refuse to start because of it.
_NOT_SETTINGS = {"LIMEN_TEST_DATABASE_URL", "LIMEN_BENCH_URL", "LIMEN_AUTHENTICATOR_STATE"}


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./.limen/limen.db"
    issuer: str = "http://127.0.0.1:8000"
    admin_token: Secret | None = None
    secret_key: Secret = field(default_factory=lambda: Secret(secrets.token_urlsafe(32)))
    encryption_keys: tuple[Secret, ...] = ()
    data_dir: Path = Path(".limen")
    default_tenant_name: str = "Limen"
    default_tenant_domain: str = "limen.local"
    default_plan: Plan = DEFAULT_PLAN
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    #: Hashes computed at once in this process; 0 means one per CPU core.
    argon2_concurrency: int = 0
    session_lifetime_hours: int = 12
    signin_flow_minutes: int = 30
    authorization_code_seconds: int = 60
    access_token_seconds: int = 3600
    id_token_seconds: int = 3600
    refresh_token_days: int = 90
    signing_key_overlap_hours: int = 24
    #: The OAuth password grant (ROPC): off unless LIMEN_ALLOW_PASSWORD_GRANT=true. It cannot do MFA.
    allow_password_grant: bool = False
    log_level: str = "info"
    dev_secrets_generated: bool = False
    # Senders of verification codes (limen.notify); checked by _sender_settings.
    sms_provider: str = "outbox"
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str | None = None
    twilio_auth_token: Secret | None = None
    #: A phone number in E.164, an alphanumeric sender id, or a Messaging Service SID ("MG...").
    twilio_from: str | None = None
    email_provider: str = "outbox"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    email_from: str | None = None

    @property
    def is_development(self) -> bool:
        """Plain HTTP on a loopback host: the demo and local development, where generated keys are fine."""
        return _is_loopback_http(self.issuer)

    @property
    def cookie_secure(self) -> bool:
        # Secure cookies would never be sent back over http://127.0.0.1, so dev is the one exception.
        return urlsplit(self.issuer).scheme == "https"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    return _is_loopback_host(parts.hostname or "")


_INT_SETTINGS: dict[str, tuple[str, int, int]] = {
    # env suffix: (field, minimum, maximum)
    "ARGON2_MEMORY_KIB": ("argon2_memory_kib", 8, 4_194_304),
    "ARGON2_TIME_COST": ("argon2_time_cost", 1, 100),
    "ARGON2_PARALLELISM": ("argon2_parallelism", 1, 64),
    "ARGON2_CONCURRENCY": ("argon2_concurrency", 0, 256),
    "SESSION_LIFETIME_HOURS": ("session_lifetime_hours", 1, 24 * 90),
    "SIGNIN_FLOW_MINUTES": ("signin_flow_minutes", 1, 24 * 60),
    "AUTHORIZATION_CODE_SECONDS": ("authorization_code_seconds", 10, 600),
    "ACCESS_TOKEN_SECONDS": ("access_token_seconds", 60, 86_400),
    "ID_TOKEN_SECONDS": ("id_token_seconds", 60, 86_400),
    "REFRESH_TOKEN_DAYS": ("refresh_token_days", 1, 365),
    "SIGNING_KEY_OVERLAP_HOURS": ("signing_key_overlap_hours", 1, 24 * 30),
}
_STR_SETTINGS = {
    "DATABASE_URL",
    "ISSUER",
    "ADMIN_TOKEN",
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "DATA_DIR",
    "DEFAULT_TENANT_NAME",
    "DEFAULT_TENANT_DOMAIN",
    "DEFAULT_PLAN",
    "LOG_LEVEL",
}
_SENDER_SETTINGS = {
    "SMS_PROVIDER",
    "TWILIO_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "EMAIL_PROVIDER",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_TLS",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "EMAIL_FROM",
}
_BOOL_SETTINGS: dict[str, str] = {
    # env suffix: field
    "ALLOW_PASSWORD_GRANT": "allow_password_grant",
}
#: Spellings accepted for a yes/no setting; anything else is an error rather than a guess.
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
KNOWN_VARIABLES = frozenset(
    f"LIMEN_{name}" for name in (*_INT_SETTINGS, *_STR_SETTINGS, *_SENDER_SETTINGS, *_BOOL_SETTINGS)
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise ConfigurationError listing every problem at once."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    values: dict[str, object] = {}

    for name in sorted(k for k in env if k.startswith("LIMEN_")):
        if name not in KNOWN_VARIABLES and name not in _NOT_SETTINGS:
            problems.append(f"{name} is not a Limen setting (see docs/configuration.md).")

    for suffix, (attr, low, high) in _INT_SETTINGS.items():
        raw = env.get(f"LIMEN_{suffix}")
        if raw is None:
            continue
        try:
            number = int(raw.strip())
        except ValueError:
            problems.append(f"LIMEN_{suffix}={raw!r} is not a whole number.")
            continue
        if not low <= number <= high:
            problems.append(f"LIMEN_{suffix}={number} is out of range ({low}..{high}).")
            continue
        values[attr] = number

    for suffix, attr in _BOOL_SETTINGS.items():
        raw = env.get(f"LIMEN_{suffix}")
        if raw is None:
            continue
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            problems.append(f"LIMEN_{suffix}={raw!r}: expected true or false.")
            continue
        values[attr] = word in _TRUE

    data_dir = Path(env.get("LIMEN_DATA_DIR", ".limen"))
    values["data_dir"] = data_dir
    values["database_url"] = env.get("LIMEN_DATABASE_URL", f"sqlite:///{data_dir}/limen.db")
    db_scheme = str(values["database_url"]).split(":", 1)[0]
    if db_scheme not in {"sqlite", "postgresql", "postgresql+psycopg"}:
        problems.append(f"LIMEN_DATABASE_URL uses {db_scheme!r}: expected sqlite:///path or postgresql+psycopg://...")
    elif db_scheme == "postgresql":
        # psycopg 3 is the driver we ship; SQLAlchemy's bare scheme would look for psycopg2.
        values["database_url"] = "postgresql+psycopg" + str(values["database_url"])[len("postgresql") :]

    issuer = env.get("LIMEN_ISSUER", "http://127.0.0.1:8000").rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        problems.append(f"LIMEN_ISSUER={issuer!r} must be an absolute http(s) URL without query or fragment.")
    elif parts.scheme == "http" and not _is_loopback_http(issuer):
        problems.append("LIMEN_ISSUER must use https:// unless it is a loopback address (development).")
    values["issuer"] = issuer
    development = _is_loopback_http(issuer)

    if "LIMEN_DEFAULT_PLAN" in env:
        try:
            values["default_plan"] = Plan.parse(env["LIMEN_DEFAULT_PLAN"])
        except Exception as exc:
            problems.append(f"LIMEN_DEFAULT_PLAN: {exc}")
    for suffix, attr in (
        ("DEFAULT_TENANT_NAME", "default_tenant_name"),
        ("DEFAULT_TENANT_DOMAIN", "default_tenant_domain"),
    ):
        if suffix_value := env.get(f"LIMEN_{suffix}"):
            values[attr] = suffix_value.strip()
    level = env.get("LIMEN_LOG_LEVEL", "info").lower()
    if level not in {"debug", "info", "warning", "error"}:
        problems.append(f"LIMEN_LOG_LEVEL={level!r}: expected debug, info, warning or error.")
    values["log_level"] = level

    token = env.get("LIMEN_ADMIN_TOKEN")
    if token is not None:
        if len(token) < 24:
            problems.append("LIMEN_ADMIN_TOKEN is too short: use at least 24 random characters.")
        else:
            values["admin_token"] = Secret(token)

    secret_key = env.get("LIMEN_SECRET_KEY")
    raw_keys = env.get("LIMEN_ENCRYPTION_KEYS")
    if (secret_key is None or raw_keys is None) and development:
        dev = _dev_secrets(data_dir)
        secret_key = secret_key or dev["secret_key"]
        raw_keys = raw_keys or dev["encryption_key"]
        values["dev_secrets_generated"] = True
    if secret_key is None:
        problems.append("LIMEN_SECRET_KEY is required outside development (32+ random characters).")
    elif len(secret_key) < 32:
        problems.append("LIMEN_SECRET_KEY is too short: use at least 32 random characters.")
    else:
        values["secret_key"] = Secret(secret_key)
    if raw_keys is None:
        problems.append("LIMEN_ENCRYPTION_KEYS is required outside development (`limen keys generate-encryption-key`).")
    else:
        keys = tuple(Secret(k.strip()) for k in raw_keys.split(",") if k.strip())
        for index, key in enumerate(keys):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                problems.append(
                    f"LIMEN_ENCRYPTION_KEYS entry {index + 1} is not a valid key (32 url-safe base64 bytes)."
                )
        if not keys:
            problems.append("LIMEN_ENCRYPTION_KEYS is empty.")
        values["encryption_keys"] = keys

    _sender_settings(env, values, problems)

    if problems:
        raise ConfigurationError("Invalid configuration:\n  - " + "\n  - ".join(problems))
    return Settings(**values)  # type: ignore[arg-type]


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Development keys, generated once and kept beside the SQLite database (mode 0600).

    Keeping them on disk means restarts and several workers agree on the keys, so sessions and
    encrypted signing keys survive a restart of the demo.
    """
    path = data_dir / "dev-secrets.json"
    if path.exists():
        data = json.loads(path.read_text("utf-8"))
        if {"secret_key", "encryption_key"} <= data.keys():
            return {"secret_key": str(data["secret_key"]), "encryption_key": str(data["encryption_key"])}
    data_dir.mkdir(parents=True, exist_ok=True)
    data = {"secret_key": secrets.token_urlsafe(32), "encryption_key": Fernet.generate_key().decode()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return data


_TWILIO_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
#: What Twilio's `From` may be: an E.164 number, an alphanumeric sender id, or a Messaging Service SID.
_TWILIO_FROM = re.compile(r"\+[1-9][0-9]{6,14}|MG[0-9a-fA-F]{32}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_SMTP_TLS_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def _sender_settings(env: Mapping[str, str], values: dict[str, object], problems: list[str]) -> None:
    """The SMS and e-mail senders. Settings of a provider that is not selected are an error: setting
    every LIMEN_TWILIO_* variable but forgetting LIMEN_SMS_PROVIDER would otherwise send people's codes
    to a file on the server, and nobody would notice until they could not sign in."""
    sms_provider = env.get("LIMEN_SMS_PROVIDER", "outbox").strip().lower()
    twilio = {
        suffix: value.strip()
        for suffix in ("TWILIO_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM")
        if (value := env.get(f"LIMEN_{suffix}")) is not None
    }
    if sms_provider not in {"outbox", "twilio"}:
        problems.append(f"LIMEN_SMS_PROVIDER={sms_provider!r}: expected outbox or twilio.")
    elif sms_provider == "outbox" and twilio:
        names = ", ".join(f"LIMEN_{suffix}" for suffix in sorted(twilio))
        problems.append(f"{names} set but LIMEN_SMS_PROVIDER is outbox: set LIMEN_SMS_PROVIDER=twilio, or remove them.")
    elif sms_provider == "twilio":
        for suffix in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"):
            if not twilio.get(suffix):
                problems.append(f"LIMEN_SMS_PROVIDER=twilio needs LIMEN_{suffix}.")
        sid, sender = twilio.get("TWILIO_ACCOUNT_SID"), twilio.get("TWILIO_FROM")
        if sid and not _TWILIO_ACCOUNT_SID.fullmatch(sid):
            problems.append("LIMEN_TWILIO_ACCOUNT_SID must be an Account SID: AC followed by 32 hexadecimal digits.")
        if sender and not _TWILIO_FROM.fullmatch(sender):
            problems.append(
                f"LIMEN_TWILIO_FROM={sender!r}: expected a phone number in E.164 (+15551234567), "
                "a Messaging Service SID (MG...) or an alphanumeric sender id of up to 11 characters."
            )
        base = twilio.get("TWILIO_BASE_URL", "https://api.twilio.com").rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            problems.append(f"LIMEN_TWILIO_BASE_URL={base!r} must be an absolute https:// URL.")
        elif parts.scheme == "http" and not _is_loopback_http(base):
            # The auth token travels in every request's Basic authorisation header.
            problems.append("LIMEN_TWILIO_BASE_URL must use https:// unless it is a loopback address.")
        values.update(
            sms_provider="twilio",
            twilio_base_url=base,
            twilio_account_sid=sid,
            twilio_auth_token=Secret(twilio["TWILIO_AUTH_TOKEN"]) if twilio.get("TWILIO_AUTH_TOKEN") else None,
            twilio_from=sender,
        )

    smtp = {
        suffix: value.strip()
        for suffix in ("SMTP_HOST", "SMTP_PORT", "SMTP_TLS", "SMTP_USERNAME", "SMTP_PASSWORD")
        if (value := env.get(f"LIMEN_{suffix}")) is not None
    }
    default_provider = "smtp" if smtp.get("SMTP_HOST") else "outbox"
    email_provider = env.get("LIMEN_EMAIL_PROVIDER", default_provider).strip().lower()
    sender_address = env.get("LIMEN_EMAIL_FROM", "").strip() or None
    if sender_address is not None:
        _, address = parseaddr(sender_address)
        if "@" not in address or any(c in sender_address for c in "\r\n"):
            problems.append(
                f"LIMEN_EMAIL_FROM={sender_address!r}: expected an address, e.g. no-reply@example.com "
                "or 'Contoso <no-reply@example.com>'."
            )
        values["email_from"] = sender_address
    if email_provider not in {"outbox", "smtp"}:
        problems.append(f"LIMEN_EMAIL_PROVIDER={email_provider!r}: expected outbox or smtp.")
    elif email_provider == "outbox" and smtp:
        names = ", ".join(f"LIMEN_{suffix}" for suffix in sorted(smtp))
        problems.append(
            f"{names} set but LIMEN_EMAIL_PROVIDER is outbox: set LIMEN_EMAIL_PROVIDER=smtp, or remove them."
        )
    elif email_provider == "smtp":
        _smtp_settings(smtp, sender_address, values, problems)


def _smtp_settings(
    smtp: Mapping[str, str], sender_address: str | None, values: dict[str, object], problems: list[str]
) -> None:
    host = smtp.get("SMTP_HOST")
    if not host:
        problems.append("LIMEN_EMAIL_PROVIDER=smtp needs LIMEN_SMTP_HOST.")
    if sender_address is None:
        problems.append("LIMEN_EMAIL_PROVIDER=smtp needs LIMEN_EMAIL_FROM (the address codes are sent from).")
    tls = smtp.get("SMTP_TLS", "starttls").lower()
    if tls not in _SMTP_TLS_PORTS:
        problems.append(f"LIMEN_SMTP_TLS={tls!r}: expected none, starttls or tls.")
        tls = "starttls"
    port = _SMTP_TLS_PORTS[tls]
    if "SMTP_PORT" in smtp:
        try:
            port = int(smtp["SMTP_PORT"])
        except ValueError:
            problems.append(f"LIMEN_SMTP_PORT={smtp['SMTP_PORT']!r} is not a whole number.")
        else:
            if not 1 <= port <= 65535:
                problems.append(f"LIMEN_SMTP_PORT={port} is out of range (1..65535).")
    username, password = smtp.get("SMTP_USERNAME") or None, smtp.get("SMTP_PASSWORD") or None
    if (username is None) != (password is None):
        problems.append("LIMEN_SMTP_USERNAME and LIMEN_SMTP_PASSWORD must be set together.")
    if username is not None and tls == "none" and host and not _is_loopback_host(host):
        # Without TLS the password would cross the network in clear; a relay on this host is the exception.
        problems.append("LIMEN_SMTP_USERNAME needs LIMEN_SMTP_TLS=starttls or tls (or a relay on a loopback address).")
    values.update(
        email_provider="smtp",
        smtp_host=host,
        smtp_port=port,
        smtp_tls=tls,
        smtp_username=username,
        smtp_password=Secret(password) if password is not None else None,
    )


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
