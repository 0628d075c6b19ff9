"""The Catalog Service of the Adobe emulator: datasets and the batches ingestion writes into them.

As Catalog answers: objects keyed by id (``{"5c8c...": {...}}``) for reads and lists, a create
answers 201 ``["@/dataSets/{id}"]``, a delete 200 with the same list; lists take
``property=name==X`` and ``properties=a,b`` (a projection). A dataset must name an existing schema
with ``schemaRef`` (``contentType`` ``application/vnd.adobe.xed+json;version=1``). ``tags`` (such as
``unifiedProfile``) are kept as sent. Rows ingested into a dataset are held here for tests
(:meth:`Catalog.rows`), each batch with its counts.

Error codes the emulator chose: ``CAT-1001-400`` a body that fails validation, ``CAT-1002-404`` not
found.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from local.emulators.aep_common import Context, PlatformError, visible
from local.emulators.aep_registry import SchemaRegistry
from local.emulators.base import Request, Response

__all__ = ["CATALOG_PREFIX", "Catalog"]

CATALOG_PREFIX = "/data/foundation/catalog"
_PRIVATE = ("sandboxName", "imsOrgId", "rows")


class Catalog:
    def __init__(self, registry: SchemaRegistry, now_ms: Callable[[], int]) -> None:
        self.registry = registry
        self.now_ms = now_ms
        self.datasets: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    # ---- for ingestion and tests -----------------------------------------------------------------
    def dataset(self, dataset_id: str, ctx: Context) -> dict[str, Any] | None:
        record = self.datasets.get(dataset_id)
        return record if visible(record, ctx) else None

    def add_batch(self, dataset_id: str, rows: list[dict[str, Any]], failed: int, ctx: Context) -> str:
        """Append ``rows`` to the dataset as one batch (``failed`` rows were refused); its id."""
        batch_id = secrets.token_hex(13).upper()
        now = self.now_ms()
        self.batches[batch_id] = {
            "id": batch_id,
            "status": "success" if rows or not failed else "failed",
            "relatedObjects": [{"type": "dataSet", "id": dataset_id}],
            "metrics": {"recordsRead": len(rows) + failed, "recordsWritten": len(rows), "failedRecordCount": failed},
            "created": now,
            "completed": now,
            "sandboxName": ctx.sandbox,
            "imsOrgId": ctx.org_id,
        }
        self.datasets[dataset_id]["rows"].extend(copy.deepcopy(rows))
        return batch_id

    def rows(self, dataset_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.datasets[dataset_id]["rows"])

    # ---- HTTP ----------------------------------------------------------------------------------
    def handle(self, request: Request, ctx: Context) -> Response:
        parts = [unquote(p) for p in request.path[len(CATALOG_PREFIX) :].split("/") if p]
        method = request.method
        if parts == ["dataSets"] and method == "POST":
            return self._create(request, ctx)
        if parts == ["dataSets"] and method == "GET":
            return Response.json(self._listed(request, ctx, self.datasets, "name"))
        if parts == ["batches"] and method == "GET":
            return Response.json(self._listed(request, ctx, self.batches, None))
        if len(parts) == 2 and parts[0] == "dataSets" and method in ("GET", "DELETE"):
            if self.dataset(parts[1], ctx) is None:
                raise PlatformError("CAT-1002-404", f"Dataset {parts[1]} was not found.", "Not found")
            if method == "DELETE":
                del self.datasets[parts[1]]
                return Response.json([f"@/dataSets/{parts[1]}"])
            return Response.json({parts[1]: _view(self.datasets[parts[1]])})
        return Response.json(
            {"error": "not_found", "message": f"emulator has no route for {method} {request.path}"}, 404
        )

    def _create(self, request: Request, ctx: Context) -> Response:
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise PlatformError("CAT-1001-400", "The request body is not valid JSON.") from exc
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise PlatformError("CAT-1001-400", "Validation failed: 'name' is required.")
        ref = body.get("schemaRef")
        schema_id = ref.get("id") if isinstance(ref, dict) else None
        if not isinstance(schema_id, str) or self.registry.find(schema_id, ctx, "schemas") is None:
            raise PlatformError("CAT-1001-400", f"Validation failed: schemaRef.id {schema_id} is not a schema.")
        if not isinstance(ref, dict) or "xed" not in str(ref.get("contentType", "")):
            raise PlatformError("CAT-1001-400", "Validation failed: schemaRef.contentType must be an XED type.")
        dataset_id = secrets.token_hex(12)
        now = self.now_ms()
        self.datasets[dataset_id] = {
            **copy.deepcopy(body),
            "tags": copy.deepcopy(body.get("tags", {})),
            "created": now,
            "updated": now,
            "version": "1.0.0",
            "sandboxName": ctx.sandbox,
            "imsOrgId": ctx.org_id,
            "rows": [],
        }
        return Response.json([f"@/dataSets/{dataset_id}"], 201)

    def _listed(
        self, request: Request, ctx: Context, records: dict[str, dict[str, Any]], filterable: str | None
    ) -> dict[str, Any]:
        """``{id: object}`` of the caller's sandbox, filtered by ``property`` and projected by ``properties``."""
        wanted: str | None = None
        raw = request.query.get("property")
        if raw is not None:
            field, found, wanted = raw.partition("==")
            if not found or field != filterable:
                raise PlatformError("CAT-1001-400", f"Unsupported property filter {raw}.")
        dataset = request.query.get("dataSet")
        projection = [p for p in request.query.get("properties", "").split(",") if p]
        out: dict[str, Any] = {}
        for key, record in records.items():
            if not visible(record, ctx) or (wanted is not None and record.get(filterable or "") != wanted):
                continue
            if dataset and not any(r.get("id") == dataset for r in record.get("relatedObjects", [])):
                continue
            view = _view(record)
            out[key] = {k: v for k, v in view.items() if k in projection} if projection else view
        return out


def _view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in record.items() if k not in _PRIVATE}
