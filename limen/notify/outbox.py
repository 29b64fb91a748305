"""Outbox senders for development and demos: messages are appended to JSON-lines files under
`<LIMEN_DATA_DIR>/outbox/` (`sms.jsonl`, `email.jsonl`) instead of being sent.

The files hold the codes in clear, which is their purpose (the person trying the demo reads the code
there), so they are created with mode 0600 in a 0700 directory. Each message is one `write` on a
descriptor opened with O_APPEND, so lines from several workers do not interleave.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from limen.domain.clock import Clock
from limen.notify.base import masked

log = logging.getLogger("limen.notify")


def append_line(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every message in an outbox file, oldest first (for `limen demo`, tests and tools)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


class OutboxSms:
    def __init__(self, data_dir: Path, clock: Clock) -> None:
        self.path = data_dir / "outbox" / "sms.jsonl"
        self._clock = clock

    def send_sms(self, to: str, body: str) -> None:
        append_line(self.path, {"time": self._clock.now().isoformat(), "to": to, "body": body})
        log.info("Text message to %s written to %s", masked("sms", to), self.path)


class OutboxEmail:
    def __init__(self, data_dir: Path, clock: Clock, sender: str | None = None) -> None:
        self.path = data_dir / "outbox" / "email.jsonl"
        self._clock = clock
        self._sender = sender

    def send_email(self, to: str, subject: str, body: str) -> None:
        record = {"time": self._clock.now().isoformat(), "from": self._sender, "to": to, "subject": subject}
        append_line(self.path, {**record, "body": body})
        log.info("E-mail to %s written to %s", masked("email", to), self.path)
