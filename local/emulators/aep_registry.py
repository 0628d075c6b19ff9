"""The Schema Registry of the Adobe emulator: tenant classes, field groups, schemas and descriptors.

Behaviour, as Adobe's Schema Registry API documents it: ``GET /stats`` names the org's ``tenantId``
(custom fields live under ``_{tenantId}``); lists answer ``{"results", "_page", "_links"}`` with a
``property=title==X`` filter and need ``Accept: application/vnd.adobe.xed-id+json``; reads need an
``Accept`` with a version (``application/vnd.adobe.xed-full+json; version=1``) and take the
URL-encoded ``$id`` or the ``meta:altId``; titles are unique per kind in a sandbox (``XDM-1521-400``);
a field group changes only with additive JSON Patch (AEP refuses removing a field or changing its
type once a schema is in use; the emulator refuses it always).

Error codes the emulator chose where Adobe's catalogue does not fit exactly: ``XDM-1008-406`` an
unusable ``Accept``, ``XDM-1010-404`` not found, ``XDM-1020-400`` a body that fails validation,
``XDM-1022-400`` a JSON Patch that is not additive.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from local.emulators.aep_common import Context, PlatformError, visible
from local.emulators.base import Request, Response

__all__ = ["REGISTRY_PREFIX", "TENANT_ID", "SchemaRegistry"]

REGISTRY_PREFIX = "/data/foundation/schemaregistry"
TENANT_ID = "zohoaeptenant"  # what /stats answers; fields live under "_zohoaeptenant"
XED_ID = "application/vnd.adobe.xed-id+json"
_SEGMENT = {"classes": "classes", "fieldgroups": "mixins", "schemas": "schemas"}  # the $id's path part
_CLASS_BEHAVIOURS = ("https://ns.adobe.com/xdm/data/record", "https://ns.adobe.com/xdm/data/time-series")


class SchemaRegistry:
    """Resources per org and sandbox; ``now_ms`` is the emulator's clock."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms
        self.resources: dict[str, dict[str, Any]] = {}  # $id -> stored body (sandboxName, imsOrgId included)
        self.descriptors: dict[str, dict[str, Any]] = {}

    # ---- for the rest of the emulator --------------------------------------------------------
    def find(self, resource_id: str, ctx: Context, kind: str | None = None) -> dict[str, Any] | None:
        """A resource by ``$id`` or ``meta:altId`` in the caller's sandbox (and of ``kind``)."""
        for record in self.resources.values():
            ours = resource_id in (record["$id"], record["meta:altId"]) and visible(record, ctx)
            if ours and kind in (None, record["meta:kind"]):
                return record
        return None

    def field_types(self, schema_id: str, ctx: Context) -> dict[str, tuple[str, str | None]]:
        """The schema's fields by dotted path (``_tenant.zohoCrm.Email``): their type and format."""
        schema = self.find(schema_id, ctx, "schemas")
        fields: dict[str, tuple[str, str | None]] = {}
        for ref in (schema or {}).get("allOf", []):
            group = self.find(str(ref.get("$ref")), ctx, "fieldgroups") if isinstance(ref, dict) else None
            for definition in (group or {}).get("definitions", {}).values():
                fields.update(dict(_leaves(definition.get("properties", {}), "")))
        return fields

    def required(self, schema_id: str, ctx: Context) -> list[str]:
        """The dotted paths the schema's field groups mark required."""
        schema = self.find(schema_id, ctx, "schemas")
        out: list[str] = []
        for ref in (schema or {}).get("allOf", []):
            group = self.find(str(ref.get("$ref")), ctx, "fieldgroups") if isinstance(ref, dict) else None
            for definition in (group or {}).get("definitions", {}).values():
                out.extend(_required(definition.get("properties", {}), ""))
        return out

    # ---- HTTP ----------------------------------------------------------------------------------
    def handle(self, request: Request, ctx: Context) -> Response:
        parts = [unquote(p) for p in request.path[len(REGISTRY_PREFIX) :].split("/") if p]
        method = request.method
        if parts == ["stats"] and method == "GET":
            return Response.json({"tenantId": TENANT_ID, "counts": self._counts(ctx), "recentlyCreatedResources": []})
        if len(parts) >= 2 and parts[0] == "tenant" and parts[1] in _SEGMENT:
            kind = parts[1]
            if len(parts) == 2 and method == "GET":
                return self._list(request, ctx, kind)
            if len(parts) == 2 and method == "POST":
                return self._create(request, ctx, kind)
            if len(parts) == 3:
                record = self.find(parts[2], ctx, kind)
                if record is None:
                    raise PlatformError("XDM-1010-404", f"The requested {kind} resource {parts[2]} was not found.")
                if method == "GET":
                    _check_accept(request, versioned=True)
                    return Response.json(_view(record))
                if method == "PATCH" and kind == "fieldgroups":
                    return self._patch(request, record)
                if method == "DELETE":
                    del self.resources[record["$id"]]
                    return Response(204)
        if parts == ["tenant", "descriptors"] and method == "POST":
            return self._descriptor(request, ctx)
        return Response.json(
            {"error": "not_found", "message": f"emulator has no route for {method} {request.path}"}, 404
        )

    def _counts(self, ctx: Context) -> dict[str, int]:
        kinds = [r["meta:kind"] for r in self.resources.values() if visible(r, ctx)]
        return {kind: kinds.count(kind) for kind in _SEGMENT}

    def _list(self, request: Request, ctx: Context, kind: str) -> Response:
        _check_accept(request, versioned=False)
        wanted = _title_filter(request.query.get("property"))
        listed = [
            {k: r[k] for k in ("$id", "meta:altId", "version", "title")}
            for r in self.resources.values()
            if visible(r, ctx) and r["meta:kind"] == kind and (wanted is None or r["title"] == wanted)
        ]
        page = {"orderby": "title", "next": None, "count": len(listed)}
        return Response.json({"results": listed, "_page": page, "_links": {}})

    def _create(self, request: Request, ctx: Context, kind: str) -> Response:
        body = _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"].strip():
            raise PlatformError("XDM-1020-400", "Validation failed: 'title' is required and must be a string.")
        if body.get("type") != "object" or not isinstance(body.get("allOf", []), list):
            raise PlatformError("XDM-1020-400", "Validation failed: 'type' must be 'object' and 'allOf' a list.")
        _check_kind_body(kind, body)
        if any(
            visible(r, ctx) and r["meta:kind"] == kind and r["title"] == body["title"] for r in self.resources.values()
        ):
            raise PlatformError(
                "XDM-1521-400", f"A resource with the title '{body['title']}' already exists.", "Title conflict"
            )
        for ref in body.get("allOf", []):
            target = ref.get("$ref") if isinstance(ref, dict) else None
            ours = isinstance(target, str) and target.startswith("https://ns.adobe.com/" + TENANT_ID)
            if ours and self.find(str(target), ctx) is None:
                raise PlatformError(
                    "XDM-1020-400", f"Validation failed: the referenced resource {target} does not exist."
                )
        token = secrets.token_hex(20)
        now = self.now_ms()
        record = copy.deepcopy(body)
        record.update(
            {
                "$id": f"https://ns.adobe.com/{TENANT_ID}/{_SEGMENT[kind]}/{token}",
                "meta:altId": f"_{TENANT_ID}.{_SEGMENT[kind]}.{token}",
                "meta:resourceType": kind,
                "meta:kind": kind,
                "meta:tenantNamespace": f"_{TENANT_ID}",
                "meta:sandboxId": ctx.sandbox,
                "version": "1.0",
                "meta:created": now,
                "meta:updated": now,
                "sandboxName": ctx.sandbox,
                "imsOrgId": ctx.org_id,
            }
        )
        self.resources[record["$id"]] = record
        return Response.json(_view(record), 201)

    def _patch(self, request: Request, record: dict[str, Any]) -> Response:
        operations = _json(request)
        if not isinstance(operations, list) or not operations:
            raise PlatformError("XDM-1020-400", "Validation failed: a JSON Patch body must be a non-empty list.")
        updated = copy.deepcopy(record)
        for operation in operations:
            _apply_additive(updated, operation)
        major, _, minor = str(updated["version"]).partition(".")
        updated["version"] = f"{major}.{int(minor or 0) + 1}"
        updated["meta:updated"] = self.now_ms()
        self.resources[record["$id"]] = updated
        return Response.json(_view(updated))

    def _descriptor(self, request: Request, ctx: Context) -> Response:
        body = _json(request)
        if not isinstance(body, dict) or body.get("@type") != "xdm:descriptorIdentity":
            raise PlatformError("XDM-1020-400", "Validation failed: only xdm:descriptorIdentity is supported here.")
        schema_id = str(body.get("xdm:sourceSchema"))
        if self.find(schema_id, ctx, "schemas") is None:
            raise PlatformError("XDM-1020-400", f"Validation failed: the schema {schema_id} does not exist.")
        wanted = str(body.get("xdm:sourceProperty", "")).strip("/").replace("/", ".")
        if wanted not in self.field_types(schema_id, ctx):
            raise PlatformError("XDM-1020-400", f"Validation failed: the schema has no field {wanted}.")
        descriptor = {
            **copy.deepcopy(body),
            "@id": secrets.token_hex(20),
            "sandboxName": ctx.sandbox,
            "imsOrgId": ctx.org_id,
        }
        self.descriptors[descriptor["@id"]] = descriptor
        return Response.json({k: v for k, v in descriptor.items() if k not in ("sandboxName", "imsOrgId")}, 201)


