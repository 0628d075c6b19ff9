"""A Zoho connection: its secret's value as a typed object, and the tags and statuses that describe it.

The value of ``{prefix}/connections/{name}`` is a contract other programs read (``design.md``), so
:meth:`Connection.from_value` and :meth:`Connection.to_value` keep its JSON exactly: every key this
version knows has a typed attribute; any other key (written by a newer version, or by hand) is kept
in ``extra`` and written back untouched, and so is a known key whose value has the wrong type (it
reads as absent). ``schema`` is checked on read: a value written by a newer zoho-aep is refused
rather than rewritten by code that does not know its meaning.

Non-secret state lives in the secret's tags (``TAG_*``), so listing connections never reads a token.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConnectionCorrupt, ConnectionSchemaUnsupported
from .times import epoch_of

SCHEMA_VERSION = 1

# ---- tags ----------------------------------------------------------------------------------------
TAG_STATUS = "zoho-aep:status"
TAG_EXPIRES_AT = "zoho-aep:expires-at"  # epoch seconds of the access token's expiry
TAG_DATA_CENTER = "zoho-aep:data-center"
TAG_LAST_ERROR = "zoho-aep:last-error"  # a code, never a message from the wire
TAG_ORG_ID = "zoho-aep:zoho-org-id"
TAG_ORG_NAME = "zoho-aep:zoho-org-name"  # the org's name as Zoho gave it, tag-safe (so `status` can name it)
TAG_USER_ID = "zoho-aep:zoho-user-id"  # the Zoho user who consented: counting a user's connections reads no secret
TAG_RETRY_AFTER = "zoho-aep:retry-after"  # epoch seconds: no refresh attempt before (Zoho throttled)
TAG_MANAGED = "zoho-aep:managed"
TAG_BASE_CONNECTION_ID = "aep:base-connection-id"
TAG_ETAG = "aep:etag"
TAG_SANDBOX = "aep:sandbox"
TAG_MODULES = "aep:modules"  # how many Zoho modules AEP saw when provisioning verified the connection
TAG_SUPERSEDED = "aep:superseded-base-connection-ids"  # replaced but kept: dataflows still use them
TAG_PATH = "aep:path"  # how the org's records reach AEP: zoho-crm (Adobe's source) or amazon-s3 (our export)
TAG_EXPORT_STATUS = "zoho-aep:export-status"  # the export's health: ok, failing, needs-consent
TAG_EXPORT_ERROR = "zoho-aep:export-error"  # the code of the export's last failure

STATUS_ACTIVE = "active"
STATUS_NEEDS_REAUTH = "needs-reauth"
STATUS_REFRESH_FAILING = "refresh-failing"
STATUS_PROVISIONING_FAILED = "provisioning-failed"
STATUS_INGESTION_FAILING = "ingestion-failing"  # the S3 path: AEP's dataflow runs over the exports fail
STATUSES = (
    STATUS_ACTIVE,
    STATUS_NEEDS_REAUTH,
    STATUS_REFRESH_FAILING,
    STATUS_PROVISIONING_FAILED,
    STATUS_INGESTION_FAILING,
)
# Verdicts that belong to another function than the token refresh: a successful refresh keeps them.
NOT_THE_REFRESHES = frozenset({STATUS_PROVISIONING_FAILED, STATUS_INGESTION_FAILING})

# ---- Zoho's refresh tokens per user ----------------------------------------------------------------
# Zoho keeps at most 20 refresh tokens per user and client; the 21st silently deletes the oldest. The
# token is issued by the code exchange, before anyone can ask who consented, so one is kept in
# reserve: a user may hold 19 live connections, and the consent that would make it 20 is refused
# (the next exchange by that user, whatever its link, would otherwise delete a live one's token).
ZOHO_REFRESH_TOKENS_PER_USER = 20
MAX_CONNECTIONS_PER_ZOHO_USER = ZOHO_REFRESH_TOKENS_PER_USER - 1
WARN_CONNECTIONS_PER_ZOHO_USER = 15  # from here on, each consent of that user says how close it is


_TAG_UNSAFE = re.compile(r"[^\w .:/=+@-]+")
MAX_TAG_VALUE = 256


def tag_value(text: str) -> str:
    """``text`` as an AWS tag value: letters, digits, spaces and ``_ . : / = + - @``, at most 256 characters.

    Anything else (quotes, commas, control characters) becomes a space: the tag is for reading.
    """
    return " ".join(_TAG_UNSAFE.sub(" ", text).split())[:MAX_TAG_VALUE]


def int_tag(tags: Mapping[str, str], key: str) -> int | None:
    """A tag holding a whole number (epoch seconds, a count), or None when absent or not a number."""
    try:
        return int(tags[key])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class ConnectionSummary:
    """A listed connection: its tags only, never its value."""

    name: str
    secret_name: str
    tags: Mapping[str, str]
    last_changed: float | None = None

    @property
    def holds_a_live_token(self) -> bool:
        """Whether it still holds a refresh token Zoho honours, as far as its tags say."""
        return self.tags.get(TAG_STATUS) != STATUS_NEEDS_REAUTH


# ---- the value -----------------------------------------------------------------------------------
# The refresher's bookkeeping in the value; a new consent clears all of it.
BOOKKEEPING_FIELDS = ("refresh_failures", "throttled_until", "last_refresh_error", "token_mints")
CLAIM_KEY = "aep_provisioning_claim"  # JSON key of :attr:`Connection.provisioning_claim`


@dataclass
class ProvisioningClaim:
    """A provisioning run's lease on the connection (see ``usecases.provision``)."""

    id: str
    until: int


