"""Signed Bulk Read callback URLs: Zoho posts to them when a job ends, and only this stack can make one.

Zoho does not sign its callbacks, so the URL carries our own signature: ``base64url(payload) "."
base64url(HMAC-SHA256)`` over the unit (connection and module), the run and an expiry, keyed with
the stack's state key and bound to this purpose (a connect link's state is not a callback token). A
valid callback only asks for an early look at the unit; the export still reads the job from Zoho
before it trusts anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from .errors import BulkCallbackInvalid, ZohoAepError
from .export import ExportUnit
from .names import check_connection_name

PURPOSE = b"zoho-aep bulk-callback v1\n"
LIFETIME_SECONDS = 2 * 24 * 3600  # a job and its pages finish well within this
MAX_TOKEN_LENGTH = 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BulkCallbackInvalid("The callback token is garbled.") from exc


def _mac(key: str, payload: bytes) -> bytes:
    return hmac.new(key.encode("utf-8"), PURPOSE + payload, hashlib.sha256).digest()


@dataclass(frozen=True)
class CallbackToken:
    unit: ExportUnit
    run_id: str
    expires_at: int

    def sign(self, key: str) -> str:
        payload = json.dumps(
            {"c": self.unit.connection, "m": self.unit.module, "r": self.run_id, "exp": self.expires_at},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def callback_url(base: str, key: str, unit: ExportUnit, run_id: str, now: float) -> str:
    """The URL Zoho is given for one run's jobs."""
    token = CallbackToken(unit, run_id, int(now) + LIFETIME_SECONDS).sign(key)
    return f"{base}?unit={token}"


def verify_callback(key: str, token: str | None, now: float) -> CallbackToken:
    """The callback's unit, if this stack signed the token and it has not expired; else BulkCallbackInvalid."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise BulkCallbackInvalid("The callback carries no valid token.")
    payload_part, mac_part = token.split(".")
    payload = _unb64(payload_part)
    if not hmac.compare_digest(_unb64(mac_part), _mac(key, payload)):
        raise BulkCallbackInvalid("The callback was not signed by this stack.")
    try:
        data = json.loads(payload)
        unit = ExportUnit(check_connection_name(data["c"]), str(data["m"]))
        run_id, expires = str(data["r"]), int(data["exp"])
    except (ValueError, KeyError, TypeError, ZohoAepError) as exc:
        raise BulkCallbackInvalid("The callback token is garbled.") from exc
    if now >= expires:
        raise BulkCallbackInvalid("The callback token has expired.")
    return CallbackToken(unit, run_id, expires)
