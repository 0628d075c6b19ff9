"""Adobe's Catalog Service in one sandbox: datasets.

Catalog answers are objects keyed by id (``{"5c8c...": {...}}``), a create answers
``["@/dataSets/{id}"]``, a delete 200 with the same list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...domain.errors import AdobeNotFound, AdobeResponseInvalid
from .platform import PlatformApi, segment

CATALOG_PATH = "/data/foundation/catalog"


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    schema_id: str | None

    @classmethod
    def from_entry(cls, dataset_id: str, body: Any) -> Dataset:
        if not isinstance(body, dict):
            raise AdobeResponseInvalid("Catalog answered a dataset that is not an object.")
        ref = body.get("schemaRef")
        schema_id = ref.get("id") if isinstance(ref, dict) else None
        return cls(dataset_id, str(body.get("name") or ""), schema_id if isinstance(schema_id, str) else None)


class CatalogClient(PlatformApi):
    service_path = CATALOG_PATH

    def create_dataset(self, body: Mapping[str, Any]) -> str:
        answer = self._call(
            "POST",
            "/dataSets",
            params=[("requestDataSource", "true")],
            json_body=dict(body),
            policy=self._once(),
            what="the dataset create",
        ).json_or_none()
        if not isinstance(answer, list) or len(answer) != 1 or not str(answer[0]).startswith("@/dataSets/"):
            raise AdobeResponseInvalid("Catalog answered the dataset create without its id.")
        return str(answer[0]).removeprefix("@/dataSets/")

    def get_dataset(self, dataset_id: str) -> Dataset:
        body = self._call("GET", f"/dataSets/{segment(dataset_id)}", what="the dataset read").json_or_none()
        if not isinstance(body, dict) or dataset_id not in body:
            raise AdobeNotFound("Catalog has no such dataset.")
        return Dataset.from_entry(dataset_id, body[dataset_id])

    def find_datasets(self, name: str) -> list[Dataset]:
        params = [("property", f"name=={name}"), ("properties", "name,schemaRef"), ("limit", "100")]
        body = self._call("GET", "/dataSets", params=params, what="the dataset list").json_or_none()
        if not isinstance(body, dict):
            raise AdobeResponseInvalid("Catalog answered the dataset list with something other than an object.")
        found = [Dataset.from_entry(str(k), v) for k, v in body.items()]
        return [d for d in found if d.name == name]

    def delete_dataset(self, dataset_id: str) -> None:
        self._call("DELETE", f"/dataSets/{segment(dataset_id)}", what="the dataset delete")
