"""A local emulator of Adobe IMS (token endpoint) and the AEP Flow Service API, quirks included.

One HTTP server answers both ``POST /ims/token/v3`` and everything under :data:`FLOW_PREFIX`, so its
``base_url`` serves as both ``ADOBE_IMS_URL`` and ``ADOBE_PLATFORM_URL``. Behaviour follows
``shared/reference/adobe-flow-service.md``: OAuth server-to-server tokens that expire, the API
gateway's header checks (``{"error_code", "message"}`` errors), then Flow Service's own checks and
errors (``{"type": ".../FLOW-NNNN-HTTP", ...}``), base connections scoped per sandbox with quoted
etags, ``If-Match`` on PATCH, no idempotency or duplicate detection, and partial ``auth.params``
on reads (secrets are never echoed back).

Knobs (plain attributes, set by tests): ``zoho_spec_state``, ``patch_refused``,
``missing_permission``, ``modules``, ``test_result``, ``page_size``, ``next_link_form``, plus
:meth:`add_dataflow`, :meth:`set_in_use`, :meth:`expire_tokens` and the base class's
``inject``/``delay_seconds``.

As Adobe's documents show it (Flow Service OpenAPI spec, error catalogues, tutorials):
  - the gateway answers a missing token with 403 ``403010`` (not 401), a missing API key with 403
    ``403000``, an invalid one with 403 ``403003``, a missing org header with 400 ``400003``;
  - Flow Service errors are ``{"type": ".../FLOW-NNNN-HTTP", "title", "status", "report":
    {"detailed-message", "request-id"}, "errorMessage", "errorDetails"}`` (the labels tutorial's
    example), with no ``errorCode`` or ``detail`` field;
  - ``201`` creates carry a ``Location`` header (its exact form is not documented: the emulator
    sends the absolute URL of the new object);
  - lists page with ``_links.next.href`` relative to the service (the spec's
    ``/connections?continuationToken=...``; ``next_link_form`` switches to the full path or an
    absolute URL, the other forms Adobe's documents show), an opaque token that carries the query,
    and ``"_links": {}`` on the last page;
  - ``property`` filters: ``==``/``!=``, comma-separated values ORed, array elements with ``[]``
    (``sourceConnectionIds[]==a,b``); a path that is not a scalar matches nothing;
  - ``DELETE /connections/{id}`` while dataflows read it answers ``1418-400`` whose message names
    only the base connection (the dataflows must be found with ``GET /sourceConnections`` and
    ``GET /flows``);
  - JSON-Patch ``op`` and explore's ``objectType`` are accepted in either case (the spec's upper
    case, the tutorials' lower case).

Error codes the reference leaves open (chosen from Adobe's Flow Service catalogue where one fits):
  - ``1405-400`` body missing, empty or not JSON;
  - ``1400-400`` a create/patch value fails validation (``name``, ``description``, the six
    ``auth.params``) -- not a catalogued code, documented here as the emulator's choice;
  - ``1434-400`` a JSON-Patch ``op`` other than ``replace``;
  - ``1455-400`` a JSON-Patch list that is malformed or names an unsupported path;
  - ``1450-400`` a ``property`` filter with an operator other than ``==``/``!=``;
  - ``1453-400`` a malformed ``property``/``limit``/``continuationToken`` query value;
  - ``1451-400`` explore with an ``objectType`` other than ``root``.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from local.emulators.aep_catalog import CATALOG_PREFIX, Catalog
from local.emulators.aep_common import Context, FlowError, PlatformError, visible
from local.emulators.aep_dataflows import (
    CLOUD_STORAGE_FLOW_SPEC_ID,
    S3_AUTH_SPEC_NAME,
    S3_SECRET_PARAMS,
    S3_SPEC_ID,
    Dataflows,
    cloud_storage_flow_spec,
    s3_spec,
    validated_s3_param,
    validated_s3_params,
)
from local.emulators.aep_dataprep import CONVERSION_PREFIX, DataPrep
from local.emulators.aep_ingest import run_flow
from local.emulators.aep_registry import REGISTRY_PREFIX, SchemaRegistry
from local.emulators.base import Emulator, Request, Response

__all__ = ["FLOW_PREFIX", "ZOHO_AUTH_PARAMS", "ZOHO_SPEC_ID", "AdobeEmulator"]

ZOHO_SPEC_ID = "929e4450-0237-4ed2-9404-b7e1e0a00309"
FLOW_PREFIX = "/data/foundation/flowservice"
IMS_TOKEN_PATH = "/ims/token/v3"

ZOHO_AUTH_SPEC_NAME = "Basic Authentication"
ZOHO_AUTH_PARAMS: tuple[str, ...] = (
    "endpoint",
    "accountsUrl",
    "clientId",
    "clientSecret",
    "accessToken",
    "refreshToken",
)
SECRET_AUTH_PARAMS = frozenset({"clientSecret", "accessToken", "refreshToken", *S3_SECRET_PARAMS})  # never read back
KNOWN_SCOPES = frozenset(
    {"openid", "session", "AdobeID", "read_organizations", "additional_info.projectedProductContext"}
)
TOKEN_LIFETIME_SECONDS = 86399
CRM_PROVIDER_ID = "0ed90a81-07f4-4586-8190-b40eccef1c5a"
DEFAULT_MODULES = ["Leads", "Contacts", "Accounts", "Deals", "Campaigns", "Tasks", "Products", "Vendors"]


@dataclass
class _Credential:
    client_secret: str
    org_id: str
    entitled: bool


@dataclass
class _Token:
    client_id: str
    expires_at: float
    revoked: bool = False


def _zoho_spec() -> dict[str, Any]:
    """The Zoho CRM connection spec as Flow Service describes it (trimmed to what matters)."""
    secret = {"type": "string", "format": "password"}
    properties: dict[str, Any] = {
        "endpoint": {"type": "string", "description": "The Zoho CRM API domain (api_domain)."},
        "accountsUrl": {"type": "string", "description": "The Zoho accounts server URL."},
        "clientId": {"type": "string", "description": "The client ID of the Zoho CRM app."},
        "clientSecret": {**secret, "description": "The client secret of the Zoho CRM app."},
        "accessToken": {**secret, "description": "The Zoho OAuth access token."},
        "refreshToken": {**secret, "description": "The Zoho OAuth refresh token."},
    }
    return {
        "id": ZOHO_SPEC_ID,
        "name": "zoho-crm",
        "providerId": CRM_PROVIDER_ID,
        "version": "1.0",
        "type": "crm",
        "authSpec": [
            {
                "name": ZOHO_AUTH_SPEC_NAME,
                "type": "ZohoCRMAuth",
                "spec": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "description": "Basic authentication for Zoho CRM (OAuth 2 app credentials and tokens).",
                    "properties": properties,
                    "required": list(ZOHO_AUTH_PARAMS),
                },
            }
        ],
        "sourceSpec": {"attributes": {"category": {"key": "crm"}, "isSource": True}},
        "exploreSpec": {"name": "Table", "type": "Table"},
        "attributes": {"category": "CRM", "isSource": True},
    }


class AdobeEmulator(Emulator):
    """Adobe IMS + Flow Service on one local server."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        super().__init__("adobe", clock)
        self.base_url = ""
        # knobs
        self.zoho_spec_state = "served"  # "served" | "gone" | "invalid"
        self.patch_refused = False
        self.missing_permission = False
        self.modules: list[str] = list(DEFAULT_MODULES)
        self.test_result = True  # what GET /connections/{id}/test answers
        self.page_size = 20  # items per list page when the request names no limit
        self.next_link_form = "relative"  # "relative" (the spec's) | "path" | "absolute"
        # state
        self.connections: dict[str, dict[str, Any]] = {}
        self.source_connections: dict[str, dict[str, Any]] = {}
        self.target_connections: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.registry = SchemaRegistry(self.now_ms)
        self.catalog = Catalog(self.registry, self.now_ms)
        self.dataprep = DataPrep(self.now_ms)
        self.dataflows = Dataflows(self)
        self.tokens_minted = 0
        self._credentials: dict[str, _Credential] = {}
        self._tokens: dict[str, _Token] = {}
        self._sandboxes: dict[str, str] = {"prod": str(uuid.uuid4())}  # name -> sandbox id
        self.route("POST", IMS_TOKEN_PATH, self._ims_token)
        self.route("*", FLOW_PREFIX, self._platform)
        self.route("*", FLOW_PREFIX + "/", self._platform)
        for prefix in (REGISTRY_PREFIX, CATALOG_PREFIX, CONVERSION_PREFIX):
            self.route("*", prefix + "/", self._platform)

    # ---- lifecycle and set-up -----------------------------------------------------------------
    def start(self) -> AdobeEmulator:
        """Serve on 127.0.0.1 at a free port; ``base_url`` is then set."""
        self.base_url = self.serve()
        return self

    def register_credential(self, client_id: str, client_secret: str, org_id: str, entitled: bool = True) -> None:
        """Declare an OAuth server-to-server credential of ``org_id`` (``entitled`` to AEP or not)."""
        with self._lock:
            self._credentials[client_id] = _Credential(client_secret, org_id, entitled)

    def add_sandbox(self, name: str) -> None:
        """Create a sandbox (``prod`` exists from the start)."""
        with self._lock:
            self._sandboxes.setdefault(name, str(uuid.uuid4()))

    def add_dataflow(self, connection_id: str, flow_id: str | None = None) -> str:
        """A source connection on base connection ``connection_id`` and a dataflow reading it, as a
        user builds them in AEP; the base connection's DELETE then answers ``1418-400``."""
        with self._lock:
            base = self.connections[connection_id]
            now = self.now_ms()
            source_id = str(uuid.uuid4())
            self.source_connections[source_id] = {
                "id": source_id,
                "name": f"source of {flow_id or 'a dataflow'}",
                "baseConnectionId": connection_id,
                "connectionSpec": dict(base["connectionSpec"]),
                "sandboxName": base["sandboxName"],
                "imsOrgId": base["imsOrgId"],
                "state": "enabled",
                "createdAt": now,
                "etag": self.new_etag(),
            }
            flow_id = flow_id or str(uuid.uuid4())
            self.flows[flow_id] = {
                "id": flow_id,
                "name": f"dataflow {flow_id[:8]}",
                "flowSpec": {"id": "14518937-270c-4525-bdec-c2ba7cce3860", "version": "1.0"},
                "sourceConnectionIds": [source_id],
                "targetConnectionIds": [],
                "inheritedAttributes": {
                    "sourceConnections": [
                        {
                            "id": source_id,
                            "connectionSpec": dict(base["connectionSpec"]),
                            "baseConnection": {"id": connection_id, "connectionSpec": dict(base["connectionSpec"])},
                        }
                    ],
                    "targetConnections": [],
                },
                "sandboxName": base["sandboxName"],
                "imsOrgId": base["imsOrgId"],
                "state": "enabled",
                "createdAt": now,
                "etag": self.new_etag(),
            }
            return flow_id

    def set_in_use(self, connection_id: str, flow_ids: list[str]) -> None:
        """Give a connection exactly these dataflows (none: remove them all); see :meth:`add_dataflow`."""
        with self._lock:
            for flow_id in self.flows_on(connection_id):
                self._remove_flow(flow_id)
            for flow_id in flow_ids:
                self.add_dataflow(connection_id, flow_id)

    def flows_on(self, connection_id: str) -> list[str]:
        """The dataflows that read base connection ``connection_id``."""
        with self._lock:
            sources = {i for i, s in self.source_connections.items() if s["baseConnectionId"] == connection_id}
            return sorted(i for i, f in self.flows.items() if sources & set(f["sourceConnectionIds"]))

    def _remove_flow(self, flow_id: str) -> None:
        flow = self.flows.pop(flow_id, None)
        for source_id in (flow or {}).get("sourceConnectionIds", []):
            if not any(source_id in f["sourceConnectionIds"] for f in self.flows.values()):
                self.source_connections.pop(source_id, None)

    def expire_tokens(self) -> None:
        """Invalidate every token minted so far (their next use answers ``401013``)."""
        with self._lock:
            for token in self._tokens.values():
                token.revoked = True

    def connections_in(self, sandbox: str) -> list[dict[str, Any]]:
        """Copies of the full stored records (secrets included) of one sandbox, oldest first."""
        with self._lock:
            return [copy.deepcopy(r) for r in self.connections.values() if r["sandboxName"] == sandbox]

    # ---- the S3 source, for tests and demos -----------------------------------------------------
    def run_dataflows(self, sandbox: str | None = None) -> list[dict[str, Any]]:
        """Run every enabled CloudStorageToAEP flow (of ``sandbox``, or all) once now, whatever its
        schedule says; the new runs, as ``GET /runs`` answers them."""
        with self._lock:
            flows = [
                f
                for f in self.flows.values()
                if f["flowSpec"]["id"] == CLOUD_STORAGE_FLOW_SPEC_ID
                and f["state"] == "enabled"
                and sandbox in (None, f["sandboxName"])
            ]
            return [_public_run(run_flow(self, flow)) for flow in flows]

    def runs_of(self, flow_id: str) -> list[dict[str, Any]]:
        """The runs of one flow, newest first."""
        with self._lock:
            runs = [_public_run(r) for r in self.runs.values() if r["flowId"] == flow_id]
            return sorted(runs, key=lambda r: r["createdAt"], reverse=True)

    def dataset_rows(self, dataset_id: str) -> list[dict[str, Any]]:
        """Every row ingested into a dataset so far, in the order they landed."""
        with self._lock:
            return self.catalog.rows(dataset_id)

    def dataset_id_named(self, sandbox: str, name: str) -> str:
        """The id of the dataset called ``name`` in ``sandbox`` (KeyError when there is none)."""
        with self._lock:
            for dataset_id, record in self.catalog.datasets.items():
                if record["sandboxName"] == sandbox and record["name"] == name:
                    return dataset_id
        raise KeyError(name)

    def store_of(self, kind: str) -> dict[str, dict[str, Any]]:
        """Where Flow Service keeps objects of ``kind`` (``sourceConnections``, ``targetConnections``, ``flows``)."""
        return {"sourceConnections": self.source_connections, "targetConnections": self.target_connections,
                "flows": self.flows, "runs": self.runs}[kind]  # fmt: skip

    # ---- IMS ----------------------------------------------------------------------------------
    def _ims_token(self, request: Request) -> Response:
        form = request.form
        client_id = form.get("client_id", "")
        with self._lock:
            credential = self._credentials.get(client_id)
            if credential is None:
                return _ims_error(401, "invalid_client", "invalid client_id parameter")
            if not secrets.compare_digest(form.get("client_secret", "").encode(), credential.client_secret.encode()):
                return _ims_error(401, "invalid_client", "invalid client_secret parameter")
            if form.get("grant_type") != "client_credentials":
                return _ims_error(400, "unsupported_grant_type", "unsupported grant_type parameter")
            scopes = [s.strip() for s in form.get("scope", "").split(",")]
            if not all(s in KNOWN_SCOPES for s in scopes):
                return _ims_error(400, "invalid_scope", "invalid scope parameter")
            token = ".".join(["eyJ" + secrets.token_urlsafe(96), secrets.token_urlsafe(192), secrets.token_urlsafe(64)])
            self._tokens[token] = _Token(client_id, self.clock() + TOKEN_LIFETIME_SECONDS)
            self.tokens_minted += 1
        return Response.json({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME_SECONDS})

    # ---- Platform: gateway, then Flow Service -------------------------------------------------
    def _platform(self, request: Request) -> Response:
        with self._lock:
            gate = self._gateway(request)
            if isinstance(gate, Response):
                return gate
            try:
                context = self._flow_checks(request, gate)
                if request.path.startswith(REGISTRY_PREFIX + "/"):
                    return self.registry.handle(request, context)
                if request.path.startswith(CATALOG_PREFIX + "/"):
                    return self.catalog.handle(request, context)
                if request.path.startswith(CONVERSION_PREFIX + "/"):
                    return self.dataprep.handle(request, context)
                return self._flow_route(request, context)
            except (FlowError, PlatformError) as error:
                return error.response(request)

    def _gateway(self, request: Request) -> Response | str:
        """Adobe I/O gateway checks; the caller's client id, or the gateway's error answer."""
        scheme, _, raw = (request.header("authorization") or "").strip().partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            return _gateway_error(403, "403010", "Oauth token is missing.")
        token = self._tokens.get(raw)
        if token is None or token.revoked or self.clock() >= token.expires_at:
            return _gateway_error(401, "401013", "Oauth token is not valid")
        api_key = request.header("x-api-key")
        if not api_key:
            return _gateway_error(403, "403000", "Api Key is required")
        if api_key != token.client_id:
            return _gateway_error(403, "403003", "Api Key is invalid")
        credential = self._credentials[token.client_id]
        org = request.header("x-gw-ims-org-id")
        if not org:
            return _gateway_error(400, "400003", "Missing header")
        if org != credential.org_id:
            return _gateway_error(403, "403027", "User region is missing")
        if not credential.entitled:
            return _gateway_error(403, "403025", "Profile is not valid")
        if request.body and "application/json" not in (request.header("content-type") or "").lower():
            return Response.json(
                {
                    "type": "/placeholder/type/uri",
                    "status": 400,
                    "title": "BadRequestError",
                    "detail": "A valid content-type must be specified",
                },
                400,
            )
        return token.client_id

    def _flow_checks(self, request: Request, client_id: str) -> Context:
        """Flow Service's own request checks: sandbox header, sandbox, permission."""
        sandbox = request.header("x-sandbox-name")
        if not sandbox:
            raise FlowError(
                "2105-400",
                "The header x-sandbox-name is missing in the request. Please add the header in the request and "
                "try again.",
                "Header is missing",
            )
        if sandbox not in self._sandboxes:
            raise FlowError(
                "2101-404",
                f"The sandbox with the name '{sandbox}' could not be found. Error from Sandbox Management API: "
                f"Sandbox with name '{sandbox}' not present. Please check if resource exists.",
                "Sandbox not found",
            )
        if self.missing_permission:
            raise FlowError(
                "2121-403",
                "The permission manage is denied on resource Enterprise Source. Please contact your "
                "administrator to resolve permissions and try again.",
            )
        org_id = self._credentials[client_id].org_id
        return Context(client_id, org_id, sandbox)

    def _flow_route(self, request: Request, ctx: Context) -> Response:
        parts = [p for p in request.path[len(FLOW_PREFIX) :].split("/") if p]
        method = request.method
        if len(parts) == 2 and parts[0] == "connectionSpecs" and method == "GET":
            return self._get_spec(parts[1])
        if len(parts) == 2 and parts[0] == "flowSpecs" and method == "GET":
            if parts[1] != CLOUD_STORAGE_FLOW_SPEC_ID:
                raise _not_found()
            return Response.json({"items": [cloud_storage_flow_spec()]})
        if len(parts) == 1 and parts[0] in ("sourceConnections", "targetConnections", "flows") and method == "POST":
            body = _json_body(request)
            if not isinstance(body, dict):
                raise FlowError("1405-400", "The request body must be a JSON object.")
            return self.dataflows.create(request, ctx, parts[0], body)
        if parts in (["targetConnections"], ["runs"]) and method == "GET":
            return self._list_of(request, ctx, self.store_of(parts[0]))
        if (
            len(parts) == 2
            and parts[0] in ("sourceConnections", "targetConnections", "runs")
            and method in ("GET", "DELETE")
        ):
            store = self.store_of(parts[0])
            record = store.get(parts[1])
            if not visible(record, ctx) or record is None or (method == "DELETE" and parts[0] == "runs"):
                raise _not_found()
            if method == "DELETE":
                del store[parts[1]]
                return Response(204)
            return Response.json({"items": [_public_run(record) if parts[0] == "runs" else copy.deepcopy(record)]})
        if len(parts) in (2, 3) and parts[0] == "flows" and method in ("PATCH", "POST"):
            flow = self.flows.get(parts[1])
            if not visible(flow, ctx) or flow is None:
                raise _not_found()
            if method == "PATCH" and len(parts) == 2:
                return self.dataflows.patch_flow(request, ctx, flow, _json_body(request))
            if method == "POST" and parts[2:] == ["action"]:
                return self.dataflows.action(request, flow)
        if parts == ["connections"]:
            if method == "GET":
                return self._list_connections(request, ctx)
            if method == "POST":
                return self._create_connection(request, ctx)
        if len(parts) == 2 and parts[0] == "connections":
            handler = {"GET": self._get_connection, "PATCH": self._patch_connection, "DELETE": self._delete_connection}
            if method in handler:
                return handler[method](request, ctx, parts[1])
        if parts in (["sourceConnections"], ["flows"]) and method == "GET":
            return self._list_of(
                request, ctx, self.source_connections if parts[0] == "sourceConnections" else self.flows
            )
        if len(parts) == 2 and parts[0] == "flows" and method in ("GET", "DELETE"):
            flow = self.flows.get(parts[1])
            if flow is None or flow["sandboxName"] != ctx.sandbox or flow["imsOrgId"] != ctx.org_id:
                raise _not_found()
            if method == "DELETE":
                self._remove_flow(parts[1])
                return Response(204)
            return Response.json({"items": [_public_run(flow)]})
        if len(parts) == 3 and parts[0] == "connections" and method == "GET":
            if parts[2] == "explore":
                return self._explore(request, ctx, parts[1])
            if parts[2] == "test":
                self._visible(parts[1], ctx)
                return Response.json({"result": self.test_result})
        message = f"emulator has no route for {method} {request.path}"
        return Response.json({"error": "not_found", "message": message}, 404)

    # ---- connection specs ---------------------------------------------------------------------
    def _get_spec(self, spec_id: str) -> Response:
        if spec_id == S3_SPEC_ID:
            return Response.json({"items": [s3_spec()]})
        if spec_id == ZOHO_SPEC_ID and self.zoho_spec_state == "invalid":
            raise _invalid_spec()
        if spec_id != ZOHO_SPEC_ID or self.zoho_spec_state == "gone":
            raise _not_found()
        return Response.json({"items": [_zoho_spec()]})

    # ---- connections --------------------------------------------------------------------------
    def _create_connection(self, request: Request, ctx: Context) -> Response:
        body = _json_body(request)
        if not isinstance(body, dict):
            raise FlowError("1405-400", "The request body must be a JSON object.")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FlowError("1400-400", "Validation failed: 'name' is required and must be a non-empty string.")
        description = body.get("description", "")
        if not isinstance(description, str):
            raise FlowError("1400-400", "Validation failed: 'description' must be a string.")
        spec = body.get("connectionSpec")
        spec_id = spec.get("id") if isinstance(spec, dict) else None
        spec_version = spec.get("version") if isinstance(spec, dict) else None
        served = spec_id == S3_SPEC_ID or (spec_id == ZOHO_SPEC_ID and self.zoho_spec_state == "served")
        if not served or spec_version != "1.0":
            raise _invalid_spec()
        auth = body.get("auth")
        auth = auth if isinstance(auth, dict) else {}
        spec_name = auth.get("specName")
        if spec_name != (S3_AUTH_SPEC_NAME if spec_id == S3_SPEC_ID else ZOHO_AUTH_SPEC_NAME):
            raise FlowError(
                "1415-400", f"The auth spec '{spec_name}' could not be found for the connection spec ID {spec_id}."
            )
        params = (
            validated_s3_params(auth.get("params")) if spec_id == S3_SPEC_ID else _validated_params(auth.get("params"))
        )
        now_ms = self.now_ms()
        etag = self.new_etag()
        record: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "createdAt": now_ms,
            "updatedAt": now_ms,
            "createdBy": f"{ctx.client_id}@AdobeID",
            "updatedBy": f"{ctx.client_id}@AdobeID",
            "createdClient": ctx.client_id,
            "updatedClient": ctx.client_id,
            "sandboxId": self._sandboxes[ctx.sandbox],
            "sandboxName": ctx.sandbox,
            "imsOrgId": ctx.org_id,
            "name": name,
            "description": description,
            "connectionSpec": {"id": spec_id, "version": spec_version},
            "state": "enabled",
            "auth": {"specName": spec_name, "params": params},
            "version": etag,
            "etag": etag,
        }
        self.connections[record["id"]] = record
        location = f"{request.server}{FLOW_PREFIX}/connections/{record['id']}"
        return Response.json({"id": record["id"], "etag": etag}, 201, {"Location": location})

    def _list_connections(self, request: Request, ctx: Context) -> Response:
        views = [_public_view(r) for r in self._visible_records(ctx)]
        return self._page(request, "connections", views)

    def _list_of(self, request: Request, ctx: Context, records: dict[str, dict[str, Any]]) -> Response:
        resource = request.path[len(FLOW_PREFIX) :].strip("/")
        visible = [
            copy.deepcopy(r)
            for r in records.values()
            if r["sandboxName"] == ctx.sandbox and r["imsOrgId"] == ctx.org_id
        ]
        return self._page(request, resource, visible)

    def _page(self, request: Request, resource: str, items: list[dict[str, Any]]) -> Response:
        """One page of ``items`` filtered by the request's (or its continuation token's) query."""
        pairs = parse_qsl(request.query_string, keep_blank_values=True)
        query = dict(pairs)
        token = query.get("continuationToken")
        if token is not None:
            pairs, start = _continuation(token)  # the token carries the query it continues
        else:
            start = 0
        filters = [_parse_property(value) for key, value in pairs if key == "property"]
        limit = _positive_int(dict(pairs).get("limit"), "limit") or self.page_size
        matching = [item for item in items if all(_matches(item, path, op, want) for path, op, want in filters)]
        orderby = dict(pairs).get("orderby")
        if orderby:
            key = orderby.lstrip("-+")
            matching.sort(key=lambda item: (item.get(key) is None, item.get(key) or 0), reverse=orderby.startswith("-"))
        end = start + limit
        links: dict[str, Any] = {}
        if end < len(matching):
            href = f"/{resource}?{urlencode([('continuationToken', _continuation_token(pairs, end))])}"
            if self.next_link_form == "path":
                href = FLOW_PREFIX + href
            elif self.next_link_form == "absolute":
                href = request.server + FLOW_PREFIX + href
            links["next"] = {"href": href}
        return Response.json({"items": matching[start:end], "_links": links})

    def _get_connection(self, request: Request, ctx: Context, connection_id: str) -> Response:
        return Response.json({"items": [_public_view(self._visible(connection_id, ctx))]})

    def _patch_connection(self, request: Request, ctx: Context, connection_id: str) -> Response:
        record = self._visible(connection_id, ctx)
        self.check_if_match(request, record)
        if self.patch_refused:
            raise FlowError("1445-400", "PATCH Connection Feature not enabled.")
        operations = _json_body(request)
        if not isinstance(operations, list) or not operations:
            raise FlowError("1455-400", "An error has occurred while validating patch instructions: expected a list.")
        updated = copy.deepcopy(record)
        s3 = record["connectionSpec"]["id"] == S3_SPEC_ID
        for operation in operations:
            _apply_patch(updated, operation, s3=s3)
        etag = self.new_etag()
        updated.update(
            etag=etag,
            version=etag,
            updatedAt=self.now_ms(),
            updatedBy=f"{ctx.client_id}@AdobeID",
            updatedClient=ctx.client_id,
        )
        self.connections[connection_id] = updated
        return Response.json({"id": connection_id, "etag": etag})

    def check_if_match(self, request: Request, record: dict[str, Any]) -> None:
        """``If-Match`` present (``1403-400``) and the record's current etag (``1404-412``)."""
        if_match = request.header("if-match")
        if if_match is None:
            raise FlowError(
                "1403-400",
                "The header 'If-Match' is missing in the request. Please provide the header and try again.",
                "Header is missing",
            )
        if if_match != record["etag"]:
            raise FlowError(
                "1404-412",
                f"The supplied version '{if_match}' does not match the current version on entity "
                f"'{record['etag']}'. Please ensure that the supplied version matches the current version on "
                "entity and try again.",
            )

    def _delete_connection(self, request: Request, ctx: Context, connection_id: str) -> Response:
        self._visible(connection_id, ctx)
        if self.flows_on(connection_id):
            # As Adobe's: the message names the base connection only, never the dataflows.
            raise FlowError(
                "1418-400",
                f"The base connection with the ID {connection_id} cannot be deleted because the base connection is "
                "being used in one or more flows. Please ensure that corresponding flows are deleted before deleting "
                "a base connection.",
            )
        del self.connections[connection_id]
        return Response(204)

    def _explore(self, request: Request, ctx: Context, connection_id: str) -> Response:
        record = self._visible(connection_id, ctx)
        object_type = request.query.get("objectType", "root")
        if record["connectionSpec"]["id"] == S3_SPEC_ID:
            return self.dataflows.explore(record, object_type.lower(), request.query.get("object"))
        if object_type.lower() != "root":
            raise FlowError("1451-400", f"Invalid params objectType={object_type} provided in query params.")
        tables = [
            {"type": "table", "name": m, "path": m, "canPreview": True, "canFetchSchema": True} for m in self.modules
        ]
        return Response.json(tables)

    # ---- helpers ------------------------------------------------------------------------------
    def _visible_records(self, ctx: Context) -> list[dict[str, Any]]:
        return [r for r in self.connections.values() if r["sandboxName"] == ctx.sandbox and r["imsOrgId"] == ctx.org_id]

    def _visible(self, connection_id: str, ctx: Context) -> dict[str, Any]:
        record = self.connections.get(connection_id)
        if record is None or record["sandboxName"] != ctx.sandbox or record["imsOrgId"] != ctx.org_id:
            raise _not_found()
        return record

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def new_etag(self) -> str:
        """An etag shaped like Adobe's, literal quotes included: ``"600290fc-0000-0200-0000-67084cc30000"``."""
        return f'"{secrets.token_hex(4)}-0000-0200-0000-{int(self.clock()) & 0xFFFFFFFF:08x}0000"'


