"""Data Prep in the Adobe emulator: mapping sets (versioned) and the mapper that applies them to rows.

Mapping sets as Data Prep keeps them: a create answers ``{"id", "version": 0, ...}``; a ``PUT`` of
the whole set keeps the id and makes the next version (older versions stay readable with
``?version=N``, and a flow keeps the version it names); reads answer Data Prep's own ``sourceType``
names (``text/x.schema-path`` for ``ATTRIBUTE``, ``text/x.aep-xl`` for ``EXPRESSION``).

The mapper evaluates exactly what the product emits (``domain/xdm.py`` ``mapping()``): an
``ATTRIBUTE`` (a CSV column) and the ``EXPRESSION`` ``date(Column, "pattern")`` with a Java
``DateTimeFormatter`` pattern of the letters ``yyyy MM dd HH mm ss SSS XXX`` and quoted literals.
Anything else is refused when the set is created, so a product change that emits a new form fails
here first. Values convert to the destination field's XDM type as Data Prep converts strings
(data-handling.md): booleans from ``y/yes/true/on`` and ``n/no/false/off``, integers, numbers; an
empty value is no value. A value that does not convert, or a required field without a value, makes
the row an error (the row is not ingested; the others are).

Error code the emulator chose: ``CNV-1001-400`` a mapping set that fails validation,
``CNV-1002-404`` not found.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from local.emulators.aep_common import Context, PlatformError, visible
from local.emulators.base import Request, Response

__all__ = ["CONVERSION_PREFIX", "DataPrep", "Mapper", "RowError"]

CONVERSION_PREFIX = "/data/foundation/conversion"
_READ_TYPES = {"ATTRIBUTE": "text/x.schema-path", "EXPRESSION": "text/x.aep-xl", "STATIC": "text/plain"}
_DATE_CALL = re.compile(r'date\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*,\s*"([^"]+)"\s*\)')
_TOKENS = re.compile(r"'[^']*'|yyyy|MM|dd|HH|mm|ss|SSS|XXX|[^A-Za-z']")  # a letter outside these is refused
_GROUPS = {
    "yyyy": r"(?P<year>\d{4})",
    "MM": r"(?P<month>\d{2})",
    "dd": r"(?P<day>\d{2})",
    "HH": r"(?P<hour>\d{2})",
    "mm": r"(?P<minute>\d{2})",
    "ss": r"(?P<second>\d{2})",
    "SSS": r"(?P<milli>\d{3})",
    "XXX": r"(?P<offset>Z|[+-]\d{2}:\d{2})",
}
_AUTOMATIC = {
    "date": ("yyyy-MM-dd",),
    "date-time": ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "yyyy-MM-dd'T'HH:mm:ss'Z'"),
}
_TRUE, _FALSE = frozenset({"y", "yes", "true", "on"}), frozenset({"n", "no", "false", "off"})


@dataclass(frozen=True)
class RowError:
    """One refused row: its number in the file (1 = the first data row), a code and a message."""

    row: int
    code: str
    message: str


class DataPrep:
    def __init__(self, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms
        self.sets: dict[str, dict[str, Any]] = {}  # id -> {"versions": [body, ...], sandboxName, imsOrgId}

    def version(self, mapping_id: str, version: int, ctx: Context) -> list[dict[str, Any]] | None:
        """The mappings of one version of a set (as created, ``ATTRIBUTE``/``EXPRESSION``), or None."""
        record = self.sets.get(mapping_id)
        if not visible(record, ctx) or record is None or not 0 <= version < len(record["versions"]):
            return None
        mappings: list[dict[str, Any]] = copy.deepcopy(record["versions"][version]["mappings"])
        return mappings

    # ---- HTTP ----------------------------------------------------------------------------------
    def handle(self, request: Request, ctx: Context) -> Response:
        parts = [unquote(p) for p in request.path[len(CONVERSION_PREFIX) :].split("/") if p]
        method = request.method
        if parts == ["mappingSets"] and method == "POST":
            body = _validated(request)
            mapping_id = secrets.token_hex(16)
            self.sets[mapping_id] = {"versions": [], "sandboxName": ctx.sandbox, "imsOrgId": ctx.org_id}
            return Response.json(self._add_version(mapping_id, body, ctx))
        if len(parts) == 2 and parts[0] == "mappingSets" and method in ("GET", "PUT"):
            record = self.sets.get(parts[1])
            if record is None or not visible(record, ctx):
                raise PlatformError("CNV-1002-404", f"Mapping set {parts[1]} was not found.", "Not found")
            if method == "PUT":
                return Response.json(self._add_version(parts[1], _validated(request), ctx))
            raw = request.query.get("version")
            number = int(raw) if raw is not None and raw.isdigit() else len(record["versions"]) - 1
            if number >= len(record["versions"]):
                raise PlatformError("CNV-1002-404", f"Mapping set {parts[1]} has no version {number}.", "Not found")
            return Response.json(_read_view(record["versions"][number]))
        return Response.json(
            {"error": "not_found", "message": f"emulator has no route for {method} {request.path}"}, 404
        )

    def _add_version(self, mapping_id: str, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        versions = self.sets[mapping_id]["versions"]
        now = self.now_ms()
        stored = {
            **copy.deepcopy(body),
            "id": mapping_id,
            "version": len(versions),
            "createdDate": versions[0]["createdDate"] if versions else now,
            "updatedDate": now,
            "createdBy": f"{ctx.client_id}@AdobeID",
            "updatedBy": f"{ctx.client_id}@AdobeID",
        }
        versions.append(stored)
        return {k: v for k, v in stored.items() if k != "mappings"}


class Mapper:
    """One mapping set version applied to rows, with the destination schema's types."""

    def __init__(
        self, mappings: list[dict[str, Any]], types: Mapping[str, tuple[str, str | None]], required: list[str]
    ) -> None:
        self.mappings = mappings
        self.types = types
        self.required = required

    def apply(self, number: int, row: Mapping[str, str]) -> dict[str, Any] | RowError:
        """The XDM record of one CSV row (nested by destination path), or the row's error."""
        record: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        for item in self.mappings:
            destination = str(item["destination"])
            try:
                value = self._value(item, row, destination)
            except ValueError as exc:
                return RowError(number, "MAPPER-3700-400", f"{destination}: {exc}")
            if value is not None:
                flat[destination] = value
                _put(record, destination, value)
        missing = [path for path in self.required if path not in flat]
        if missing:
            return RowError(number, "INGEST-1212-400", f"The required field {missing[0]} has no value.")
        return record

    def _value(self, item: Mapping[str, Any], row: Mapping[str, str], destination: str) -> Any:
        kind, fmt = self.types.get(destination, ("string", None))
        if item["sourceType"] == "ATTRIBUTE":
            raw = row.get(str(item["source"]), "")
            return _convert(raw, kind, fmt) if raw != "" else None
        column, pattern = _date_call(str(item["source"]))
        raw = row.get(column, "")
        if raw == "":
            return None
        parsed = _parse_date(raw, pattern)
        if fmt == "date":
            return parsed.date().isoformat()
        return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _validated(request: Request) -> dict[str, Any]:
    """A mapping set body the mapper can run, else ``CNV-1001-400`` (nothing is stored)."""
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlatformError("CNV-1001-400", "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise PlatformError("CNV-1001-400", "Validation failed: the body must be a mapping set object.")
    ref = (body.get("outputSchema") or {}).get("schemaRef", {})
    if not isinstance(ref, dict) or not ref.get("id") or not isinstance(body.get("mappings"), list):
        raise PlatformError("CNV-1001-400", "Validation failed: outputSchema.schemaRef.id and mappings are required.")
    for item in body["mappings"]:
        if not isinstance(item, dict) or not item.get("source") or not item.get("destination"):
            raise PlatformError("CNV-1001-400", "Validation failed: every mapping needs source and destination.")
        if item.get("sourceType") == "EXPRESSION":
            _date_call(str(item["source"]))
        elif item.get("sourceType") != "ATTRIBUTE":
            raise PlatformError("CNV-1001-400", f"Unsupported sourceType {item.get('sourceType')!r} in the emulator.")
    return body


def _date_call(source: str) -> tuple[str, str]:
    match = _DATE_CALL.fullmatch(source.strip())
    if match is None or "".join(_TOKENS.findall(match.group(2))) != match.group(2):
        raise PlatformError("CNV-1001-400", f"Unsupported expression in the emulator: {source}")
    return match.group(1), match.group(2)


def _parse_date(raw: str, pattern: str) -> datetime:
    regex = "".join(_GROUPS.get(t, re.escape(t.strip("'"))) for t in _TOKENS.findall(pattern))
    match = re.fullmatch(regex, raw.strip())
    if match is None:
        raise ValueError(f"the value '{raw}' does not match the date format {pattern}")
    parts = match.groupdict()
    offset = parts.get("offset") or "Z"
    zone = UTC if offset == "Z" else timezone(_offset(offset))
    try:
        return datetime(
            int(parts["year"]),
            int(parts.get("month") or 1),
            int(parts.get("day") or 1),
            int(parts.get("hour") or 0),
            int(parts.get("minute") or 0),
            int(parts.get("second") or 0),
            int(parts.get("milli") or 0) * 1000,
            tzinfo=zone,
        )
    except ValueError as exc:
        raise ValueError(f"the value '{raw}' is not a valid date") from exc


def _offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = text[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


def _convert(raw: str, kind: str, fmt: str | None) -> Any:
    if kind == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"the value '{raw}' is not a boolean")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d+", raw.strip()):
            raise ValueError(f"the value '{raw}' is not an integer")
        return int(raw)
    if kind == "number":
        try:
            return float(raw)
        except ValueError as exc:
            raise ValueError(f"the value '{raw}' is not a number") from exc
    if fmt in ("date", "date-time"):
        return _automatic_date(raw, fmt)
    return raw


def _automatic_date(raw: str, fmt: str) -> str:
    """A date without ``date()``: only Data Prep's automatic patterns (none fits Zoho's ``...:ssXXX``)."""
    for pattern in _AUTOMATIC[fmt]:
        try:
            parsed = _parse_date(raw, pattern)
        except ValueError:
            continue
        return parsed.date().isoformat() if fmt == "date" else parsed.isoformat().replace("+00:00", "Z")
    raise ValueError(f"the value '{raw}' matches none of the automatic date formats")


def _put(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        record = record.setdefault(part, {})
    record[leaf] = value


def _read_view(stored: dict[str, Any]) -> dict[str, Any]:
    view = copy.deepcopy(stored)
    for item in view["mappings"]:
        item["sourceType"] = _READ_TYPES.get(item.get("sourceType"), item.get("sourceType"))
    return view
