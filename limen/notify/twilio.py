"""Text messages through Twilio's Programmable Messaging API (or anything that speaks its wire format):

    POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
    Authorization: Basic base64(AccountSid:AuthToken)
    To=+15551234567&From=+15557654321&Body=...        (or MessagingServiceSid=MG... instead of From)

Twilio answers 201 with the message resource, or 4xx/5xx with `{"code", "message", "more_info"}`.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from limen.notify.base import DeliveryFailed, masked

log = logging.getLogger("limen.notify")

DEFAULT_BASE_URL = "https://api.twilio.com"
#: Seconds for connecting and for each read: a sign-in page waits on this, so it must stay short.
TIMEOUT_SECONDS = 10.0


class TwilioSms:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._auth = (account_sid, auth_token)
        self._sender = sender
        self._timeout = timeout
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"

    def send_sms(self, to: str, body: str) -> None:
        form = {"To": to, "Body": body}
        # A Messaging Service picks the sending number itself (and handles opt-outs per country).
        form["MessagingServiceSid" if self._sender.startswith("MG") else "From"] = self._sender
        try:
            response = httpx.post(
                self.url,
                data=form,
                auth=self._auth,
                timeout=self._timeout,
                headers={"Accept": "application/json", "User-Agent": "Limen"},
            )
        except httpx.HTTPError as exc:
            # The exception names the URL (with the Account SID, which is not secret), never the token.
            raise DeliveryFailed("sms", to, f"Twilio unreachable ({type(exc).__name__}: {exc})") from exc
        if not response.is_success:
            raise DeliveryFailed("sms", to, _describe_error(response))
        sid = _json_field(response, "sid")
        log.info("Text message to %s accepted by Twilio (%s)", masked("sms", to), sid or "no sid")


def _json_field(response: httpx.Response, name: str) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return None if value is None else str(value)


def _describe_error(response: httpx.Response) -> str:
    """Status, Twilio's error code and its documentation link; not Twilio's message, which may quote
    the whole phone number."""
    code, more_info = _json_field(response, "code"), _json_field(response, "more_info")
    parts = [f"Twilio answered HTTP {response.status_code}"]
    if code:
        parts.append(f"error {code}")
    if more_info:
        parts.append(f"see {more_info}")
    return ", ".join(parts)
