"""Flow Service's Amazon S3 source in the Adobe emulator: its connection spec, S3 base connections and
their explore, source and target connections, CloudStorageToAEP flows, their actions and runs.

As Adobe documents them (``shared/reference/aep-s3-continuity.md`` sections 2 and 3): the S3 spec
``ecadc60c-...`` with the ``Access Key`` auth spec (``s3AccessKey``, ``s3SecretKey`` required;
``s3SessionToken``, ``serviceUrl``, ``bucketName``, ``folderPath`` optional; the secrets never read
back); explore of ``objectType=folder&object=/{bucket}/{prefix}`` lists the folder in S3 with the
connection's own key; source connections on S3 take ``data.format`` ``delimited|json|parquet`` and a
``params.path`` of ``/{bucket}/...``; target connections use the Data Lake spec and name a dataset
whose schema is ``data.schema.id`` (version ``application/vnd.adobe.xed-full+json;version=1``);
a flow on ``CloudStorageToAEP`` joins one of each through a ``Mapping`` step whose mapping set
targets the same schema, on a schedule whose ``startTime`` is epoch seconds and whose ``minute``
interval is at least 15 (``once`` takes neither interval nor backfill); ``PATCH`` needs ``If-Match``;
``POST /flows/{id}/action?op=ENABLE|DISABLE``.

Error codes the reference leaves open (the emulator's choice): ``1400-400`` a body or schedule that
fails validation (as for base connections); ``2203-400`` explore refused by S3 (the message carries
S3's code: ``AccessDenied``, ``InvalidAccessKeyId``...); ``1451-400`` an ``objectType`` other than
``root`` or ``folder``, or a folder outside the connection's bucket and ``folderPath``.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from local.emulators.aep_common import Context, FlowError, visible
from local.emulators.aep_s3 import S3Denied, list_files
from local.emulators.base import Request, Response

if TYPE_CHECKING:
    from local.emulators.adobe import AdobeEmulator

__all__ = [
    "CLOUD_STORAGE_FLOW_SPEC_ID",
    "DATA_LAKE_SPEC_ID",
    "S3_AUTH_SPEC_NAME",
    "S3_SECRET_PARAMS",
    "S3_SPEC_ID",
    "Dataflows",
    "split_path",
    "validated_s3_param",
    "validated_s3_params",
]

S3_SPEC_ID = "ecadc60c-7455-4d87-84dc-2a0e293d997b"
S3_AUTH_SPEC_NAME = "Access Key"
S3_REQUIRED_PARAMS = ("s3AccessKey", "s3SecretKey")
S3_OPTIONAL_PARAMS = ("s3SessionToken", "serviceUrl", "bucketName", "folderPath")
S3_SECRET_PARAMS = ("s3SecretKey", "s3SessionToken")
DATA_LAKE_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
CLOUD_STORAGE_FLOW_SPEC_ID = "9753525b-82c7-4dce-8a9b-5ccfce2b9876"
XED_FULL = "application/vnd.adobe.xed-full+json;version=1"
MIN_MINUTE_INTERVAL = 15
_FREQUENCIES = ("once", "minute", "hour", "day", "week")
_FORMATS = ("delimited", "json", "parquet")
_COMPRESSIONS = ("bzip2", "gzip", "deflate", "zipDeflate", "tarGzip", "tar")


def s3_spec() -> dict[str, Any]:
    """The Amazon S3 connection spec as Flow Service describes it (trimmed to what matters)."""
    properties: dict[str, Any] = {
        "s3AccessKey": {"type": "string", "description": "The access key ID for your S3 bucket."},
        "s3SecretKey": {"type": "string", "format": "password", "description": "The secret key."},
        "s3SessionToken": {"type": "string", "format": "password", "description": "A temporary token (STS)."},
        "serviceUrl": {"type": "string", "description": "A custom S3 endpoint, https://s3.{REGION}.amazonaws.com."},
        "bucketName": {"type": "string", "description": "The bucket to read."},
        "folderPath": {"type": "string", "description": "The folder the key may read (restricted access)."},
    }
    return {
        "id": S3_SPEC_ID,
        "name": "amazon-s3",
        "providerId": "0ed90a81-07f4-4586-8190-b40eccef1c5a",
        "version": "1.0",
        "type": "cloudStorage",
        "authSpec": [
            {
                "name": S3_AUTH_SPEC_NAME,
                "type": "KeyBased",
                "spec": {"type": "object", "properties": properties, "required": list(S3_REQUIRED_PARAMS)},
            }
        ],
        "exploreSpec": {"name": "FileSystem", "type": "FileSystem"},
        "attributes": {"category": "CloudStorage", "isSource": True},
    }


def cloud_storage_flow_spec() -> dict[str, Any]:
    return {
        "id": CLOUD_STORAGE_FLOW_SPEC_ID,
        "name": "CloudStorageToAEP",
        "version": "1.0",
        "sourceConnectionSpecIds": [S3_SPEC_ID],
        "targetConnectionSpecIds": [DATA_LAKE_SPEC_ID],
        "transformationSpecs": [{"name": "Mapping", "spec": {"required": ["mappingId", "mappingVersion"]}}],
        "scheduleSpec": {"name": "PeriodicSchedule", "type": "Periodic", "minimumIntervalMinutes": MIN_MINUTE_INTERVAL},
        "attributes": {"isSourceFlow": True},
    }


def validated_s3_param(key: str, value: Any) -> str:
    if key not in S3_REQUIRED_PARAMS + S3_OPTIONAL_PARAMS:
        raise FlowError("1400-400", f"Validation failed: auth.params.{key} is not a param of the Access Key spec.")
    if not isinstance(value, str) or (key in S3_REQUIRED_PARAMS and not value.strip()):
        raise FlowError("1400-400", f"Validation failed: auth.params.{key} must be a non-empty string.")
    if key == "serviceUrl" and value and not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise FlowError("1400-400", "Validation failed: auth.params.serviceUrl must be an https URL.")
    return value


def validated_s3_params(params: Any) -> dict[str, str]:
    """The Access Key params: both keys required, the optional ones known (else ``1400-400``)."""
    if not isinstance(params, dict) or not all(k in params for k in S3_REQUIRED_PARAMS):
        raise FlowError("1400-400", "Validation failed: auth.params needs s3AccessKey and s3SecretKey.")
    return {key: validated_s3_param(key, value) for key, value in params.items()}


def split_path(path: str, params: dict[str, str]) -> tuple[str, str]:
    """``/{bucket}/{prefix}`` -> (bucket, prefix/), inside the connection's bucket and ``folderPath``."""
    bucket, _, rest = path.strip("/").partition("/")
    prefix = f"{rest.strip('/')}/" if rest.strip("/") else ""
    folder = params.get("folderPath", "").strip("/")
    if (params.get("bucketName") and bucket != params["bucketName"]) or (
        folder and not f"{prefix}".startswith(folder + "/")
    ):
        raise FlowError("1451-400", f"The path {path} is outside the connection's bucket and folder.")
    return bucket, prefix


