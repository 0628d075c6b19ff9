"""Use case: everything AEP needs to ingest one connection's exported files over its Amazon S3 source.

For the connection (once): the sandbox's tenant id and the product's record class, and an S3 base
connection holding the reader's key, scoped to the connection's export folder and tested with AEP's
own explore. For each exported module: a field group generated from Zoho's field metadata (in the
export's column order), a schema on the class, a dataset, a source connection on the module's
folder (gzip CSV), a target connection to the dataset, a Data Prep mapping set (Zoho's datetimes
parsed with their own format) and a dataflow on the CloudStorageToAEP spec, every export interval.

Idempotent and crash-safe as the native path is: one run at a time per connection (the provisioning
claim), every object read by its recorded id, else found by its name, else created (``objects.py``),
and each new id recorded in ``state/{connection}/_aep.json`` at once. A re-run therefore updates:
new Zoho fields are added to the field group (additive only), the mapping set gets a new version
and the dataflow is moved onto it; nothing is created twice.

Before anything is created the sandbox's batch budget is checked: all of the S3 path's dataflows in
a sandbox together may run at most ``AepDailyRunBudget`` times a day (AEP's guardrail is 90 Profile
batches a day per sandbox); a connection that would go past it is refused with
``aep-batch-budget-exceeded``, saying what to change.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...adapters.adobe.flow import BaseConnection
from ...adapters.adobe.registry import Resource
from ...domain import events as ev
from ...domain.aep import (
    CLOUD_STORAGE_FLOW_SPEC,
    DATA_LAKE_CONNECTION_SPEC,
    MIN_FLOW_INTERVAL_MINUTES,
    RECORD_CLASS_TITLE,
    S3_AUTH_SPEC,
    S3_CONNECTION_SPEC,
    AepState,
    ModuleObjects,
    dataset_name,
    field_group_title,
    flow_schedule,
    flows_in_use,
    module_object_name,
    runs_per_day,
    s3_base_connection_name,
)
from ...domain.connection import (
    STATUS_ACTIVE,
    STATUS_INGESTION_FAILING,
    STATUS_NEEDS_REAUTH,
    STATUS_PROVISIONING_FAILED,
    TAG_BASE_CONNECTION_ID,
    TAG_LAST_ERROR,
    TAG_PATH,
    TAG_SANDBOX,
    TAG_STATUS,
)
from ...domain.credentials import ReaderKey
from ...domain.errors import (
    AdobeError,
    AdobeRequestRefused,
    AepBatchBudgetExceeded,
    AepPathUnavailable,
    AepReaderKeyRejected,
    ConnectionNeedsReauth,
    ConnectionSandboxMissing,
    ZohoAepError,
)
from ...domain.export import PATH_AMAZON_S3, ExportUnit, evolve_columns
from ...domain.names import check_sandbox_name
from ...domain.xdm import (
    TENANT_OBJECT,
    XED_FULL,
    XdmField,
    dataset_body,
    field_group_additions,
    field_group_body,
    identity_descriptor_body,
    mapping_set_body,
    record_class_body,
    schema_body,
    xdm_fields,
)
from .. import claims
from ..access_token import AccessGrant, valid_access_token
from .deps import AepApis, S3SourceDeps
from .objects import ensure

SPEC_VERSION = "1.0"
PARTIAL_INGESTION_PERCENT = "100"  # the share of a batch's rows that may fail before AEP fails all of it


class FolderExplorer(Protocol):
    def explore_folder(self, connection_id: str, path: str) -> list[dict[str, Any]]: ...


PERSON_MODULES = frozenset({"Leads", "Contacts"})  # Profile-enabled when an identity namespace is set


@dataclass
class S3Provisioned:
    """What a run did (ids, counts; never the key)."""

    connection: str
    sandbox: str
    base_connection_id: str
    modules: tuple[str, ...]
    created: list[str] = field(default_factory=list)  # what kinds of objects this run created
    evolved: dict[str, list[str]] = field(default_factory=dict)  # module -> fields added


class _Recorder:
    """Writes what is learnt into the AEP state at once (compare-and-swap), so a crash loses no id."""

    def __init__(self, deps: S3SourceDeps, connection: str, sandbox: str) -> None:
        self.deps = deps
        self.connection = connection
        current = deps.bucket.read_aep_state(connection)
        if current is not None and current.sandbox != sandbox:
            deps.logger.warning(
                "the recorded AEP objects are in another sandbox; provisioning this one afresh",
                extra={"connection": connection, "recorded_sandbox": current.sandbox, "sandbox": sandbox},
            )
            current = None
        self.state = current or AepState(connection, sandbox)

    def record(self, change: Callable[[AepState], None]) -> None:
        change(self.state)

        def mutate(stored: AepState | None) -> AepState:
            base = stored if stored is not None and stored.sandbox == self.state.sandbox else self.state
            change(base)
            return base

        saved = self.deps.bucket.update_aep_state(self.connection, mutate)
        if saved is not None:
            self.state = saved


def provision_s3(deps: S3SourceDeps, connection: str) -> S3Provisioned:
    """Create or update ``connection``'s AEP objects on the S3 path; raises the typed error that stops it."""
    value = deps.store.require(connection).connection
    tags = deps.store.get_tags(connection)
    if tags.get(TAG_STATUS) == STATUS_NEEDS_REAUTH:
        raise ConnectionNeedsReauth("Zoho refused this connection's tokens; send a new connect link first.")
    try:
        sandbox = check_sandbox_name(value.adobe_sandbox)
    except ZohoAepError as exc:
        raise ConnectionSandboxMissing("The connection names no valid AEP sandbox; create a new link.") from exc
    if not deps.settings.export_bucket:
        raise AepPathUnavailable("The S3 path is not deployed here: EXPORT_BUCKET is not set.")
    reader = deps.app_secrets.aep_reader()
    deps.app_secrets.adobe()  # a missing credential is a configuration error: say so before any call
    claim_id, _ = claims.claim(deps.store, connection, deps.clock)
    try:
        _check_budget(deps, connection, sandbox)
        apis = deps.aep(sandbox)
        recorder = _Recorder(deps, connection, sandbox)
        done = S3Provisioned(connection, sandbox, "", deps.modules)
        _tenant_and_class(deps, apis, recorder, done)
        done.base_connection_id = _base_connection(deps, apis, recorder, reader, done)
        grant = valid_access_token(deps.refresh, connection)
        for module in deps.modules:
            _module(deps, apis, recorder, grant, module, done)
    finally:
        claims.release(deps.store, connection, claim_id, deps.logger)
    _finish(deps, done)
    return done