# ---- module helpers ---------------------------------------------------------------------------
def _ims_error(status: int, error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, status)


def _gateway_error(status: int, code: str, message: str) -> Response:
    return Response.json({"error_code": code, "message": message}, status)


def _not_found() -> FlowError:
    return FlowError(
        "1101-404",
        "The requested resource is not found. Error from flow provider: Resource with given id does not exist.",
    )


def _invalid_spec() -> FlowError:
    return FlowError("1413-400", "The spec ID provided is invalid. Please provide a valid spec ID and try again.")


def _json_body(request: Request) -> Any:
    if not request.body.strip():
        raise FlowError("1405-400", "The request body cannot be null or empty. Please provide a request body.")
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise FlowError("1405-400", "The request body is not valid JSON.") from exc


def _validated_params(params: Any) -> dict[str, str]:
    """The six Zoho auth params, exactly, each a non-empty string (else ``1400-400``)."""
    if not isinstance(params, dict) or set(params) != set(ZOHO_AUTH_PARAMS):
        raise FlowError(
            "1400-400", f"Validation failed: auth.params must hold exactly these keys: {', '.join(ZOHO_AUTH_PARAMS)}."
        )
    for key in ZOHO_AUTH_PARAMS:
        _validated_param(key, params[key])
    return {key: params[key] for key in ZOHO_AUTH_PARAMS}


