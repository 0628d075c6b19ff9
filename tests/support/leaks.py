"""Seeding and hunting secrets: every token the emulators hand out is recorded, then searched for."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from local.emulators.base import Response

MIN_NEEDLE = 6  # shorter values are not secrets worth finding (and would match by chance)


class TokenRecorder:
    """Wraps the Zoho emulator's token answers to remember every token and code it hands out."""

    def __init__(self, zoho: Any) -> None:
        self.values: set[str] = set()
        original = zoho._token_answer

        def recording(payload: dict[str, Any], dc: str) -> Response:
            for key in ("access_token", "refresh_token"):
                if isinstance(payload.get(key), str):
                    self.values.add(payload[key])
            return original(payload, dc)

        zoho._token_answer = recording
        self.zoho = zoho

    def seen_codes_and_states(self) -> set[str]:
        found: set[str] = set()
        for request in self.zoho.requests:
            for key in ("code", "state", "token", "refresh_token", "client_secret", "code_verifier"):
                for source in (request.form, request.query):
                    if source.get(key):
                        found.add(source[key])
        return found


def adobe_secrets(adobe: Any) -> set[str]:
    """What went to the Adobe emulator that must stay secret: the IMS client secret, the bearer
    tokens, and the credentials handed over in base-connection bodies (Zoho's, the S3 reader's)."""
    found: set[str] = set()
    for request in adobe.requests:
        if request.path.endswith("/token/v3"):
            found.add(request.form.get("client_secret", ""))
        bearer = request.header("authorization") or ""
        found.add(bearer.split(" ", 1)[-1])
        if request.method in ("POST", "PATCH") and request.body:
            try:
                found.update(_auth_params(json.loads(request.body)))
            except ValueError:
                continue
    return {value for value in found if len(value) >= MIN_NEEDLE}


def _auth_params(body: Any) -> list[str]:
    """The secret ``auth.params`` of a create body, or of the values of a JSON-Patch list."""
    if isinstance(body, list):
        return [v for op in body if isinstance(op, dict) for v in _auth_params({"auth": {"params": op.get("value")}})]
    auth = body.get("auth") if isinstance(body, dict) else None
    params = auth.get("params") if isinstance(auth, dict) else None
    if not isinstance(params, dict):
        return []
    keys = ("clientSecret", "accessToken", "refreshToken", "s3SecretKey", "s3SessionToken")
    return [str(params[k]) for k in keys if params.get(k)]


def find_leaks(haystacks: list[str], needles: set[str]) -> list[tuple[str, str]]:
    """(needle, context) for each needle of at least 6 characters found in any haystack."""
    leaks = []
    for text in haystacks:
        for needle in needles:
            if len(needle) >= MIN_NEEDLE and needle in text:
                start = max(0, text.index(needle) - 40)
                leaks.append((needle[:4] + "...", text[start : start + 80].replace(needle, "<LEAK>")))
    return leaks


class LeakHunt:
    """One scenario's secrets (seeded, minted by the emulators, sent in links) and everything it
    produced for people and machines to read (log records, output, pages, events, errors)."""

    def __init__(self) -> None:
        self.needles: set[str] = set()
        self.haystacks: list[tuple[str, str]] = []
        self._zoho: list[TokenRecorder] = []
        self._adobe: list[Any] = []

    def secret(self, *values: object) -> None:
        self.needles.update(v for v in values if isinstance(v, str) and len(v) >= MIN_NEEDLE)

    def watch_zoho(self, zoho: Any) -> None:
        """Record every token the Zoho emulator mints from now on, and every code or state it sees."""
        self._zoho.append(TokenRecorder(zoho))

    def watch_adobe(self, adobe: Any) -> None:
        self._adobe.append(adobe)

    def look_in(self, where: str, *texts: Any) -> None:
        for text in texts:
            self.haystacks.append((where, text if isinstance(text, str) else json.dumps(text, default=str)))

    def look_in_records(self, records: Iterable[logging.LogRecord]) -> None:
        """Log records as the product handed them over, before any formatter could mask anything."""
        for record in records:
            self.look_in("log record", f"{record.getMessage()} {json.dumps(record.__dict__, default=str)}")

    def all_needles(self) -> set[str]:
        needles = set(self.needles)
        for recorder in self._zoho:
            needles |= recorder.values | recorder.seen_codes_and_states()
        for adobe in self._adobe:
            needles |= adobe_secrets(adobe)
        return {n for n in needles if len(n) >= MIN_NEEDLE}

    def leaks(self) -> list[tuple[str, str, str]]:
        """(where, needle prefix, context) for every secret found in anything produced."""
        needles = self.all_needles()
        found: list[tuple[str, str, str]] = []
        for where, text in self.haystacks:
            found += [(where, needle, context) for needle, context in find_leaks([text], needles)]
        return found