# ---- helpers ------------------------------------------------------------------------------------
def _json(request: Request) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlatformError("XDM-1020-400", "The request body is not valid JSON.") from exc


def _check_accept(request: Request, *, versioned: bool) -> None:
    accept = (request.header("accept") or "").replace(" ", "").lower()
    ok = "version=" in accept and "vnd.adobe.xed" in accept if versioned else XED_ID in accept or "xed+json" in accept
    if not ok:
        wanted = "application/vnd.adobe.xed-full+json; version=1" if versioned else XED_ID
        raise PlatformError("XDM-1008-406", f"The Accept header must name a supported type, such as {wanted}.")


def _check_kind_body(kind: str, body: dict[str, Any]) -> None:
    refs = [r.get("$ref") for r in body.get("allOf", []) if isinstance(r, dict)]
    if kind == "classes" and not any(r in _CLASS_BEHAVIOURS for r in refs):
        raise PlatformError("XDM-1020-400", "Validation failed: a class must extend a record or time-series behaviour.")
    if kind == "fieldgroups" and not body.get("meta:intendedToExtend"):
        raise PlatformError("XDM-1020-400", "Validation failed: a field group needs 'meta:intendedToExtend'.")
    if kind == "schemas" and not refs:
        raise PlatformError("XDM-1020-400", "Validation failed: a schema needs a class in 'allOf'.")


