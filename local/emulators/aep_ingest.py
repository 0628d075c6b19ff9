"""The ingestion engine of the Adobe emulator: one run of a CloudStorageToAEP flow, as AEP makes it.

A run lists the source connection's folder in S3 with the base connection's own key, takes the files
new or modified since the flow last read them (AEP picks files by their last-modified time; S3 lists
it to the second, so the emulator remembers each file's ETag instead of comparing times), gunzips and
parses them as the source connection's delimited format, applies the mapping set version the flow
names, lands the rows that map in the dataset as one batch and records the run in Flow Service's
shape (``metrics.recordSummary``, ``fileSummary``, ``statusSummary{status, errors}``,
``targetInfo``). A row that does not map is a row error: it is counted, the others land
(``partialSuccess``); a flow with ``options.partialIngestionPercent`` fails the whole run when more
than that share of rows fail. A key S3 refuses fails the run (``CONNECTOR-1001-500``, S3's code in
the message) and moves nothing forward, so the next run reads the same files.

Statuses (the emulator's choice where the reference is open): ``success``, ``partialSuccess``,
``failed``; a run that finds no new file is a ``success`` with zero counts.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.emulators.aep_common import Context
from local.emulators.aep_dataflows import split_path
from local.emulators.aep_dataprep import Mapper, RowError
from local.emulators.aep_s3 import S3Denied, S3File, list_files, read_file

if TYPE_CHECKING:
    from local.emulators.adobe import AdobeEmulator

__all__ = ["run_flow"]

SOURCE_ERROR = "CONNECTOR-1001-500"


@dataclass
class _Outcome:
    files: int = 0
    records: int = 0
    bytes_read: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def run_flow(emulator: AdobeEmulator, flow: dict[str, Any]) -> dict[str, Any]:
    """Run ``flow`` once now; the run record (also stored in ``emulator.runs``)."""
    ctx = Context(flow["createdBy"].removesuffix("@AdobeID"), flow["imsOrgId"], flow["sandboxName"])
    source = emulator.source_connections[flow["sourceConnectionIds"][0]]
    target = emulator.target_connections[flow["targetConnectionIds"][0]]
    base = emulator.connections[source["baseConnectionId"]]
    started = emulator.now_ms()
    outcome = _Outcome()
    failure: tuple[str, str] | None = None
    try:
        new = _new_files(base["auth"]["params"], source, flow)
        mapper = _mapper(emulator, flow, target, ctx)
        for item in new:
            _read_into(outcome, base["auth"]["params"], source, item, mapper)
    except S3Denied as denied:
        failure = (SOURCE_ERROR, f"The source refused the connection's credential: {denied.code}: {denied.message}")
        new = []
    status, batch_id = _land(emulator, flow, target, ctx, outcome, failure)
    if failure is None:
        flow.setdefault("_seen", {}).update({f.key: f.etag for f in new})
    run = _record(emulator, flow, ctx, started, outcome, status, failure, batch_id)
    emulator.runs[run["id"]] = run
    flow["lastRunDetails"] = {
        "id": run["id"],
        "state": status,
        "startedAtUTC": started,
        "completedAtUTC": run["updatedAt"],
    }
    return run


def _new_files(params: dict[str, str], source: dict[str, Any], flow: dict[str, Any]) -> list[S3File]:
    bucket, prefix = split_path(source["params"]["path"], params)
    files, _ = list_files(params, bucket, prefix, recursive=bool(source["params"].get("recursive")))
    schedule = flow["scheduleParams"]
    seen: dict[str, str] = flow.get("_seen", {})
    since = float(schedule["startTime"]) if schedule.get("backfill") is False else None
    new = [f for f in files if seen.get(f.key) != f.etag and (since is None or f.modified.timestamp() >= since)]
    return sorted(new, key=lambda f: (f.modified, f.key))


def _mapper(emulator: AdobeEmulator, flow: dict[str, Any], target: dict[str, Any], ctx: Context) -> Mapper:
    params = flow["transformations"][0]["params"]
    mappings = emulator.dataprep.version(params["mappingId"], params["mappingVersion"], ctx) or []
    schema_id = target["data"]["schema"]["id"]
    return Mapper(mappings, emulator.registry.field_types(schema_id, ctx), emulator.registry.required(schema_id, ctx))


def _read_into(outcome: _Outcome, params: dict[str, str], source: dict[str, Any], item: S3File, mapper: Mapper) -> None:
    bucket = source["params"]["path"].strip("/").split("/", 1)[0]
    props = source["data"].get("properties", {})
    raw = read_file(params, bucket, item.key, props.get("compressionType"))
    outcome.files += 1
    outcome.bytes_read += len(raw)
    text = raw.decode(props.get("encoding", "UTF-8").replace("UTF-8", "utf-8"))
    reader = csv.DictReader(io.StringIO(text), delimiter=props.get("columnDelimiter", ","))
    for number, row in enumerate(reader, start=1):
        outcome.records += 1
        mapped = mapper.apply(number, {k: v or "" for k, v in row.items() if k is not None})
        if isinstance(mapped, RowError):
            outcome.errors.append(mapped)
        else:
            outcome.rows.append(mapped)


def _land(
    emulator: AdobeEmulator,
    flow: dict[str, Any],
    target: dict[str, Any],
    ctx: Context,
    outcome: _Outcome,
    failure: tuple[str, str] | None,
) -> tuple[str, str | None]:
    """The run's status, after landing its rows in the dataset as one batch (when any was read)."""
    if failure is not None:
        return "failed", None
    total = len(outcome.rows) + len(outcome.errors)
    if total == 0:
        return "success", None
    allowed = (flow.get("options") or {}).get("partialIngestionPercent", 100)
    if not outcome.rows or 100 * len(outcome.errors) > float(allowed) * total:
        outcome.rows = []
        return "failed", None
    batch = emulator.catalog.add_batch(target["params"]["dataSetId"], outcome.rows, len(outcome.errors), ctx)
    return ("partialSuccess" if outcome.errors else "success"), batch


def _record(
    emulator: AdobeEmulator,
    flow: dict[str, Any],
    ctx: Context,
    started: int,
    outcome: _Outcome,
    status: str,
    failure: tuple[str, str] | None,
    batch_id: str | None,
) -> dict[str, Any]:
    errors = [{"code": failure[0], "message": failure[1]}] if failure else []
    errors += [{"code": e.code, "message": f"row {e.row}: {e.message}"} for e in outcome.errors[:100]]
    now = emulator.now_ms()
    return {
        "id": str(uuid.uuid4()),
        "flowId": flow["id"],
        "flowSpec": dict(flow["flowSpec"]),
        "createdAt": started,
        "updatedAt": now,
        "createdBy": flow["createdBy"],
        "sandboxName": ctx.sandbox,
        "imsOrgId": ctx.org_id,
        "etag": emulator.new_etag(),
        "metrics": {
            "durationSummary": {"startedAtUTC": started, "completedAtUTC": now},
            "sizeSummary": {"inputBytes": outcome.bytes_read, "outputBytes": outcome.bytes_read if batch_id else 0},
            "recordSummary": {
                "inputRecordCount": outcome.records,
                "outputRecordCount": len(outcome.rows),
                "failedRecordCount": len(outcome.errors),
            },
            "fileSummary": {"inputFileCount": outcome.files, "outputFileCount": outcome.files if batch_id else 0},
            "statusSummary": {"status": status, "errors": errors},
        },
        "targetInfo": [{"reference": {"type": "Batch", "ids": [batch_id] if batch_id else []}}],
    }
