"""Adobe Experience Platform Flow Service API: base connections (create, find, read, patch, delete,
explore) and the lists the rest of Flow Service shares. Authentication, retries and typed errors are
:mod:`.platform`'s; dataflows (source and target connections, flows, runs) are :mod:`.dataflows`'.

Where Adobe's OpenAPI spec and its tutorials disagree, the client sends what the tutorials show
(they are what Adobe's own examples and users run); :data:`SPEC_VS_TUTORIALS` lists each case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ...domain.errors import AdobeNotFound, AdobeResponseInvalid
from ..http import HttpResponse
from .platform import PlatformApi, segment

FLOW_PATH = "/data/foundation/flowservice"
ZOHO_CRM_SPEC_ID = "929e4450-0237-4ed2-9404-b7e1e0a00309"
MAX_LIST_PAGES = 50
# Ids per ``property=...==a,b`` filter (values in one filter are ORed): keeps every URL short.
IDS_PER_FILTER = 20

# Where the spec (flow-service.yaml) and the tutorials disagree, and what this client sends.
PATCH_OP = "replace"  # the JSON-Patch op of a connection update
EXPLORE_ROOT = "root"  # explore's objectType for the top level
EXPLORE_FOLDER = "folder"  # and for a folder of a cloud storage source
SPEC_VS_TUTORIALS: dict[str, tuple[str, str, str]] = {
    # what: (the spec says, the tutorials show, the client sends)
    "PATCH body op": ("PatchInstruction.op enum ADD|REPLACE|REMOVE", 'lower case: "op": "replace"', PATCH_OP),
    "explore objectType": ("enum ROOT|TABLE|FILE|FOLDER|REST", "objectType=root", EXPLORE_ROOT),
    "trailing slash": (
        "DELETE is declared on /connections/{id}/ (with a slash), GET and PATCH on /connections/{id}",
        "DELETE /connections/{id}",
        "/connections/{id}",
    ),
}


@dataclass(frozen=True)
class BaseConnection:
    """A base connection as Flow Service reads return it (``auth.params`` is partial there)."""

    id: str
    name: str
    etag: str
    state: str | None = None
    spec_id: str | None = None
    created_at: int | None = None

    @classmethod
    def from_record(cls, record: Any) -> BaseConnection:
        """Parse one item of a read; raises AdobeResponseInvalid when id or etag is missing."""
        if not isinstance(record, dict):
            raise AdobeResponseInvalid("Flow Service returned a connection that is not an object.")
        conn_id, etag = record.get("id"), record.get("etag")
        if not isinstance(conn_id, str) or not conn_id or not isinstance(etag, str) or not etag:
            raise AdobeResponseInvalid("Flow Service returned a connection without id or etag.")
        spec = record.get("connectionSpec")
        spec_id = spec.get("id") if isinstance(spec, dict) else None
        created = record.get("createdAt")
        return cls(
            id=conn_id,
            name=str(record.get("name") or ""),
            etag=etag,
            state=record.get("state") if isinstance(record.get("state"), str) else None,
            spec_id=spec_id if isinstance(spec_id, str) else None,
            created_at=created if isinstance(created, int) and not isinstance(created, bool) else None,
        )


@dataclass(frozen=True)
class ConnectionRef:
    """What create and patch answer: the id and the new etag (literal quotes included)."""

    id: str
    etag: str


class FlowServiceClient(PlatformApi):
    """Flow Service calls in one AEP sandbox, authenticated with the ``{prefix}/adobe`` credential."""

    service_path = FLOW_PATH

    # ---- the API ----------------------------------------------------------------------------
    def get_connection_spec(self, spec_id: str) -> dict[str, Any]:
        """``GET /connectionSpecs/{id}``: the spec (the answer's single item)."""
        path = f"/connectionSpecs/{segment(spec_id)}"
        body = self._call("GET", path, what="the connection spec read").json_or_none()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise AdobeResponseInvalid("Flow Service answered the connection spec read without the spec.")
        return items[0]

    def list_connections(self, properties: Sequence[str] = ()) -> list[BaseConnection]:
        """``GET /connections`` filtered by ``property`` expressions (ANDed), following every page."""
        items = self._list("/connections", properties, "the connection list")
        return [BaseConnection.from_record(item) for item in items]

    def list_source_connections(self, properties: Sequence[str] = ()) -> list[dict[str, Any]]:
        """``GET /sourceConnections`` filtered by ``property`` expressions, every page."""
        return self._list("/sourceConnections", properties, "the source connection list")

    def list_flows(self, properties: Sequence[str] = ()) -> list[dict[str, Any]]:
        """``GET /flows`` filtered by ``property`` expressions, every page."""
        return self._list("/flows", properties, "the dataflow list")

    def flows_using(self, base_connection_id: str) -> list[str]:
        """The ids of the dataflows that use ``base_connection_id`` (what blocks its delete, ``1418``).

        Adobe's ``1418`` message names only the base connection, so they are looked up, in the two
        steps Adobe documents (sort-and-filter.md): the source connections on the base connection
        (``baseConnectionId`` is filterable there), then the flows that read any of them. The flow
        filter needs the array form ``sourceConnectionIds[]==a,b``; a flow has no
        ``baseConnectionId`` of its own to filter on, and the one-call filter on
        ``inheritedAttributes.sourceConnections[].baseConnection.id`` is not documented.
        """
        sources = self.list_source_connections([f"baseConnectionId=={base_connection_id}"])
        source_ids = sorted({str(s["id"]) for s in sources if isinstance(s.get("id"), str) and s["id"]})
        flows: set[str] = set()
        for start in range(0, len(source_ids), IDS_PER_FILTER):
            chunk = ",".join(source_ids[start : start + IDS_PER_FILTER])
            for flow in self.list_flows([f"sourceConnectionIds[]=={chunk}"]):
                if isinstance(flow.get("id"), str) and flow["id"]:
                    flows.add(flow["id"])
        return sorted(flows)

    def check_sandbox(self) -> None:
        """One cheap read in this sandbox: raises :class:`AdobeSandboxNotFound` when Adobe does not know it."""
        self._call("GET", "/connections", params=[("limit", "1")], what="the sandbox check")

    def find_connections(self, spec_id: str, name: str) -> list[BaseConnection]:
        """The base connections of ``spec_id`` called ``name`` in this sandbox, oldest first."""
        listed = self.list_connections([f"connectionSpec.id=={spec_id}"])
        matches = [c for c in listed if c.name == name and c.spec_id in (None, spec_id)]
        return sorted(matches, key=lambda c: (c.created_at is None, c.created_at or 0))

    def get_connection(self, connection_id: str) -> BaseConnection:
        """``GET /connections/{id}``; the answer is wrapped in ``items`` even for one id."""
        path = f"/connections/{segment(connection_id)}"
        body = self._call("GET", path, what="the connection read").json_or_none()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise AdobeResponseInvalid("Flow Service answered the connection read without items.")
        if not items:
            raise AdobeNotFound("Flow Service has no such connection.")
        return BaseConnection.from_record(items[0])

    def create_connection(self, body: Mapping[str, Any]) -> ConnectionRef:
        """``POST /connections``. Sent once, never retried here: Flow Service has no idempotency key,
        so a retry after a lost answer could create a duplicate. Callers look the name up instead."""
        answer = self._call(
            "POST", "/connections", json_body=dict(body), policy=self._once(), what="the connection create"
        )
        return self._ref(answer, "create")

    def patch_connection(self, connection_id: str, etag: str, operations: Sequence[Mapping[str, Any]]) -> ConnectionRef:
        """``PATCH /connections/{id}`` with a JSON-Patch list and ``If-Match`` exactly as Adobe gave it."""
        answer = self._call(
            "PATCH",
            f"/connections/{segment(connection_id)}",
            json_body=[dict(op) for op in operations],
            headers={"If-Match": etag},
            what="the connection update",
        )
        return self._ref(answer, "update")

    def delete_connection(self, connection_id: str) -> None:
        """``DELETE /connections/{id}``."""
        self._call("DELETE", f"/connections/{segment(connection_id)}", what="the connection delete")

    def explore_root(self, connection_id: str) -> list[dict[str, Any]]:
        """``GET /connections/{id}/explore?objectType=root``: the tables (for Zoho, its modules)."""
        body = self._call(
            "GET",
            f"/connections/{segment(connection_id)}/explore",
            params=[("objectType", EXPLORE_ROOT)],
            what="the connection explore",
        ).json_or_none()
        if not isinstance(body, list):
            raise AdobeResponseInvalid("Flow Service answered explore with something other than a list.")
        return [item for item in body if isinstance(item, dict)]

    def explore_folder(self, connection_id: str, path: str) -> list[dict[str, Any]]:
        """``GET /connections/{id}/explore?objectType=folder&object=PATH``: what a cloud storage source
        sees in a folder (AEP's own test that its credential can read there)."""
        body = self._call(
            "GET",
            f"/connections/{segment(connection_id)}/explore",
            params=[("objectType", EXPLORE_FOLDER), ("object", path)],
            what="the folder explore",
        ).json_or_none()
        if not isinstance(body, list):
            raise AdobeResponseInvalid("Flow Service answered explore with something other than a list.")
        return [item for item in body if isinstance(item, dict)]

    # ---- plumbing ---------------------------------------------------------------------------
    def _list(self, path: str, properties: Sequence[str], what: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following ``_links.next`` (the filters ride in the link)."""
        params: list[tuple[str, str]] | None = [("property", p) for p in properties]
        page: tuple[str, list[tuple[str, str]] | None] | None = (path, params)
        found: list[dict[str, Any]] = []
        pages = 0
        while page is not None:
            if pages == MAX_LIST_PAGES:
                raise AdobeResponseInvalid(f"Flow Service's list ran past {MAX_LIST_PAGES} pages ({what}).")
            pages += 1
            body = self._call("GET", page[0], params=page[1], what=what).json_or_none()
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise AdobeResponseInvalid(f"Flow Service answered {what} without items.")
            if not all(isinstance(item, dict) for item in items):
                raise AdobeResponseInvalid(f"Flow Service answered {what} with an item that is not an object.")
            found.extend(items)
            page = self._next_page(body, path)
        return found

    def _next_page(self, body: Mapping[str, Any], listed: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The next page of the list at ``listed``: its path below the Flow Service base and its query.

        Adobe documents three forms of ``_links.next.href``: relative to the service, as the spec
        shows (``/connections?continuationToken=...``), the full path
        (``/data/foundation/flowservice/connections?...``), and an absolute URL on the Platform
        host. Each must name the same list; any other host, or another path, is refused.
        """
        links = body.get("_links")
        nxt = links.get("next") if isinstance(links, dict) else None
        href = nxt.get("href") if isinstance(nxt, dict) else None
        if not isinstance(href, str) or not href:
            return None
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            if f"{parts.scheme}://{parts.netloc}".lower() != self.origin.lower():
                raise AdobeResponseInvalid("Flow Service's next page points to another host.")
            if not parts.path.startswith(FLOW_PATH + "/"):
                raise AdobeResponseInvalid("Flow Service's next page points outside the Flow Service API.")
        path = parts.path[len(FLOW_PATH) :] if parts.path.startswith(FLOW_PATH + "/") else parts.path
        if path.rstrip("/") != listed or parts.fragment:
            raise AdobeResponseInvalid("Flow Service's next page points outside the list being read.")
        return listed, parse_qsl(parts.query, keep_blank_values=True)

    def _ref(self, response: HttpResponse, what: str) -> ConnectionRef:
        body = response.json_or_none()
        conn_id = body.get("id") if isinstance(body, dict) else None
        etag = body.get("etag") if isinstance(body, dict) else None
        if not isinstance(conn_id, str) or not conn_id or not isinstance(etag, str) or not etag:
            raise AdobeResponseInvalid(f"Flow Service answered the connection {what} without id or etag.")
        return ConnectionRef(conn_id, etag)