def _text(raw: object) -> str | None:
    return raw if isinstance(raw, str) else None


def _org_id(raw: object) -> str | None:
    if isinstance(raw, str):
        return raw
    return str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else None


def _number(raw: object) -> float | None:
    return raw if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None


def _count(raw: object) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def _texts(raw: object) -> list[str] | None:
    return [t for t in raw if isinstance(t, str) and t] if isinstance(raw, list) else None


def _numbers(raw: object) -> list[float] | None:
    return [t for t in raw if _number(t) is not None] if isinstance(raw, list) else None


def _nonces(raw: object) -> dict[str, int] | None:
    if not isinstance(raw, dict):
        return None
    return {k: v for k, v in raw.items() if isinstance(k, str) and _count(v) is not None}


def _claim(raw: object) -> ProvisioningClaim | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or _number(raw.get("until")) is None:
        return None
    return ProvisioningClaim(raw["id"], int(raw["until"]))


@dataclass
class Connection:
    """The value of one connection secret. Absent keys read as None or empty."""

    connection: str | None = None
    data_center: str | None = None
    accounts_url: str | None = None
    api_domain: str | None = None
    client_id: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: str | None = None  # ISO 8601 UTC
    scope: str | None = None
    zoho_org_id: str | None = None
    zoho_org_name: str | None = None
    zoho_user_id: str | None = None  # the Zoho user who consented last
    adobe_sandbox: str | None = None
    authorized_at: str | None = None
    # Refresh tokens a re-consent replaced: AEP may still use the newest one until provisioning has
    # given it the new one; older ones wait in ``revoke_pending``.
    replaced_refresh_token: str | None = None
    revoke_pending: list[str] = field(default_factory=list)
    state_nonces: dict[str, int] = field(default_factory=dict)  # spent link nonces -> their expiry
    token_mints: list[float] = field(default_factory=list)  # epoch seconds of recent mints
    refresh_failures: int = 0
    last_refresh_error: str | None = None
    throttled_until: float | None = None
    provisioning_claim: ProvisioningClaim | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as found

    # ---- JSON --------------------------------------------------------------------------------
    @classmethod
    def from_value(cls, name: str, value: object) -> Connection:
        """Parse a secret's JSON value; raises ConnectionCorrupt (or ConnectionSchemaUnsupported)."""
        if not isinstance(value, dict):
            raise ConnectionCorrupt(f"Connection {name}'s secret is not a JSON object.")
        schema = value.get("schema", SCHEMA_VERSION)
        if _count(schema) is None:
            raise ConnectionCorrupt(f"Connection {name}'s secret has an unreadable schema version.")
        if schema > SCHEMA_VERSION:
            raise ConnectionSchemaUnsupported(
                f"Connection {name} was written by a newer zoho-aep (schema {schema}); upgrade this stack."
            )
        parsed: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, raw in value.items():
            if key == "schema":
                continue
            attribute, parse = _PARSERS.get(key, (None, None))
            result = parse(raw) if parse is not None else None
            if attribute is None or result is None:
                extra[key] = copy.deepcopy(raw)  # unknown, or known with a value of the wrong type
            else:
                parsed[attribute] = result
        return cls(**parsed, extra=extra)

    def to_value(self) -> dict[str, Any]:
        """The JSON value to store: ``extra`` as found, then every known field that has a value."""
        value: dict[str, Any] = copy.deepcopy(self.extra)
        for item in fields(self):
            if item.name == "extra":
                continue
            key = CLAIM_KEY if item.name == "provisioning_claim" else item.name
            current = getattr(self, item.name)
            if current is None or current == [] or current == {} or (item.name == "refresh_failures" and not current):
                continue
            if isinstance(current, ProvisioningClaim):
                current = {"id": current.id, "until": current.until}
            value[key] = copy.deepcopy(current)
        value["schema"] = SCHEMA_VERSION
        return value

    def copy(self) -> Connection:
        return copy.deepcopy(self)

    # ---- what the value says -----------------------------------------------------------------
    @property
    def expires_epoch(self) -> int | None:
        """The access token's expiry in epoch seconds, when the value says."""
        return epoch_of(self.expires_at)

    @property
    def revocable_refresh_tokens(self) -> list[str]:
        """Refresh tokens this connection replaced and nobody should use any more (oldest last)."""
        candidates = [self.replaced_refresh_token, *self.revoke_pending]
        return list(dict.fromkeys(t for t in candidates if t and t != self.refresh_token))

    @property
    def refresh_tokens(self) -> list[str]:
        """Every refresh token the connection holds: the current one and those it replaced."""
        return list(dict.fromkeys(t for t in [self.refresh_token, *self.revocable_refresh_tokens] if t))

    def secret_values(self) -> list[str]:
        """The token material in the value (registered for masking whenever a value is read)."""
        return [t for t in [self.access_token, *self.refresh_tokens] if t]

    def recent_mints(self, now: float, window_seconds: float) -> list[int]:
        """The mint times that still count against a budget over ``window_seconds``."""
        return [int(t) for t in self.token_mints if now - t < window_seconds]

    # ---- changes -----------------------------------------------------------------------------
    def reset_bookkeeping(self) -> None:
        """Forget the refresher's failure bookkeeping and mint times (a new consent starts over)."""
        self.clear_failures()
        self.token_mints = []
        for key in BOOKKEEPING_FIELDS:
            self.extra.pop(key, None)

    def clear_failures(self) -> None:
        """A refresh succeeded: no failure to remember, no back-off (the mint times stay)."""
        self.refresh_failures = 0
        self.last_refresh_error = None
        self.throttled_until = None
        for key in ("refresh_failures", "last_refresh_error", "throttled_until"):
            self.extra.pop(key, None)

    def take_refresh_token(self, new: str) -> None:
        """Hold ``new`` as the refresh token; the one it replaces waits to be revoked.

        AEP may still hold the old refresh token: provisioning revokes it once Adobe has the new
        one. A replaced token that was never revoked moves to the queue, so none is forgotten.
        """
        old = self.refresh_token
        if old and old != new:
            prior = self.replaced_refresh_token
            if prior and prior != old:
                self.revoke_pending = [*self.revoke_pending, prior]
            self.replaced_refresh_token = old
        self.refresh_token = new

    def forget_refresh_tokens(self, tokens: Iterable[str]) -> bool:
        """Drop revoked ``tokens`` from the replaced ones; True when anything changed."""
        gone = set(tokens)
        changed = False
        if self.replaced_refresh_token in gone:
            self.replaced_refresh_token = None
            changed = True
        left = [t for t in self.revoke_pending if t not in gone]
        if left != self.revoke_pending:
            self.revoke_pending = left
            changed = True
        return changed


_PARSERS: dict[str, tuple[str, Callable[[object], Any]]] = {
    "connection": ("connection", _text),
    "data_center": ("data_center", _text),
    "accounts_url": ("accounts_url", _text),
    "api_domain": ("api_domain", _text),
    "client_id": ("client_id", _text),
    "access_token": ("access_token", _text),
    "refresh_token": ("refresh_token", _text),
    "expires_at": ("expires_at", _text),
    "scope": ("scope", _text),
    "zoho_org_id": ("zoho_org_id", _org_id),
    "zoho_org_name": ("zoho_org_name", _text),
    "zoho_user_id": ("zoho_user_id", _text),
    "adobe_sandbox": ("adobe_sandbox", _text),
    "authorized_at": ("authorized_at", _text),
    "replaced_refresh_token": ("replaced_refresh_token", _text),
    "revoke_pending": ("revoke_pending", _texts),
    "state_nonces": ("state_nonces", _nonces),
    "token_mints": ("token_mints", _numbers),
    "refresh_failures": ("refresh_failures", _count),
    "last_refresh_error": ("last_refresh_error", _text),
    "throttled_until": ("throttled_until", _number),
    CLAIM_KEY: ("provisioning_claim", _claim),
}