def _title_filter(raw: str | None) -> str | None:
    if raw is None:
        return None
    field, found, value = raw.partition("==")
    if not found or field != "title":
        raise PlatformError("XDM-1020-400", f"Unsupported property filter {raw}.")
    return value


def _view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in record.items() if k not in ("sandboxName", "imsOrgId", "meta:kind")}


def _leaves(properties: dict[str, Any], prefix: str) -> Iterator[tuple[str, tuple[str, str | None]]]:
    for name, spec in properties.items():
        if not isinstance(spec, dict):
            continue
        path = f"{prefix}{name}"
        if spec.get("type") == "object" and isinstance(spec.get("properties"), dict):
            yield from _leaves(spec["properties"], path + ".")
        else:
            yield path, (str(spec.get("type", "string")), spec.get("format"))


def _required(properties: dict[str, Any], prefix: str) -> Iterator[str]:
    for name, spec in properties.items():
        if isinstance(spec, dict) and spec.get("type") == "object":
            path = f"{prefix}{name}"
            yield from (f"{path}.{r}" for r in spec.get("required", []))
            yield from _required(spec.get("properties", {}), path + ".")


def _apply_additive(record: dict[str, Any], operation: Any) -> None:
    """One JSON Patch ``add`` (or a ``replace`` of title/description); anything that removes or
    retypes an existing field is refused, as AEP refuses non-additive changes."""
    if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
        raise PlatformError("XDM-1020-400", "Validation failed: each patch operation needs 'op' and 'path'.")
    op, path = str(operation.get("op", "")).lower(), operation["path"]
    steps = [s.replace("~1", "/").replace("~0", "~") for s in path.strip("/").split("/")]
    if op == "replace" and steps in (["title"], ["description"]):
        record[steps[0]] = operation.get("value")
        return
    if op != "add" or not steps or steps[0] != "definitions":
        raise PlatformError("XDM-1022-400", f"Only additive changes are allowed: '{op}' of {path} is refused.")
    parent: Any = record
    for step in steps[:-1]:
        if not isinstance(parent, dict) or step not in parent:
            raise PlatformError("XDM-1020-400", f"Validation failed: the patch path {path} does not exist.")
        parent = parent[step]
    existing, value = parent.get(steps[-1]) if isinstance(parent, dict) else None, operation.get("value")
    if existing is not None and _changes(existing, value):
        raise PlatformError("XDM-1022-400", f"Only additive changes are allowed: {path} exists with another type.")
    parent[steps[-1]] = value  # a superset of what was there (checked above)


def _changes(existing: Any, new: Any) -> bool:
    """Whether ``new`` drops a field of ``existing`` or changes a type or format."""
    if not isinstance(existing, dict) or not isinstance(new, dict):
        return bool(existing != new)
    if any(existing.get(k) != new.get(k) for k in ("type", "format") if k in existing or k in new):
        return True
    old_props, new_props = existing.get("properties", {}), new.get("properties", {})
    return any(name not in new_props or _changes(spec, new_props[name]) for name, spec in old_props.items())