# ---- the budget ------------------------------------------------------------------------------------
def _check_budget(deps: S3SourceDeps, connection: str, sandbox: str) -> None:
    others = flows_in_use(deps.bucket.aep_states(), sandbox, but=connection)
    flows = others + len(deps.modules)
    interval = deps.settings.export_schedule_minutes
    runs = flows * runs_per_day(interval)
    budget = deps.settings.aep_daily_run_budget
    if runs <= budget:
        return
    per_flow = budget // flows
    needed = math.ceil(24 * 60 / per_flow) if per_flow else None
    advice = (
        f"raise ExportScheduleMinutes to at least {max(needed, MIN_FLOW_INTERVAL_MINUTES)}"
        if needed is not None and needed <= 24 * 60
        else "export fewer modules (ExportModules)"
    )
    raise AepBatchBudgetExceeded(
        f"{flows} dataflows every {interval} minutes make {runs} runs a day in sandbox {sandbox}, over the "
        f"AepDailyRunBudget of {budget}: {advice}, or put this connection in another sandbox."
    )


# ---- the connection's objects --------------------------------------------------------------------
def _tenant_and_class(deps: S3SourceDeps, apis: AepApis, recorder: _Recorder, done: S3Provisioned) -> None:
    state = recorder.state
    if not state.tenant_id:
        tenant = apis.registry.tenant_id()
        recorder.record(lambda s: setattr(s, "tenant_id", tenant))
    cls, created = ensure(
        "record class",
        state.class_id,
        lambda rid: apis.registry.get("classes", rid),
        lambda: apis.registry.find("classes", RECORD_CLASS_TITLE),
        lambda: apis.registry.create("classes", record_class_body(RECORD_CLASS_TITLE)),
        deps.logger,
    )
    if created:
        done.created.append("class")
    if state.class_id != cls.id:
        recorder.record(lambda s: setattr(s, "class_id", cls.id))


