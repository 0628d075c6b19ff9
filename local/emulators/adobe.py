"""A local emulator of Adobe IMS (token endpoint) and the AEP Flow Service API, quirks included.

One HTTP server answers both ``POST /ims/token/v3`` and everything under :data:`FLOW_PREFIX`, so its
``base_url`` serves as both ``ADOBE_IMS_URL`` and ``ADOBE_PLATFORM_URL``. Behaviour follows
``shared/reference/adobe-flow-service.md``: OAuth server-to-server tokens that expire, the API
gateway's header checks (``{"error_code", "message"}`` errors), then Flow Service's own checks and
errors (``{"type": ".../FLOW-NNNN-HTTP", ...}``), base connections scoped per sandbox with quoted
etags, ``If-Match`` on PATCH, no idempotency or duplicate detection, and partial ``auth.params``
on reads (secrets are never echoed back).

Knobs (plain attributes, set by tests): ``zoho_spec_state``, ``patch_refused``,
``missing_permission``, ``modules``, ``test_result``, plus :meth:`set_in_use`,
:meth:`expire_tokens` and the base class's ``inject``/``delay_seconds``.

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

import copy
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

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
PUBLIC_AUTH_PARAMS: tuple[str, ...] = ("endpoint", "accountsUrl", "clientId")  # what reads show
KNOWN_SCOPES = frozenset(
    {"openid", "session", "AdobeID", "read_organizations", "additional_info.projectedProductContext"}
)
TOKEN_LIFETIME_SECONDS = 86399
CRM_PROVIDER_ID = "0ed90a81-07f4-4586-8190-b40eccef1c5a"
DEFAULT_MODULES = ["Leads", "Contacts", "Accounts", "Deals", "Campaigns", "Tasks", "Products", "Vendors"]

_TITLES = {
    400: "Invalid request",
    403: "Forbidden",
    404: "Resource not found",
    412: "Version not matching",
}


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


class _FlowError(Exception):
    """A Flow Service error answer, raised from deep inside a handler."""

    def __init__(self, code: str, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = int(code.rsplit("-", 1)[1])
        self.message = message
        self.title = title or _TITLES.get(self.status, "Invalid request")


@dataclass
class _Context:
    """Who is calling, once the gateway let the request through."""

    client_id: str
    org_id: str
    sandbox: str


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
        # state
        self.connections: dict[str, dict[str, Any]] = {}
        self.tokens_minted = 0
        self._credentials: dict[str, _Credential] = {}
        self._tokens: dict[str, _Token] = {}
        self._sandboxes: dict[str, str] = {"prod": str(uuid.uuid4())}  # name -> sandbox id
        self._in_use: dict[str, list[str]] = {}
        self.route("POST", IMS_TOKEN_PATH, self._ims_token)
        self.route("*", FLOW_PREFIX, self._platform)
        self.route("*", FLOW_PREFIX + "/", self._platform)

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

    def set_in_use(self, connection_id: str, flow_ids: list[str]) -> None:
        """Mark a connection as used by dataflows; DELETE then answers ``1418-400``."""
        with self._lock:
            if flow_ids:
                self._in_use[connection_id] = list(flow_ids)
            else:
                self._in_use.pop(connection_id, None)

    def expire_tokens(self) -> None:
        """Invalidate every token minted so far (their next use answers ``401013``)."""
        with self._lock:
            for token in self._tokens.values():
                token.revoked = True

    def connections_in(self, sandbox: str) -> list[dict[str, Any]]:
        """Copies of the full stored records (secrets included) of one sandbox, oldest first."""
        with self._lock:
            return [copy.deepcopy(r) for r in self.connections.values() if r["sandboxName"] == sandbox]

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
                return self._flow_route(request, context)
            except _FlowError as error:
                return self._flow_error(error, request, gate)

    def _gateway(self, request: Request) -> Response | str:
        """Adobe I/O gateway checks; the caller's client id, or the gateway's error answer."""
        scheme, _, raw = (request.header("authorization") or "").strip().partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            return _gateway_error(401, "403010", "Oauth token is missing.")
        token = self._tokens.get(raw)
        if token is None or token.revoked or self.clock() >= token.expires_at:
            return _gateway_error(401, "401013", "Oauth token is not valid")
        if request.header("x-api-key") != token.client_id:
            return _gateway_error(403, "403000", "Api Key is invalid")
        credential = self._credentials[token.client_id]
        if request.header("x-gw-ims-org-id") != credential.org_id:
            return _gateway_error(403, "403027", "User is not part of the org")
        if not credential.entitled:
            return _gateway_error(403, "403025", "Profile is not valid")
        return token.client_id

    def _flow_checks(self, request: Request, client_id: str) -> _Context:
        """Flow Service's own request checks: sandbox header, sandbox, permission."""
        sandbox = request.header("x-sandbox-name")
        if not sandbox:
            raise _FlowError(
                "2105-400",
                "The header x-sandbox-name is missing in the request. Please add the header in the request and "
                "try again.",
                "Header is missing",
            )
        if sandbox not in self._sandboxes:
            raise _FlowError(
                "2101-404",
                f"The sandbox with the name '{sandbox}' could not be found. Error from Sandbox Management API: "
                f"Sandbox with name '{sandbox}' not present. Please check if resource exists.",
                "Sandbox not found",
            )
        if self.missing_permission:
            raise _FlowError(
                "2121-403",
                "The permission manage is denied on resource Enterprise Source. Please contact your "
                "administrator to resolve permissions and try again.",
            )
        org_id = self._credentials[client_id].org_id
        return _Context(client_id, org_id, sandbox)

    def _flow_route(self, request: Request, ctx: _Context) -> Response:
        parts = [p for p in request.path[len(FLOW_PREFIX) :].split("/") if p]
        method = request.method
        if len(parts) == 2 and parts[0] == "connectionSpecs" and method == "GET":
            return self._get_spec(parts[1])
        if parts == ["connections"]:
            if method == "GET":
                return self._list_connections(request, ctx)
            if method == "POST":
                return self._create_connection(request, ctx)
        if len(parts) == 2 and parts[0] == "connections":
            handler = {"GET": self._get_connection, "PATCH": self._patch_connection, "DELETE": self._delete_connection}
            if method in handler:
                return handler[method](request, ctx, parts[1])
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
        if spec_id == ZOHO_SPEC_ID and self.zoho_spec_state == "invalid":
            raise _invalid_spec()
        if spec_id != ZOHO_SPEC_ID or self.zoho_spec_state == "gone":
            raise _not_found()
        return Response.json({"items": [_zoho_spec()]})

    # ---- connections --------------------------------------------------------------------------
    def _create_connection(self, request: Request, ctx: _Context) -> Response:
        body = _json_body(request)
        if not isinstance(body, dict):
            raise _FlowError("1405-400", "The request body must be a JSON object.")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _FlowError("1400-400", "Validation failed: 'name' is required and must be a non-empty string.")
        description = body.get("description", "")
        if not isinstance(description, str):
            raise _FlowError("1400-400", "Validation failed: 'description' must be a string.")
        spec = body.get("connectionSpec")
        spec_id = spec.get("id") if isinstance(spec, dict) else None
        spec_version = spec.get("version") if isinstance(spec, dict) else None
        if spec_id != ZOHO_SPEC_ID or self.zoho_spec_state != "served" or spec_version != "1.0":
            raise _invalid_spec()
        auth = body.get("auth")
        auth = auth if isinstance(auth, dict) else {}
        spec_name = auth.get("specName")
        if spec_name != ZOHO_AUTH_SPEC_NAME:
            raise _FlowError(
                "1415-400", f"The auth spec '{spec_name}' could not be found for the connection spec ID {spec_id}."
            )
        params = _validated_params(auth.get("params"))
        now_ms = self._now_ms()
        etag = self._new_etag()
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
        return Response.json({"id": record["id"], "etag": etag}, 201)

    def _list_connections(self, request: Request, ctx: _Context) -> Response:
        pairs = parse_qsl(request.query_string, keep_blank_values=True)
        filters = [_parse_property(value) for key, value in pairs if key == "property"]
        query = dict(pairs)
        limit = _positive_int(query.get("limit"), "limit")
        start = _continuation_offset(query.get("continuationToken"))
        matching = [
            view
            for view in (_public_view(r) for r in self._visible_records(ctx))
            if all(_matches(view, path, op, expected) for path, op, expected in filters)
        ]
        end = len(matching) if limit is None else start + limit
        links: dict[str, Any] = {}
        if end < len(matching):
            following = [(k, v) for k, v in pairs if k != "continuationToken"] + [("continuationToken", str(end))]
            links["next"] = {"href": f"{FLOW_PREFIX}/connections?{urlencode(following)}"}
        return Response.json({"items": matching[start:end], "_links": links})

    def _get_connection(self, request: Request, ctx: _Context, connection_id: str) -> Response:
        return Response.json({"items": [_public_view(self._visible(connection_id, ctx))]})

    def _patch_connection(self, request: Request, ctx: _Context, connection_id: str) -> Response:
        record = self._visible(connection_id, ctx)
        if_match = request.header("if-match")
        if if_match is None:
            raise _FlowError(
                "1403-400",
                "The header 'If-Match' is missing in the request. Please provide the header and try again.",
                "Header is missing",
            )
        if if_match != record["etag"]:
            raise _FlowError(
                "1404-412",
                f"The supplied version '{if_match}' does not match the current version on entity "
                f"'{record['etag']}'. Please ensure that the supplied version matches the current version on "
                "entity and try again.",
            )
        if self.patch_refused:
            raise _FlowError("1445-400", "PATCH Connection Feature not enabled.")
        operations = _json_body(request)
        if not isinstance(operations, list) or not operations:
            raise _FlowError("1455-400", "An error has occurred while validating patch instructions: expected a list.")
        updated = copy.deepcopy(record)
        for operation in operations:
            _apply_patch(updated, operation)
        etag = self._new_etag()
        updated.update(
            etag=etag,
            version=etag,
            updatedAt=self._now_ms(),
            updatedBy=f"{ctx.client_id}@AdobeID",
            updatedClient=ctx.client_id,
        )
        self.connections[connection_id] = updated
        return Response.json({"id": connection_id, "etag": etag})

    def _delete_connection(self, request: Request, ctx: _Context, connection_id: str) -> Response:
        self._visible(connection_id, ctx)
        flows = self._in_use.get(connection_id)
        if flows:
            raise _FlowError(
                "1418-400",
                f"The base connection with the ID {connection_id} cannot be deleted because the base connection is "
                f"being used in one or more flows: {', '.join(flows)}. Please ensure that corresponding flows are "
                "deleted before deleting a base connection.",
            )
        del self.connections[connection_id]
        return Response(204)

    def _explore(self, request: Request, ctx: _Context, connection_id: str) -> Response:
        self._visible(connection_id, ctx)
        object_type = request.query.get("objectType", "root")
        if object_type != "root":
            raise _FlowError("1451-400", f"Invalid params objectType={object_type} provided in query params.")
        tables = [
            {"type": "table", "name": m, "path": m, "canPreview": True, "canFetchSchema": True} for m in self.modules
        ]
        return Response.json(tables)

    # ---- helpers ------------------------------------------------------------------------------
    def _visible_records(self, ctx: _Context) -> list[dict[str, Any]]:
        return [r for r in self.connections.values() if r["sandboxName"] == ctx.sandbox and r["imsOrgId"] == ctx.org_id]

    def _visible(self, connection_id: str, ctx: _Context) -> dict[str, Any]:
        record = self.connections.get(connection_id)
        if record is None or record["sandboxName"] != ctx.sandbox or record["imsOrgId"] != ctx.org_id:
            raise _not_found()
        return record

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _new_etag(self) -> str:
        """An etag shaped like Adobe's, literal quotes included: ``"600290fc-0000-0200-0000-67084cc30000"``."""
        return f'"{secrets.token_hex(4)}-0000-0200-0000-{int(self.clock()) & 0xFFFFFFFF:08x}0000"'

    def _flow_error(self, error: _FlowError, request: Request, client_id: str) -> Response:
        sandbox = request.header("x-sandbox-name")
        now = self.clock()
        request_id = request.header("x-request-id") or str(uuid.uuid4())
        body = {
            "type": f"https://ns.adobe.com/aep/errors/FLOW-{error.code}",
            "title": error.title,
            "status": error.status,
            "report": {
                "tenantInfo": {
                    "sandboxName": sandbox,
                    "sandboxId": self._sandboxes.get(sandbox or ""),
                    "imsOrgId": self._credentials[client_id].org_id,
                },
                "additionalContext": None,
                "request-id": request_id,
                "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            },
            "error-chain": [
                {
                    "serviceId": "flowservice",
                    "errorCode": error.code,
                    "invokingServiceId": client_id,
                    "unixTimeStampMs": int(now * 1000),
                }
            ],
            "errorMessage": error.message,
            "errorCode": error.code,
        }
        return Response.json(body, error.status, {"x-request-id": request_id})


# ---- module helpers ---------------------------------------------------------------------------
def _ims_error(status: int, error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, status)


def _gateway_error(status: int, code: str, message: str) -> Response:
    return Response.json({"error_code": code, "message": message}, status)


def _not_found() -> _FlowError:
    return _FlowError(
        "1101-404",
        "The requested resource is not found. Error from flow provider: Resource with given id does not exist.",
    )


def _invalid_spec() -> _FlowError:
    return _FlowError("1413-400", "The spec ID provided is invalid. Please provide a valid spec ID and try again.")


def _json_body(request: Request) -> Any:
    if not request.body.strip():
        raise _FlowError("1405-400", "The request body cannot be null or empty. Please provide a request body.")
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _FlowError("1405-400", "The request body is not valid JSON.") from exc


def _validated_params(params: Any) -> dict[str, str]:
    """The six Zoho auth params, exactly, each a non-empty string (else ``1400-400``)."""
    if not isinstance(params, dict) or set(params) != set(ZOHO_AUTH_PARAMS):
        raise _FlowError(
            "1400-400", f"Validation failed: auth.params must hold exactly these keys: {', '.join(ZOHO_AUTH_PARAMS)}."
        )
    for key in ZOHO_AUTH_PARAMS:
        _validated_param(key, params[key])
    return {key: params[key] for key in ZOHO_AUTH_PARAMS}


def _validated_param(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _FlowError("1400-400", f"Validation failed: auth.params.{key} must be a non-empty string.")
    return value


def _apply_patch(record: dict[str, Any], operation: Any) -> None:
    """Apply one JSON-Patch ``replace`` to ``record`` (a copy), validating it first."""
    if not isinstance(operation, dict) or "path" not in operation or "value" not in operation:
        raise _FlowError(
            "1455-400", "An error has occurred while validating patch instructions: each needs op, path and value."
        )
    op, path, value = operation.get("op"), operation["path"], operation["value"]
    param_key = path.removeprefix("/auth/params/") if isinstance(path, str) else None
    if op != "replace":
        raise _FlowError(
            "1434-400", f"Unsupported operation '{op}' received. Please use one of the supported operation types."
        )
    if path == "/auth/params":
        record["auth"]["params"] = _validated_params(value)
    elif param_key != path and param_key in ZOHO_AUTH_PARAMS:
        record["auth"]["params"][param_key] = _validated_param(param_key, value)
    elif path == "/name":
        if not isinstance(value, str) or not value.strip():
            raise _FlowError("1400-400", "Validation failed: 'name' must be a non-empty string.")
        record["name"] = value
    elif path == "/description":
        if not isinstance(value, str):
            raise _FlowError("1400-400", "Validation failed: 'description' must be a string.")
        record["description"] = value
    else:
        raise _FlowError(
            "1455-400", f"An error has occurred while validating patch instructions: unsupported path {path!r}."
        )


def _public_view(record: dict[str, Any]) -> dict[str, Any]:
    """A record as reads return it: a copy whose ``auth.params`` omits the secret ones."""
    view = copy.deepcopy(record)
    params = view["auth"]["params"]
    view["auth"]["params"] = {k: params[k] for k in PUBLIC_AUTH_PARAMS if k in params}
    return view


def _parse_property(value: str) -> tuple[str, str, str]:
    """``connectionSpec.id==X`` -> ``("connectionSpec.id", "==", "X")``."""
    for op in ("==", "!="):
        field_path, found, expected = value.partition(op)
        if found:
            if not field_path:
                raise _FlowError("1453-400", f"Invalid query value {value} provided in query param.")
            return field_path, op, expected
    raise _FlowError("1450-400", f"Invalid operator in filter params: {value}.")


def _matches(view: dict[str, Any], field_path: str, op: str, expected: str) -> bool:
    current: Any = view
    for part in field_path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    actual = None if current is None else str(current)
    return (actual == expected) if op == "==" else (actual != expected)


def _positive_int(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise _FlowError("1453-400", f"Invalid query value {name}={raw} provided in query param.")
    return int(raw)


def _continuation_offset(raw: str | None) -> int:
    if raw is None:
        return 0
    if not raw.isdigit():
        raise _FlowError("1453-400", f"Invalid query value continuationToken={raw} provided in query param.")
    return int(raw)
