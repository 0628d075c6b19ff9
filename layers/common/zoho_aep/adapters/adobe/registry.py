"""Adobe's Schema Registry in one sandbox: the tenant id, classes, field groups, schemas, descriptors.

Resources are found by title (``property=title==...``: titles are unique across every kind of a
sandbox, which is what makes a lookup by title a safe idempotency key), read by their ``meta:altId``
or URL-encoded ``$id``, and field groups are changed with JSON Patch, additive only. Reads need an
``Accept`` header with a version (``application/vnd.adobe.xed-full+json; version=1``); lists take
``application/vnd.adobe.xed-id+json``. Registry lists page with ``_page.next`` (``start``), not
Flow Service's links.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...domain.errors import AdobeResponseInvalid
from .platform import PlatformApi, segment

REGISTRY_PATH = "/data/foundation/schemaregistry"
ACCEPT_FULL = "application/vnd.adobe.xed-full+json; version=1"
ACCEPT_IDS = "application/vnd.adobe.xed-id+json"
KINDS = ("classes", "fieldgroups", "schemas")
MAX_PAGES = 20


@dataclass(frozen=True)
class Resource:
    """A class, field group or schema: its ``$id``, ``meta:altId``, title and version."""

    id: str
    alt_id: str
    title: str
    version: str
    body: dict[str, Any]

    @classmethod
    def from_body(cls, body: Any, what: str) -> Resource:
        if not isinstance(body, dict):
            raise AdobeResponseInvalid(f"Schema Registry answered {what} with something other than an object.")
        rid, alt = body.get("$id"), body.get("meta:altId")
        if not isinstance(rid, str) or not rid or not isinstance(alt, str) or not alt:
            raise AdobeResponseInvalid(f"Schema Registry answered {what} without $id or meta:altId.")
        return cls(rid, alt, str(body.get("title") or ""), str(body.get("version") or ""), body)

    def properties(self, tenant: str, container: str) -> dict[str, Any]:
        """The fields of a generated field group (``_{tenant}.{container}``), by name."""
        for definition in (self.body.get("definitions") or {}).values():
            if not isinstance(definition, dict):
                continue
            ours = (definition.get("properties") or {}).get(f"_{tenant}")
            inner = (ours or {}).get("properties", {}).get(container) if isinstance(ours, dict) else None
            if isinstance(inner, dict) and isinstance(inner.get("properties"), dict):
                return dict(inner["properties"])
        return {}


class SchemaRegistryClient(PlatformApi):
    service_path = REGISTRY_PATH

    def tenant_id(self) -> str:
        """``GET /stats``: the org's tenant id (custom fields live under ``_{tenantId}``)."""
        body = self._call("GET", "/stats", what="the registry stats").json_or_none()
        tenant = body.get("tenantId") if isinstance(body, dict) else None
        if not isinstance(tenant, str) or not tenant.replace("_", "").isalnum():
            raise AdobeResponseInvalid("Schema Registry answered the stats without a usable tenant id.")
        return tenant

    def find(self, kind: str, title: str) -> list[Resource]:
        """The ``kind`` resources of the tenant titled ``title`` (summaries: $id, altId, version)."""
        params = [("property", f"title=={title}")]
        found: list[Resource] = []
        for _ in range(MAX_PAGES):
            body = self._call(
                "GET", f"/tenant/{kind}", params=params, headers={"Accept": ACCEPT_IDS}, what=f"the {kind} list"
            ).json_or_none()
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise AdobeResponseInvalid(f"Schema Registry answered the {kind} list without results.")
            found += [Resource.from_body(r, f"the {kind} list") for r in results if isinstance(r, dict)]
            page = body.get("_page") if isinstance(body.get("_page"), dict) else {}
            start = page.get("next")
            if not start:
                break
            params = [("property", f"title=={title}"), ("start", str(start))]
        return [r for r in found if r.title == title]

    def get(self, kind: str, resource_id: str) -> Resource:
        body = self._call(
            "GET", f"/tenant/{kind}/{segment(resource_id)}", headers={"Accept": ACCEPT_FULL}, what=f"the {kind} read"
        ).json_or_none()
        return Resource.from_body(body, f"the {kind} read")

    def create(self, kind: str, body: Mapping[str, Any]) -> Resource:
        answer = self._call(
            "POST", f"/tenant/{kind}", json_body=dict(body), policy=self._once(), what=f"the {kind} create"
        ).json_or_none()
        return Resource.from_body(answer, f"the {kind} create")

    def patch(self, kind: str, resource_id: str, operations: Sequence[Mapping[str, Any]]) -> Resource:
        answer = self._call(
            "PATCH",
            f"/tenant/{kind}/{segment(resource_id)}",
            json_body=[dict(op) for op in operations],
            what=f"the {kind} update",
        ).json_or_none()
        return Resource.from_body(answer, f"the {kind} update")

    def delete(self, kind: str, resource_id: str) -> None:
        self._call("DELETE", f"/tenant/{kind}/{segment(resource_id)}", what=f"the {kind} delete")

    def create_descriptor(self, body: Mapping[str, Any]) -> str:
        answer = self._call(
            "POST", "/tenant/descriptors", json_body=dict(body), policy=self._once(), what="the descriptor create"
        ).json_or_none()
        descriptor = answer.get("@id") if isinstance(answer, dict) else None
        if not isinstance(descriptor, str) or not descriptor:
            raise AdobeResponseInvalid("Schema Registry answered the descriptor create without an @id.")
        return descriptor