def base_connection_body(deps: S3SourceDeps, connection: str, reader: ReaderKey) -> dict[str, Any]:
    """``POST /connections`` on the Amazon S3 source: the reader's key, the connection's export folder."""
    return {
        "name": s3_base_connection_name(deps.settings.secret_prefix, connection),
        "description": (
            f"The Zoho CRM records of connection '{connection}', exported by zoho-aep to its bucket; "
            "read with the stack's read-only key, rotated by the stack."
        ),
        "auth": {"specName": S3_AUTH_SPEC, "params": reader_params(deps, connection, reader)},
        "connectionSpec": {"id": S3_CONNECTION_SPEC, "version": SPEC_VERSION},
    }


def reader_params(deps: S3SourceDeps, connection: str, reader: ReaderKey) -> dict[str, str]:
    return s3_auth_params(str(deps.settings.export_bucket), deps.s3_service_url, connection, reader)


def s3_auth_params(bucket: str, service_url: str, connection: str, reader: ReaderKey) -> dict[str, str]:
    """The S3 base connection's ``auth.params``: the reader's key, the connection's export folder."""
    return {
        "s3AccessKey": reader.access_key_id,
        "s3SecretKey": reader.secret_access_key,
        "bucketName": bucket,
        "folderPath": ExportUnit(connection, "-").folder.rsplit("/", 1)[0],  # zoho/{connection}
        "serviceUrl": service_url,
    }


def folder_path(deps: S3SourceDeps, folder: str) -> str:
    """A folder as Flow Service's S3 source names it: ``/{bucket}/{folder}``."""
    return f"/{deps.settings.export_bucket}/{folder}"


def _base_connection(
    deps: S3SourceDeps, apis: AepApis, recorder: _Recorder, reader: ReaderKey, done: S3Provisioned
) -> str:
    connection = recorder.connection
    body = base_connection_body(deps, connection, reader)
    existing, created = ensure(
        "S3 base connection",
        recorder.state.base_connection_id,
        apis.flows.get_connection,
        lambda: apis.flows.find_connections(S3_CONNECTION_SPEC, str(body["name"])),
        lambda: _created_connection(apis, body),
        deps.logger,
    )
    if created:
        done.created.append("base connection")
    elif recorder.state.reader_key_id != reader.access_key_id:
        # Adopted, or the key was rotated since: AEP gets the current key (If-Match, one re-read on 412).
        operations = [{"op": "replace", "path": "/auth/params", "value": body["auth"]["params"]}]
        try:
            apis.flows.patch_connection(existing.id, existing.etag, operations)
        except AdobeError as exc:
            if exc.code != "aep-etag-mismatch":
                raise
            fresh = apis.flows.get_connection(existing.id)
            apis.flows.patch_connection(fresh.id, fresh.etag, operations)

    def change(state: AepState) -> None:
        state.base_connection_id = existing.id
        state.reader_key_id = reader.access_key_id

    recorder.record(change)
    check_reader(deps, apis, existing.id, connection)
    return existing.id


def _created_connection(apis: AepApis, body: dict[str, Any]) -> BaseConnection:
    ref = apis.flows.create_connection(body)
    return apis.flows.get_connection(ref.id)


def check_reader(deps: S3SourceDeps, apis: AepApis, base_connection_id: str, connection: str) -> None:
    """AEP's own test of the key: explore the connection's export folder through the base connection."""
    explore_reader(apis.flows, str(deps.settings.export_bucket), base_connection_id, connection)


