"""The export unit queue's message: which unit to run, whether as a full export, how often it was tried."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ...config.settings import parse_modules
from ...domain.errors import ConfigError, ExportRequestInvalid, ZohoAepError
from ...domain.export import ExportUnit
from ...domain.names import check_connection_name

UNIT_KIND = "zoho-aep/export-unit"
MAX_ATTEMPTS = 12  # a unit that keeps being handed back (passing failures) is left to the next schedule


@dataclass(frozen=True)
class UnitMessage:
    unit: ExportUnit
    full: bool = False
    attempt: int = 0

    def to_message(self) -> str:
        return json.dumps(
            {
                "kind": UNIT_KIND,
                "connection": self.unit.connection,
                "module": self.unit.module,
                "full": self.full,
                "attempt": self.attempt,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: object) -> UnitMessage:
        """Parse and check a unit message; anything unexpected raises ExportRequestInvalid."""
        try:
            data = json.loads(body) if isinstance(body, str) else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("kind") != UNIT_KIND:
            raise ExportRequestInvalid("Not an export unit message.")
        full, attempt = data.get("full"), data.get("attempt")
        if not isinstance(full, bool) or not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
            raise ExportRequestInvalid("An export unit message is incomplete.")
        try:
            connection = check_connection_name(data.get("connection"))
            (module,) = parse_modules(str(data.get("module") or ""), "module")
        except (ZohoAepError, ConfigError, ValueError) as exc:
            raise ExportRequestInvalid("An export unit message names an invalid connection or module.") from exc
        return cls(ExportUnit(connection, module), full, attempt)
