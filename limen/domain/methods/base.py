"""The shape every authentication method has (STYLE.md: one interface, one module per method).

A method is described by a `MethodSpec` (what it is: Graph type, factor, amr, strengths) and
implemented by an object with four pure operations, two for registration and two for sign-in:

    begin_registration(subject, answer, env)   -> Prompt | Rejected
    finish_registration(subject, pending, answer, env) -> Registered | Rejected | Waiting
    begin_challenge(subject, method, env)      -> Prompt | Rejected
    verify(subject, method, pending, answer, env) -> Verified | Rejected | Waiting

`pending` is what a Prompt asked the service to keep server-side until the answer comes (a hashed
code, a WebAuthn challenge, a push request's number); `answer` is what the person (or their device)
sent back. For begin_registration the service sets `answer["exclude"]` to the space-separated
lookup keys of the person's methods of the same kind (so WebAuthn can refuse a second registration
of one authenticator before the ceremony). Nothing here does I/O: a Prompt that must deliver a code says so in `deliver`, and the
service hands it to a sender; the service also stores methods and pending state, encrypting
`Registered.secret`. The same operations serve the sign-in, "My security info" and the
registration interrupt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Factor(StrEnum):
    KNOWLEDGE = "knowledge"
    POSSESSION = "possession"
    INHERENCE = "inherence"


class Strength(StrEnum):
    """Entra's built-in authentication strengths, by their Graph ids."""

    MFA = "00000000-0000-0000-0000-000000000002"
    PASSWORDLESS_MFA = "00000000-0000-0000-0000-000000000003"
    PHISHING_RESISTANT_MFA = "00000000-0000-0000-0000-000000000004"


ALL_STRENGTHS = frozenset(Strength)


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """What a method is. `key` is Limen's name for it (URLs, storage, CLI) and Graph's method name."""

    key: str
    #: Graph `authenticationMethod` subtype, e.g. "#microsoft.graph.softwareOathAuthenticationMethod".
    graph_type: str
    #: What the person sees ("Authenticator app code").
    display_name: str
    #: `authenticationDetails[].authenticationMethod` in the sign-in log.
    log_name: str
    factor: Factor
    phishing_resistant: bool
    #: RFC 8176 `amr` values a successful use adds to the session.
    amr: tuple[str, ...]
    #: Built-in strengths this method satisfies after a password (or alone, for passwordless ones).
    strengths: frozenset[Strength]
    #: `authenticationMethodModes` value used in authentication strength combinations.
    mode: str
    #: Can start a sign-in without a password (passkeys, Temporary Access Pass).
    first_factor: bool = False
    #: Can be the second step after a password.
    second_factor: bool = True
    #: A person adds it on "My security info" (a Temporary Access Pass is issued by an admin instead).
    self_service: bool = True
    #: Satisfies MFA on its own (passkeys with user verification, a Temporary Access Pass).
    multi_factor_alone: bool = False


@dataclass(frozen=True, slots=True)
class Subject:
    """The person a method belongs to, as far as methods need to know."""

    user_id: str
    user_principal_name: str
    display_name: str
    mobile_phone: str | None = None
    mail: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMethod:
    """A registered method, as the service reads it back. `secret` is already decrypted."""

    id: str
    key: str
    display_name: str
    data: Mapping[str, Any]
    secret: str | None
    #: A monotonic counter the service only lets grow (TOTP time step, WebAuthn sign count).
    counter: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Environment:
    """What the operations may know about the deployment and the moment."""

    now: datetime
    issuer: str
    #: The organisation's name, shown in authenticator apps.
    tenant_name: str
    #: HMAC of a value under the server's secret key: for storing codes without storing them.
    digest: Callable[[str], str]
    #: Context of the sign-in being verified, shown on push requests.
    app_name: str = ""
    ip_address: str = ""
    location: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A code to send out of band. The service picks the sender by `channel`."""

    channel: str  # "sms" | "email"
    destination: str
    code: str
    #: Minutes the code is valid, for the message text.
    valid_minutes: int


@dataclass(frozen=True, slots=True)
class Prompt:
    """The next page: `view` is for the template (never secret except what it must show, like a new
    TOTP key), `pending` is kept server-side until the answer."""

    view: Mapping[str, Any]
    pending: Mapping[str, Any]
    expires_at: datetime
    deliver: Delivery | None = None
    #: Where rate limits count this prompt (a phone number or address), if it sends something.
    destination: str | None = None
    #: Digest of a bearer code that finds this pending prompt from outside the browser (a push
    #: device's enrolment code); see `Environment.digest`.
    lookup_key: str | None = None
    #: Replacement public data for the method being challenged (a push method remembers its last number).
    data: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    display_name: str
    data: Mapping[str, Any]
    secret: str | None = None
    #: Unique per method kind and tenant (a WebAuthn credential id, a device id), for lookups.
    lookup_key: str | None = None
    counter: int | None = None
    #: Values handed once to whoever completed the registration (a push device's access token), never stored.
    reveal: Mapping[str, str] = field(default_factory=dict)


class Reason(StrEnum):
    WRONG_CODE = "wrongCode"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    MALFORMED = "malformed"
    DENIED = "denied"
    WRONG_NUMBER = "wrongNumber"
    NOT_ALLOWED = "notAllowed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    #: Shown to the person; says what is wrong and what to do, never anything secret.
    message: str
    #: Counts towards the method's lockout (a wrong guess does; a malformed form or an expired code does not).
    counts_as_failure: bool = True
    #: What a push denial reported ("deny and report"): the service records user risk.
    reported_fraud: bool = False


@dataclass(frozen=True, slots=True)
class Verified:
    #: New value for the method's monotonic counter; the service refuses it unless it grows.
    counter: int | None = None
    #: Replacement public data, if using the method changed it.
    data: Mapping[str, Any] | None = None
    #: Extra detail for the sign-in log (a masked phone number, a device name).
    log_detail: str = ""


@dataclass(frozen=True, slots=True)
class Waiting:
    """No answer yet (a push request not answered, a device not enrolled yet): ask again later."""

    view: Mapping[str, Any] = field(default_factory=dict)


Answer = Mapping[str, str]


class Method(Protocol):
    spec: MethodSpec

    def begin_registration(self, subject: Subject, answer: Answer, env: Environment) -> Prompt | Rejected: ...

    def finish_registration(
        self, subject: Subject, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Registered | Rejected | Waiting: ...

    def begin_challenge(self, subject: Subject, method: StoredMethod, env: Environment) -> Prompt | Rejected: ...

    def verify(
        self, subject: Subject, method: StoredMethod, pending: Mapping[str, Any], answer: Answer, env: Environment
    ) -> Verified | Rejected | Waiting: ...