def explore_reader(flows: FolderExplorer, bucket: str, base_connection_id: str, connection: str) -> None:
    """:func:`check_reader` with the Flow Service client and the bucket named (the key's rotation uses it)."""
    try:
        flows.explore_folder(base_connection_id, f"/{bucket}/zoho/{connection}")
    except AdobeError as exc:
        if exc.retryable and exc.code != "aep-not-found":
            raise
        raise AepReaderKeyRejected(
            f"AEP cannot read the export folder of {connection} with the reader's key ({exc.adobe_code or exc.code})."
        ) from exc


# ---- one module --------------------------------------------------------------------------------------
def _module(
    deps: S3SourceDeps, apis: AepApis, recorder: _Recorder, grant: AccessGrant, module: str, done: S3Provisioned
) -> None:
    connection, state = recorder.connection, recorder.state
    tenant, class_id = str(state.tenant_id), str(state.class_id)
    item = state.module(module)
    fields = deps.crm.fields(grant.api_domain, grant.access_token, module)
    unit = deps.bucket.read_state(ExportUnit(connection, module))
    columns = evolve_columns(unit.columns if unit else [], fields, unit.skipped if unit else [])
    wanted = xdm_fields(columns, fields, item.fields)

    group = _field_group(deps, apis, recorder, item, tenant, class_id, wanted, done)
    title = dataset_name(connection, module)
    schema, created = ensure(
        "schema",
        item.schema_id,
        lambda rid: apis.registry.get("schemas", rid),
        lambda: apis.registry.find("schemas", title),
        lambda: apis.registry.create("schemas", schema_body(title, class_id, group.id)),
        deps.logger,
    )
    _note(recorder, done, module, "schema", created, lambda m: setattr(m, "schema_id", schema.id))
    profile = bool(deps.settings.aep_identity_namespace) and module in PERSON_MODULES
    if profile and not item.descriptor_id:
        namespace = str(deps.settings.aep_identity_namespace)
        descriptor = apis.registry.create_descriptor(identity_descriptor_body(tenant, schema.id, namespace))
        _note(recorder, done, module, "identity", True, lambda m: setattr(m, "descriptor_id", descriptor))

    dataset, created = ensure(
        "dataset",
        item.dataset_id,
        lambda rid: apis.catalog.get_dataset(rid),
        lambda: apis.catalog.find_datasets(title),
        lambda: apis.catalog.get_dataset(apis.catalog.create_dataset(dataset_body(title, schema.id, profile=profile))),
        deps.logger,
    )
    _note(recorder, done, module, "dataset", created, lambda m: setattr(m, "dataset_id", dataset.id))

    name = module_object_name(deps.settings.secret_prefix, connection, module)
    base = state.base_connection_id
    source, created = ensure(
        "source connection",
        item.source_id,
        lambda rid: apis.flows.get("sourceConnections", rid),
        lambda: apis.flows.find("sourceConnections", name, [f"baseConnectionId=={base}"]),
        lambda: apis.flows.create("sourceConnections", _source_body(deps, name, str(base), connection, module)),
        deps.logger,
    )
    _note(recorder, done, module, "source connection", created, lambda m: setattr(m, "source_id", source.id))
    target, created = ensure(
        "target connection",
        item.target_id,
        lambda rid: apis.flows.get("targetConnections", rid),
        lambda: apis.flows.find("targetConnections", name),
        lambda: apis.flows.create("targetConnections", _target_body(name, schema.id, dataset.id)),
        deps.logger,
    )
    _note(recorder, done, module, "target connection", created, lambda m: setattr(m, "target_id", target.id))

    mapping_body = mapping_set_body(tenant, schema.id, wanted)
    mapping_id, version = _mapping_set(deps, apis, item, mapping_body)
    if (mapping_id, version) != (item.mapping_id, item.mapping_version):

        def mapped(m: ModuleObjects) -> None:
            m.mapping_id, m.mapping_version = mapping_id, version

        _note(recorder, done, module, "mapping set", item.mapping_id is None, mapped)
    _flow(deps, apis, recorder, done, module, name, source.id, target.id, mapping_id, version)

    kinds = {f.column: f.kind for f in wanted}
    recorder.record(lambda s: setattr(s.module(module), "fields", kinds))


