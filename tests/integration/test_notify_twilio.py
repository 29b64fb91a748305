"""The Twilio adapter against a real HTTP server on 127.0.0.1 that records what it receives and answers
like Twilio's Messages API: the wire format, the errors, and a texted code that completes registration."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from limen import notify
from limen.config import load_settings
from limen.domain.methods.base import Delivery, Reason, Rejected
from limen.notify.twilio import TwilioSms
from limen.service.context import Services
from limen.service.methods import runner
from limen.store.db import transaction
from limen.store.models import AuthMethod, User
from tests.conftest import make_env
from tests.support.live import free_port

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "0f" * 16
SENDER = "+15557654321"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class FakeTwilio:
    """What the server received, and what it answers next (status and JSON body)."""

    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    status: int = 201
    answer: dict[str, Any] = field(default_factory=lambda: {"sid": "SM" + "a" * 32, "status": "queued"})


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    state = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            state.requests.append(
                Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, parse_qs(body))
            )
            payload = json.dumps(state.answer).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _adapter(twilio: FakeTwilio, sender: str = SENDER) -> TwilioSms:
    return TwilioSms(account_sid=SID, auth_token=TOKEN, sender=sender, base_url=twilio.base_url)


def test_a_message_is_posted_in_twilios_wire_format(twilio: FakeTwilio) -> None:
    _adapter(twilio).send_sms("+15551234567", "123456 is your Contoso verification code.")
    [request] = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(credentials).decode() == f"{SID}:{TOKEN}"
    assert request.form == {
        "To": ["+15551234567"],
        "From": [SENDER],
        "Body": ["123456 is your Contoso verification code."],
    }


def test_a_messaging_service_sends_its_sid_instead_of_from(twilio: FakeTwilio) -> None:
    service = "MG" + "ab" * 16
    _adapter(twilio, sender=service).send_sms("+447700900123", "hello")
    [request] = twilio.requests
    assert request.form["MessagingServiceSid"] == [service] and "From" not in request.form


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
def test_an_answer_other_than_2xx_is_delivery_failed_without_the_number_or_token(
    twilio: FakeTwilio, status: int
) -> None:
    twilio.status = status
    twilio.answer = {
        "code": 21211,
        "message": "The 'To' number +15551234567 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": status,
    }
    with pytest.raises(notify.DeliveryFailed) as caught:
        _adapter(twilio).send_sms("+15551234567", "123456 is your code")
    message = caught.value.message
    assert f"HTTP {status}" in message and "21211" in message and "+1 XXXXXXXX67" in message
    assert "+15551234567" not in message and "5551234567" not in message and TOKEN not in message
    assert "123456" not in message
    assert caught.value.user_message.startswith("We couldn't send the code")


def test_a_server_that_is_not_there_is_delivery_failed() -> None:
    adapter = TwilioSms(account_sid=SID, auth_token=TOKEN, sender=SENDER, base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(notify.DeliveryFailed, match="Twilio unreachable"):
        adapter.send_sms("+15551234567", "hello")


def test_settings_build_an_adapter_and_send_composes_the_text_without_logging_the_code(
    twilio: FakeTwilio, tmp_path: Path, database_url: str, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        make_env(
            tmp_path,
            database_url,
            LIMEN_SMS_PROVIDER="twilio",
            LIMEN_TWILIO_BASE_URL=twilio.base_url,
            LIMEN_TWILIO_ACCOUNT_SID=SID,
            LIMEN_TWILIO_AUTH_TOKEN=TOKEN,
            LIMEN_TWILIO_FROM=SENDER,
        )
    )
    sms_sender, _ = notify.build_senders(settings, services.clock)
    services.sms_sender = sms_sender
    services.settings = replace(settings, issuer="https://login.contoso.com")
    with caplog.at_level(logging.DEBUG):
        notify.send(services, Delivery("sms", "+15551234567", "042917", 5), "Contoso")
    [request] = twilio.requests
    assert request.form["Body"] == [
        "042917 is your Contoso verification code. It expires in 5 minutes.\n\n@login.contoso.com #042917"
    ]
    assert "+1 XXXXXXXX67" in caplog.text
    assert "042917" not in caplog.text and "+15551234567" not in caplog.text and TOKEN not in caplog.text


def test_the_texted_code_completes_registration_and_a_failed_send_is_reported(
    twilio: FakeTwilio, services: Services, tenant_id: str, user: User
) -> None:
    services.sms_sender = _adapter(twilio)
    with transaction(services.db) as db:
        person = db.get(User, user.id)
        assert person is not None
        started = runner.start_registration(db, services, tenant_id, person, "sms", {"phone": "+1 555 123 4567"}, None)
    assert isinstance(started, runner.Started)
    assert started.view["destination"] == "+1 XXXXXXXX67"
    [request] = twilio.requests
    assert request.form["To"] == ["+15551234567"]
    code = re.match(r"(\d{6}) is your ", request.form["Body"][0])
    assert code is not None
    with transaction(services.db) as db:
        person = db.get(User, user.id)
        assert person is not None
        done = runner.finish_registration(
            db, services, tenant_id, person, started.challenge_id, {"code": code.group(1)}, None
        )
        assert isinstance(done, runner.Registration)
        method_id = done.method.id
    with services.db() as db:
        method = db.get(AuthMethod, method_id)
        assert method is not None and method.kind == "sms"
        assert method.data == {"phoneNumber": "+1 5551234567", "phoneType": "mobile"}

    twilio.status, twilio.answer = 500, {"code": 20500, "message": "Internal Server Error"}
    with transaction(services.db) as db:
        person = db.get(User, user.id)
        assert person is not None
        refused = runner.start_registration(db, services, tenant_id, person, "sms", {"phone": "+44 7700 900123"}, None)
    assert isinstance(refused, Rejected) and refused.reason is Reason.UNAVAILABLE
    assert "couldn't send" in refused.message and not refused.counts_as_failure


def test_a_failed_send_is_logged_for_the_operator_without_the_code(
    twilio: FakeTwilio, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    services.sms_sender = _adapter(twilio)
    twilio.status, twilio.answer = 429, {"code": 20429, "message": "Too Many Requests"}
    with caplog.at_level(logging.INFO, logger="limen.notify"), pytest.raises(notify.DeliveryFailed):
        notify.send(services, Delivery("sms", "+15551234567", "042917", 5), "Contoso")
    [record] = [r for r in caplog.records if r.name == "limen.notify"]
    assert record.levelno == logging.WARNING
    assert "+1 XXXXXXXX67" in record.getMessage() and "HTTP 429" in record.getMessage()
    assert "042917" not in caplog.text and "+15551234567" not in caplog.text
