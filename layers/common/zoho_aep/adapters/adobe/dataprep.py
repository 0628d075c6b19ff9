"""Adobe's Data Prep in one sandbox: mapping sets.

A create answers 200 with ``{"id", "version": 0}``; a ``PUT`` of the whole mapping set keeps its id
and bumps its version (a flow keeps the version it names until it is patched). Reads answer Data
Prep's own ``sourceType`` names (``text/x.schema-path``), so sets are compared by source and
destination only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...domain.errors import AdobeResponseInvalid
from .platform import PlatformApi, segment

CONVERSION_PATH = "/data/foundation/conversion"


@dataclass(frozen=True)
class MappingSet:
    id: str
    version: int
    mappings: list[dict[str, Any]]

    @classmethod
    def from_body(cls, body: Any, what: str) -> MappingSet:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            raise AdobeResponseInvalid(f"Data Prep answered {what} without an id.")
        version = body.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise AdobeResponseInvalid(f"Data Prep answered {what} without a version.")
        mappings = body.get("mappings")
        listed = mappings if isinstance(mappings, list) else []
        return cls(body["id"], version, [m for m in listed if isinstance(m, dict)])

    def same_mappings(self, wanted: list[dict[str, str]]) -> bool:
        """Whether the set maps what ``wanted`` maps (Data Prep answers its own ``sourceType`` names)."""

        def key(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
            return sorted((str(m.get("source")), str(m.get("destination"))) for m in items)

        return key(self.mappings) == key(list(wanted))


class DataPrepClient(PlatformApi):
    service_path = CONVERSION_PATH

    def create_mapping_set(self, body: Mapping[str, Any]) -> MappingSet:
        answer = self._call(
            "POST", "/mappingSets", json_body=dict(body), policy=self._once(), what="the mapping set create"
        ).json_or_none()
        created = MappingSet.from_body(answer, "the mapping set create")
        return MappingSet(created.id, created.version, list(body.get("mappings", [])))

    def get_mapping_set(self, mapping_id: str) -> MappingSet:
        body = self._call("GET", f"/mappingSets/{segment(mapping_id)}", what="the mapping set read").json_or_none()
        return MappingSet.from_body(body, "the mapping set read")

    def update_mapping_set(self, mapping_id: str, body: Mapping[str, Any]) -> MappingSet:
        """``PUT`` the whole set: same id, the next version."""
        answer = self._call(
            "PUT", f"/mappingSets/{segment(mapping_id)}", json_body=dict(body), what="the mapping set update"
        ).json_or_none()
        updated = MappingSet.from_body(answer, "the mapping set update")
        return MappingSet(updated.id, updated.version, list(body.get("mappings", [])))