def _field_group(
    deps: S3SourceDeps,
    apis: AepApis,
    recorder: _Recorder,
    item: ModuleObjects,
    tenant: str,
    class_id: str,
    wanted: list[XdmField],
    done: S3Provisioned,
) -> Resource:
    module = item.module
    title = field_group_title(recorder.connection, module)
    group, created = ensure(
        "field group",
        item.field_group_id,
        lambda rid: apis.registry.get("fieldgroups", rid),
        lambda: apis.registry.find("fieldgroups", title),
        lambda: apis.registry.create("fieldgroups", field_group_body(tenant, title, class_id, wanted)),
        deps.logger,
    )
    _note(recorder, done, module, "field group", created, lambda m: setattr(m, "field_group_id", group.id))
    present = apis.registry.get("fieldgroups", group.alt_id).properties(tenant, TENANT_OBJECT) if not created else {}
    missing = [f for f in wanted if not created and f.column not in present]
    if missing:
        # Additive only: a field Zoho removed stays (empty); a new one is appended.
        group = apis.registry.patch("fieldgroups", group.alt_id, field_group_additions(tenant, missing))
        done.evolved[module] = [f.column for f in missing]
        deps.logger.info(
            "new Zoho fields added to the AEP schema",
            extra={"connection": recorder.connection, "zoho_module": module, "fields": [f.column for f in missing]},
        )
    return group


def _mapping_set(deps: S3SourceDeps, apis: AepApis, item: ModuleObjects, body: dict[str, Any]) -> tuple[str, int]:
    if item.mapping_id:
        try:
            current = apis.dataprep.get_mapping_set(item.mapping_id)
        except AdobeError as exc:
            if exc.code != "aep-not-found":
                raise
        else:
            if current.same_mappings(body["mappings"]):
                return current.id, current.version
            updated = apis.dataprep.update_mapping_set(current.id, body)
            return updated.id, updated.version
    created = apis.dataprep.create_mapping_set(body)
    return created.id, created.version


def _flow(
    deps: S3SourceDeps,
    apis: AepApis,
    recorder: _Recorder,
    done: S3Provisioned,
    module: str,
    name: str,
    source_id: str,
    target_id: str,
    mapping_id: str,
    version: int,
) -> None:
    item = recorder.state.module(module)
    interval = deps.settings.export_schedule_minutes
    body = {
        "name": name,
        "description": f"Zoho CRM {module} of connection '{recorder.connection}', from the zoho-aep export.",
        "flowSpec": {"id": CLOUD_STORAGE_FLOW_SPEC, "version": SPEC_VERSION},
        "sourceConnectionIds": [source_id],
        "targetConnectionIds": [target_id],
        "transformations": [_mapping_step(mapping_id, version)],
        "scheduleParams": flow_schedule(interval, deps.clock()),
        # Partial ingestion: AEP lands every good row and reports the others as row errors; the watch
        # judges them against AepRowErrorThreshold (without it one bad date fails the whole file).
        "options": {"partialIngestionPercent": PARTIAL_INGESTION_PERCENT},
    }
    flow, created = ensure(
        "dataflow",
        item.flow_id,
        lambda rid: apis.flows.get("flows", rid),
        lambda: apis.flows.find("flows", name),
        lambda: apis.flows.create("flows", body),
        deps.logger,
    )
    _note(recorder, done, module, "dataflow", created, lambda m: setattr(m, "flow_id", flow.id))
    if created:
        return
    record = flow.record
    steps = record.get("transformations") if isinstance(record.get("transformations"), list) else []
    params = steps[0].get("params") if steps and isinstance(steps[0], dict) else {}
    operations = []
    if not isinstance(params, dict) or (params.get("mappingId"), params.get("mappingVersion")) != (mapping_id, version):
        operations.append({"op": "replace", "path": "/transformations/0", "value": _mapping_step(mapping_id, version)})
    schedule = record.get("scheduleParams")
    current_interval = schedule.get("interval") if isinstance(schedule, dict) else None
    if str(current_interval or "") != str(max(MIN_FLOW_INTERVAL_MINUTES, interval)):
        wanted = str(max(MIN_FLOW_INTERVAL_MINUTES, interval))
        operations.append({"op": "replace", "path": "/scheduleParams/interval", "value": wanted})
    if not operations or flow.etag is None:
        return
    try:
        apis.flows.patch_flow(flow.id, flow.etag, operations)
    except AdobeRequestRefused as exc:
        # A schedule change after the start time is not always allowed (Adobe documents 1362/1363):
        # the mapping must move, the interval may wait.
        if len(operations) == 1 and operations[0]["path"] == "/scheduleParams/interval":
            deps.logger.warning(
                "AEP refused to change the dataflow's interval; it keeps its old one",
                extra={"flow_id": flow.id, "adobe_code": exc.adobe_code},
            )
            return
        raise


