"""Seeding and hunting secrets: every token the Zoho emulator mints is recorded, then searched for."""

from __future__ import annotations

from typing import Any

from local.emulators.base import Response


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
            for key in ("code", "state", "token", "refresh_token", "client_secret"):
                for source in (request.form, request.query):
                    if source.get(key):
                        found.add(source[key])
        return found


def find_leaks(haystacks: list[str], needles: set[str]) -> list[tuple[str, str]]:
    """(needle, context) for each needle of at least 6 characters found in any haystack."""
    leaks = []
    for text in haystacks:
        for needle in needles:
            if len(needle) >= 6 and needle in text:
                start = max(0, text.index(needle) - 40)
                leaks.append((needle[:4] + "...", text[start : start + 80].replace(needle, "<LEAK>")))
    return leaks