def _validated_param(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FlowError("1400-400", f"Validation failed: auth.params.{key} must be a non-empty string.")
    return value


def _apply_patch(record: dict[str, Any], operation: Any, *, s3: bool = False) -> None:
    """Apply one JSON-Patch ``replace`` to ``record`` (a copy), validating it first."""
    if not isinstance(operation, dict) or "path" not in operation or "value" not in operation:
        raise FlowError(
            "1455-400", "An error has occurred while validating patch instructions: each needs op, path and value."
        )
    op, path, value = operation.get("op"), operation["path"], operation["value"]
    param_key = path.removeprefix("/auth/params/") if isinstance(path, str) else None
    if not isinstance(op, str) or op.lower() != "replace":
        raise FlowError(
            "1434-400", f"Unsupported operation '{op}' received. Please use one of the supported operation types."
        )
    if path == "/auth/params":
        record["auth"]["params"] = validated_s3_params(value) if s3 else _validated_params(value)
    elif s3 and param_key != path and isinstance(param_key, str):
        record["auth"]["params"][param_key] = validated_s3_param(param_key, value)
    elif param_key != path and param_key in ZOHO_AUTH_PARAMS:
        record["auth"]["params"][param_key] = _validated_param(param_key, value)
    elif path == "/name":
        if not isinstance(value, str) or not value.strip():
            raise FlowError("1400-400", "Validation failed: 'name' must be a non-empty string.")
        record["name"] = value
    elif path == "/description":
        if not isinstance(value, str):
            raise FlowError("1400-400", "Validation failed: 'description' must be a string.")
        record["description"] = value
    else:
        raise FlowError(
            "1455-400", f"An error has occurred while validating patch instructions: unsupported path {path!r}."
        )


def _public_view(record: dict[str, Any]) -> dict[str, Any]:
    """A record as reads return it: a copy whose ``auth.params`` omits the secret ones."""
    view = copy.deepcopy(record)
    params = view["auth"]["params"]
    view["auth"]["params"] = {k: v for k, v in params.items() if k not in SECRET_AUTH_PARAMS}
    return view


def _public_run(record: dict[str, Any]) -> dict[str, Any]:
    """A flow or run as reads return it: a copy without the emulator's own bookkeeping (``_seen``)."""
    return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}