def _mapping_step(mapping_id: str, version: int) -> dict[str, Any]:
    return {"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": version}}


def _source_body(deps: S3SourceDeps, name: str, base: str, connection: str, module: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The zoho-aep export folder of Zoho CRM {module} (gzip CSV, one file per Bulk Read page).",
        "baseConnectionId": base,
        "data": {
            "format": "delimited",
            "properties": {"columnDelimiter": ",", "encoding": "UTF-8", "compressionType": "gzip"},
        },
        "params": {
            "path": folder_path(deps, ExportUnit(connection, module).folder),
            "type": "folder",
            "recursive": True,
        },
        "connectionSpec": {"id": S3_CONNECTION_SPEC, "version": SPEC_VERSION},
    }


def _target_body(name: str, schema_id: str, dataset_id: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "The module's dataset in the data lake.",
        "data": {"schema": {"id": schema_id, "version": XED_FULL}},
        "params": {"dataSetId": dataset_id},
        "connectionSpec": {"id": DATA_LAKE_CONNECTION_SPEC, "version": SPEC_VERSION},
    }


def _note(
    recorder: _Recorder,
    done: S3Provisioned,
    module: str,
    kind: str,
    created: bool,
    change: Callable[[ModuleObjects], None],
) -> None:
    """Count what was created; record the change unless the state already says so."""
    if created:
        done.created.append(f"{module} {kind}")
    probe = copy.deepcopy(recorder.state.module(module))
    change(probe)
    if vars(probe) != vars(recorder.state.module(module)):
        recorder.record(lambda s: change(s.module(module)))


# ---- the end -------------------------------------------------------------------------------------------
def _finish(deps: S3SourceDeps, done: S3Provisioned) -> None:
    """Tag the connection as on the S3 path; its status active unless another verdict stands."""
    tags = deps.store.get_tags(done.connection)
    status = tags.get(TAG_STATUS)
    record = {TAG_PATH: PATH_AMAZON_S3, TAG_SANDBOX: done.sandbox, TAG_BASE_CONNECTION_ID: done.base_connection_id}
    remove: tuple[str, ...] = ()
    if status in (None, "", STATUS_ACTIVE, STATUS_PROVISIONING_FAILED):
        record[TAG_STATUS] = STATUS_ACTIVE
        remove = (TAG_LAST_ERROR,) if TAG_LAST_ERROR in tags else ()
    elif status == STATUS_INGESTION_FAILING:
        pass  # the watch clears it once a run succeeds
    deps.store.set_tags(done.connection, record, remove)
    deps.logger.info(
        "provisioning outcome",
        extra={
            "outcome": "provisioned",
            "path": PATH_AMAZON_S3,
            "connection": done.connection,
            "sandbox": done.sandbox,
            "base_connection_id": done.base_connection_id,
            "modules": list(done.modules),
            "aep_objects_created": done.created,
            "evolved": done.evolved,
        },
    )


def provisioned_event(done: S3Provisioned) -> tuple[str, dict[str, Any]]:
    """The ``AEP base connection provisioned`` event of an S3-path run (the native event, with its path)."""
    return ev.BASE_CONNECTION_PROVISIONED, {
        "connection": done.connection,
        "base_connection_id": done.base_connection_id,
        "sandbox": done.sandbox,
        "created": "base connection" in done.created,
        "path": PATH_AMAZON_S3,
        "modules": list(done.modules),
    }