class Dataflows:
    """The S3 source's Flow Service objects; state lives on the emulator (``emulator.flows`` etc.)."""

    def __init__(self, emulator: AdobeEmulator) -> None:
        self.emulator = emulator

    # ---- explore ---------------------------------------------------------------------------------
    def explore(self, record: dict[str, Any], object_type: str, path: str | None) -> Response:
        params = record["auth"]["params"]
        if object_type == "root":
            bucket = params.get("bucketName", "")
            return Response.json([{"type": "folder", "name": bucket, "path": f"/{bucket}", "canPreview": False}])
        if object_type != "folder" or not path:
            raise FlowError("1451-400", f"Invalid params objectType={object_type} provided in query params.")
        bucket, prefix = split_path(path, params)
        try:
            files, folders = list_files(params, bucket, prefix, recursive=False)
        except S3Denied as denied:
            raise FlowError(
                "2203-400",
                f"Unable to list the folder {path} with the connection's credential: {denied.code}: {denied.message}",
                "Source access refused",
            ) from denied
        items = [
            {"type": "folder", "name": f.rstrip("/").rsplit("/", 1)[-1], "path": f"/{bucket}/{f}", "canPreview": False}
            for f in folders
        ]
        items += [
            {
                "type": "file",
                "name": f.key.rsplit("/", 1)[-1],
                "path": f"/{bucket}/{f.key}",
                "canPreview": True,
                "canFetchSchema": True,
            }
            for f in files
        ]
        return Response.json(items)

    # ---- creates ---------------------------------------------------------------------------------
    def create(self, request: Request, ctx: Context, kind: str, body: dict[str, Any]) -> Response:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FlowError("1400-400", "Validation failed: 'name' is required and must be a non-empty string.")
        builders = {"sourceConnections": self._source, "targetConnections": self._target, "flows": self._flow}
        record = builders[kind](body, ctx)
        now = self.emulator.now_ms()
        etag = self.emulator.new_etag()
        record.update(
            {
                "id": str(uuid.uuid4()),
                "name": name,
                "description": str(body.get("description", "")),
                "createdAt": now,
                "updatedAt": now,
                "createdBy": f"{ctx.client_id}@AdobeID",
                "updatedBy": f"{ctx.client_id}@AdobeID",
                "sandboxName": ctx.sandbox,
                "imsOrgId": ctx.org_id,
                "state": "enabled",
                "etag": etag,
                "version": etag,
            }
        )
        self.emulator.store_of(kind)[record["id"]] = record
        location = f"{request.server}{request.path.rstrip('/')}/{record['id']}"
        return Response.json({"id": record["id"], "etag": etag}, 201, {"Location": location})

    def _source(self, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        _check_spec(body, S3_SPEC_ID)
        base = self.emulator.connections.get(str(body.get("baseConnectionId")))
        if base is None or not visible(base, ctx) or base["connectionSpec"]["id"] != S3_SPEC_ID:
            raise FlowError("1400-400", "Validation failed: baseConnectionId must name an Amazon S3 base connection.")
        data = _obj(body.get("data"))
        props = _obj(data.get("properties"))
        if data.get("format") not in _FORMATS:
            raise FlowError("1400-400", f"Validation failed: data.format must be one of {', '.join(_FORMATS)}.")
        if props.get("compressionType") not in (None, *_COMPRESSIONS):
            raise FlowError(
                "1400-400", f"Validation failed: compressionType {props.get('compressionType')} is unknown."
            )
        params = _obj(body.get("params"))
        if not isinstance(params.get("path"), str) or params.get("type") not in ("file", "folder"):
            raise FlowError("1400-400", "Validation failed: params.path and params.type (file|folder) are required.")
        split_path(params["path"], base["auth"]["params"])
        return {
            "baseConnectionId": base["id"],
            "connectionSpec": {"id": S3_SPEC_ID, "version": "1.0"},
            "data": copy.deepcopy(data),
            "params": copy.deepcopy(params),
        }

    def _target(self, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        _check_spec(body, DATA_LAKE_SPEC_ID)
        params = _obj(body.get("params"))
        schema = _obj(body.get("data")).get("schema")
        dataset = self.emulator.catalog.dataset(str(params.get("dataSetId")), ctx)
        if dataset is None:
            raise FlowError("1400-400", "Validation failed: params.dataSetId must name a dataset of this sandbox.")
        if not isinstance(schema, dict) or schema.get("version") != XED_FULL:
            raise FlowError("1400-400", f"Validation failed: data.schema.version must be {XED_FULL}.")
        if schema.get("id") != dataset["schemaRef"]["id"]:
            raise FlowError("1400-400", "Validation failed: data.schema.id is not the schema of the dataset.")
        return {
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
            "data": {"schema": copy.deepcopy(schema)},
            "params": {"dataSetId": params["dataSetId"]},
        }

    def _flow(self, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        spec = body.get("flowSpec")
        if not isinstance(spec, dict) or spec.get("id") != CLOUD_STORAGE_FLOW_SPEC_ID or spec.get("version") != "1.0":
            raise FlowError(
                "1413-400", "The spec ID provided is invalid. Please provide a valid spec ID and try again."
            )
        sources, targets = body.get("sourceConnectionIds"), body.get("targetConnectionIds")
        source = self._one(self.emulator.source_connections, sources, ctx, "sourceConnectionIds")
        target = self._one(self.emulator.target_connections, targets, ctx, "targetConnectionIds")
        steps = body.get("transformations")
        if not isinstance(steps, list) or len(steps) != 1:
            raise FlowError("1400-400", "Validation failed: transformations must hold one Mapping step.")
        record = {
            "flowSpec": {"id": CLOUD_STORAGE_FLOW_SPEC_ID, "version": "1.0"},
            "sourceConnectionIds": [source["id"]],
            "targetConnectionIds": [target["id"]],
            "transformations": [self._mapping_step(steps[0], target, ctx)],
            "scheduleParams": validated_schedule(body.get("scheduleParams")),
            "inheritedAttributes": {
                "sourceConnections": [
                    {
                        "id": source["id"],
                        "connectionSpec": dict(source["connectionSpec"]),
                        "baseConnection": {
                            "id": source["baseConnectionId"],
                            "connectionSpec": dict(source["connectionSpec"]),
                        },
                    }
                ],
                "targetConnections": [{"id": target["id"], "connectionSpec": dict(target["connectionSpec"])}],
            },
        }
        if isinstance(body.get("options"), dict):
            record["options"] = copy.deepcopy(body["options"])
        return record

    def _one(self, store: dict[str, dict[str, Any]], ids: Any, ctx: Context, what: str) -> dict[str, Any]:
        found = store.get(ids[0]) if isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) else None
        if found is None or not visible(found, ctx):
            raise FlowError("1400-400", f"Validation failed: {what} must name one connection of this sandbox.")
        return found

    def _mapping_step(self, step: Any, target: dict[str, Any], ctx: Context) -> dict[str, Any]:
        params = step.get("params") if isinstance(step, dict) and step.get("name") == "Mapping" else None
        mapping_id = params.get("mappingId") if isinstance(params, dict) else None
        version = params.get("mappingVersion") if isinstance(params, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            raise FlowError(
                "1400-400", "Validation failed: the Mapping step needs mappingId and an integer mappingVersion."
            )
        record = self.emulator.dataprep.sets.get(str(mapping_id))
        if (
            record is None
            or not visible(record, ctx)
            or self.emulator.dataprep.version(str(mapping_id), version, ctx) is None
        ):
            raise FlowError(
                "1400-400", f"Validation failed: mapping set {mapping_id} version {version} does not exist."
            )
        schema = record["versions"][version]["outputSchema"]["schemaRef"]["id"]
        if schema != target["data"]["schema"]["id"]:
            raise FlowError("1400-400", "Validation failed: the mapping set's schema is not the target connection's.")
        return {"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": version}}

    # ---- flow updates -------------------------------------------------------------------------
    def patch_flow(self, request: Request, ctx: Context, flow: dict[str, Any], operations: Any) -> Response:
        self.emulator.check_if_match(request, flow)
        if not isinstance(operations, list) or not operations:
            raise FlowError("1455-400", "An error has occurred while validating patch instructions: expected a list.")
        updated = copy.deepcopy(flow)
        target = self.emulator.target_connections[flow["targetConnectionIds"][0]]
        for operation in operations:
            op = operation.get("op") if isinstance(operation, dict) else None
            path = operation.get("path") if isinstance(operation, dict) else None
            if (
                not isinstance(op, str)
                or op.lower() != "replace"
                or not isinstance(path, str)
                or "value" not in operation
            ):
                raise FlowError("1455-400", "An error has occurred while validating patch instructions: replace only.")
            value = operation["value"]
            if path == "/transformations/0":
                updated["transformations"] = [self._mapping_step(value, target, ctx)]
            elif path == "/scheduleParams":
                updated["scheduleParams"] = value
            elif path.startswith("/scheduleParams/"):
                updated["scheduleParams"] = {**updated["scheduleParams"], path.rsplit("/", 1)[1]: value}
            elif path in ("/name", "/description") and isinstance(value, str):
                updated[path[1:]] = value
            else:
                raise FlowError("1455-400", f"An error has occurred while validating patch instructions: {path!r}.")
        updated["scheduleParams"] = validated_schedule(updated["scheduleParams"])
        etag = self.emulator.new_etag()
        updated.update(etag=etag, version=etag, updatedAt=self.emulator.now_ms(), updatedBy=f"{ctx.client_id}@AdobeID")
        self.emulator.flows[flow["id"]] = updated
        return Response.json({"id": flow["id"], "etag": etag})

    def action(self, request: Request, flow: dict[str, Any]) -> Response:
        op = request.query.get("op", "").upper()
        if op not in ("ENABLE", "DISABLE"):
            raise FlowError("1400-400", f"Validation failed: op={op} is not ENABLE or DISABLE.")
        flow["state"] = "enabled" if op == "ENABLE" else "disabled"
        flow["etag"] = flow["version"] = self.emulator.new_etag()
        return Response.json({"id": flow["id"], "etag": flow["etag"]}, 202)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _check_spec(body: dict[str, Any], spec_id: str) -> None:
    spec = body.get("connectionSpec")
    if not isinstance(spec, dict) or spec.get("id") != spec_id or spec.get("version") != "1.0":
        raise FlowError("1413-400", "The spec ID provided is invalid. Please provide a valid spec ID and try again.")


def validated_schedule(schedule: Any) -> dict[str, Any]:
    """``scheduleParams`` as the flow spec's ``scheduleSpec`` allows them (else ``1400-400``)."""
    if not isinstance(schedule, dict):
        raise FlowError("1400-400", "Validation failed: scheduleParams is required.")
    start, frequency = str(schedule.get("startTime", "")), schedule.get("frequency")
    if not start.isdigit() or len(start) > 11:
        raise FlowError("1400-400", "Validation failed: scheduleParams.startTime must be epoch seconds.")
    if frequency not in _FREQUENCIES:
        raise FlowError(
            "1400-400", f"Validation failed: scheduleParams.frequency must be one of {', '.join(_FREQUENCIES)}."
        )
    if frequency == "once":
        if "interval" in schedule or "backfill" in schedule:
            raise FlowError("1400-400", "Validation failed: a 'once' schedule takes no interval or backfill.")
        return copy.deepcopy(schedule)
    interval = str(schedule.get("interval", ""))
    minimum = MIN_MINUTE_INTERVAL if frequency == "minute" else 1
    if not interval.isdigit() or int(interval) < minimum:
        raise FlowError(
            "1400-400", f"Validation failed: scheduleParams.interval must be at least {minimum} for {frequency}."
        )
    if not isinstance(schedule.get("backfill", True), bool):
        raise FlowError("1400-400", "Validation failed: scheduleParams.backfill must be a boolean.")
    return copy.deepcopy(schedule)