def _parse_property(value: str) -> tuple[str, str, str]:
    """``connectionSpec.id==X`` -> ``("connectionSpec.id", "==", "X")``."""
    for op in ("==", "!="):
        field_path, found, expected = value.partition(op)
        if found:
            if not field_path:
                raise FlowError("1453-400", f"Invalid query value {value} provided in query param.")
            return field_path, op, expected
    raise FlowError("1450-400", f"Invalid operator in filter params: {value}.")


def _matches(view: dict[str, Any], field_path: str, op: str, expected: str) -> bool:
    """``field.path==a,b``: the field is one of the values (``!=``: none of them). A ``name[]`` step
    matches any element of an array; a path that ends on anything but a scalar matches nothing."""
    values: list[Any] = [view]
    for part in field_path.split("."):
        array = part.endswith("[]")
        key = part[:-2] if array else part
        found: list[Any] = []
        for current in values:
            item = current.get(key) if isinstance(current, dict) else None
            if array:
                found.extend(item if isinstance(item, list) else [])
            elif item is not None:
                found.append(item)
        values = found
    actual = {str(v).lower() if isinstance(v, bool) else str(v) for v in values if isinstance(v, (str, int, bool))}
    wanted = set(expected.split(","))
    if op == "==":
        return bool(actual & wanted)
    return not actual & wanted


def _positive_int(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise FlowError("1453-400", f"Invalid query value {name}={raw} provided in query param.")
    return int(raw)


def _continuation_token(pairs: list[tuple[str, str]], offset: int) -> str:
    """An opaque continuation token: the query it continues and where the next page starts."""
    raw = json.dumps({"q": [p for p in pairs if p[0] != "continuationToken"], "o": offset}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _continuation(token: str) -> tuple[list[tuple[str, str]], int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        pairs = [(str(k), str(v)) for k, v in data["q"]]
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FlowError("1453-400", "Invalid query value continuationToken provided in query param.") from exc
    return pairs, offset
