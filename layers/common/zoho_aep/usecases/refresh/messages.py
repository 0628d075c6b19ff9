"""The refresh fan-out's messages: a shard of due connections, and a worker's result for it.

A shard carries every tag the planner's listing showed for its connections (names and codes, never
a secret), so a worker decides exactly as a single invocation would: nothing to keep in step when a
new tag is added.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...domain.connection import TAG_STATUS, ConnectionSummary
from ...domain.errors import BadRequest, RefreshShardInvalid
from ...domain.names import check_connection_name
from .outcomes import ERROR, ConnectionOutcome, CycleReport

SHARD_KIND = "zoho-aep/refresh-shard"
RESULT_KIND = "zoho-aep/refresh-shard-result"
# SQS takes messages up to 256 KiB; a shard is cut before this many bytes of JSON.
MAX_MESSAGE_BYTES = 200_000
# AWS tag limits: what a shard may carry as a listed tag.
_TAG_KEY = re.compile(r"[\w.:/=+@ -]{1,128}")  # matched whole (fullmatch)
_MAX_TAG_VALUE = 256


@dataclass(frozen=True)
class Shard:
    """Part of one cycle's due connections, and the time by which its work must be done."""

    cycle: str
    index: int
    count: int
    not_after: float  # epoch seconds: the planner's end minus its margin
    force: bool
    connections: tuple[ConnectionSummary, ...]

    def to_message(self) -> str:
        return json.dumps(
            {
                "kind": SHARD_KIND,
                "cycle": self.cycle,
                "index": self.index,
                "count": self.count,
                "not_after": self.not_after,
                "force": self.force,
                "connections": [_item(summary) for summary in self.connections],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: object, prefix: str) -> Shard:
        """Parse and check a shard message; anything unexpected raises RefreshShardInvalid."""
        data = _json_object(body, SHARD_KIND)
        cycle, index, count = data.get("cycle"), data.get("index"), data.get("count")
        not_after, force, items = data.get("not_after"), data.get("force"), data.get("connections")
        if not isinstance(cycle, str) or not 0 < len(cycle) <= 64:
            raise RefreshShardInvalid("A refresh shard names no cycle.")
        if not isinstance(index, int) or not isinstance(count, int) or not 0 <= index < count:
            raise RefreshShardInvalid("A refresh shard has no valid position in its cycle.")
        if isinstance(not_after, bool) or not isinstance(not_after, (int, float)) or not isinstance(force, bool):
            raise RefreshShardInvalid("A refresh shard has no deadline.")
        if not isinstance(items, list) or not items:
            raise RefreshShardInvalid("A refresh shard lists no connections.")
        return cls(cycle, index, count, float(not_after), force, tuple(_summary(item, prefix) for item in items))


def _item(summary: ConnectionSummary) -> dict[str, Any]:
    return {"name": summary.name, "tags": dict(summary.tags)}


def _is_tag(key: object, value: object) -> bool:
    return (
        isinstance(key, str)
        and bool(_TAG_KEY.fullmatch(key))
        and isinstance(value, str)
        and len(value) <= _MAX_TAG_VALUE
    )


def _summary(item: object, prefix: str) -> ConnectionSummary:
    if not isinstance(item, Mapping):
        raise RefreshShardInvalid("A refresh shard's connection is not an object.")
    tags = item.get("tags")
    if not isinstance(tags, Mapping) or not all(_is_tag(k, v) for k, v in tags.items()):
        raise RefreshShardInvalid("A refresh shard's connection carries tags that are not tags.")
    try:
        name = check_connection_name(item.get("name"))
    except BadRequest as exc:
        raise RefreshShardInvalid("A refresh shard names an invalid connection.") from exc
    return ConnectionSummary(name=name, secret_name=f"{prefix}/connections/{name}", tags=dict(tags))


def _json_object(body: object, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise RefreshShardInvalid(f"Not a {kind} message.")
    return data


@dataclass(frozen=True)
class ShardResult:
    """A worker's answer: one outcome per connection of the shard (names, codes and times only)."""

    cycle: str
    index: int
    outcomes: tuple[ConnectionOutcome, ...]

    @classmethod
    def of(cls, shard: Shard, report: CycleReport) -> ShardResult:
        outcomes = list(report.outcomes)
        if report.error is not None:
            # The whole shard failed (e.g. the Zoho client secret vanished): every connection says why.
            done = {o.connection for o in outcomes}
            outcomes += [
                ConnectionOutcome(s.name, ERROR, report.error.code, s.tags.get(TAG_STATUS))
                for s in shard.connections
                if s.name not in done
            ]
        return cls(shard.cycle, shard.index, tuple(outcomes))

    def to_message(self) -> str:
        return json.dumps(
            {
                "kind": RESULT_KIND,
                "cycle": self.cycle,
                "index": self.index,
                "outcomes": [o.as_dict() for o in self.outcomes],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: object) -> ShardResult:
        data = _json_object(body, RESULT_KIND)
        cycle, index, outcomes = data.get("cycle"), data.get("index"), data.get("outcomes")
        if not isinstance(cycle, str) or not isinstance(index, int) or not isinstance(outcomes, list):
            raise RefreshShardInvalid("A refresh shard result is incomplete.")
        return cls(cycle, index, tuple(_outcome(o) for o in outcomes))


_OUTCOME_TEXT = ("reason", "status")
_OUTCOME_INT = ("expires_at", "retry_after")


def _outcome(data: object) -> ConnectionOutcome:
    if not isinstance(data, Mapping) or not isinstance(data.get("connection"), str):
        raise RefreshShardInvalid("A refresh shard result holds an unreadable outcome.")
    if not isinstance(data.get("outcome"), str):
        raise RefreshShardInvalid("A refresh shard result holds an outcome without a name.")
    text = {k: data[k] for k in _OUTCOME_TEXT if isinstance(data.get(k), str)}
    ints = {k: data[k] for k in _OUTCOME_INT if isinstance(data.get(k), int) and not isinstance(data.get(k), bool)}
    return ConnectionOutcome(
        connection=data["connection"],
        outcome=data["outcome"],
        reason=text.get("reason"),
        status=text.get("status"),
        expires_at=ints.get("expires_at"),
        retry_after=ints.get("retry_after"),
        recovered=data.get("recovered") is True,
    )


def make_shards(
    cycle: str,
    due: Sequence[ConnectionSummary],
    *,
    force: bool,
    not_after: float,
    size: int,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> list[Shard]:
    """Cut ``due`` into shards of at most ``size`` connections and ``max_bytes`` of message each."""
    groups: list[list[ConnectionSummary]] = []
    current: list[ConnectionSummary] = []
    used = 0
    for summary in due:
        cost = len(json.dumps(_item(summary), separators=(",", ":"))) + 1
        if current and (len(current) >= size or used + cost > max_bytes):
            groups.append(current)
            current, used = [], 0
        current.append(summary)
        used += cost
    if current:
        groups.append(current)
    return [Shard(cycle, i, len(groups), not_after, force, tuple(group)) for i, group in enumerate(groups)]
