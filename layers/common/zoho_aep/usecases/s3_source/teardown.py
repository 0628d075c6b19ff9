"""Use case: remove what the S3 path created in AEP for one connection (part of ``disconnect``).

Dataflows first (they hold the connections), then each module's source and target connection; the
S3 base connection goes last, with the native path's own cleanup. Datasets, their schemas and field
groups hold ingested rows: they are deleted only when asked (``--delete-datasets``). Every object is
taken by its recorded id and also looked up by name, so one a crashed run never recorded goes too.

Before anything is deleted the base connection's dataflows are compared with the product's own: a
dataflow someone else built on it stops the disconnect, like on the native path, with nothing
changed. The connection's AEP and export state objects go at the end; the exported files expire by
the bucket's lifecycle (``ExportRetentionDays``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ...domain.aep import (
    S3_CONNECTION_SPEC,
    AepState,
    dataset_name,
    field_group_title,
    module_object_name,
    s3_base_connection_name,
)
from ...domain.errors import AdobeNotFound
from ...domain.export import STATE_PREFIX
from .deps import AepApis, S3SourceDeps


@dataclass
class Teardown:
    """What the S3 path's teardown did and left (ids; sentences are the caller's)."""

    sandbox: str | None = None
    base_connection_ids: list[str] = field(default_factory=list)  # for the native cleanup to delete
    foreign_flows: dict[str, list[str]] = field(default_factory=dict)  # base id -> flows not the product's
    removed: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.foreign_flows)


def plan_teardown(deps: S3SourceDeps, connection: str) -> tuple[Teardown, AepState | None, AepApis | None]:
    """Look, change nothing: the S3 base connections and whether dataflows of others use them."""
    state = deps.bucket.read_aep_state(connection)
    result = Teardown(sandbox=state.sandbox if state else None)
    if state is None:
        return result, None, None
    apis = deps.aep(state.sandbox)
    name = s3_base_connection_name(deps.settings.secret_prefix, connection)
    ids = [state.base_connection_id] if state.base_connection_id else []
    ids += [c.id for c in apis.flows.find_connections(S3_CONNECTION_SPEC, name) if c.id not in ids]
    result.base_connection_ids = ids
    own = set(_own_flow_ids(deps, apis, state))
    for base_id in ids:
        try:
            foreign = [f for f in apis.flows.flows_using(base_id) if f not in own]
        except AdobeNotFound:
            continue
        if foreign:
            result.foreign_flows[base_id] = foreign
    return result, state, apis


def tear_down(
    deps: S3SourceDeps, state: AepState, apis: AepApis, result: Teardown, *, delete_datasets: bool
) -> Teardown:
    """Delete the flows and the module connections (datasets when asked); then the state objects."""
    connection = state.connection
    prefix = deps.settings.secret_prefix
    for module, item in sorted(state.modules.items()):
        name = module_object_name(prefix, connection, module)
        for kind, recorded in (
            ("flows", item.flow_id),
            ("sourceConnections", item.source_id),
            ("targetConnections", item.target_id),
        ):
            for object_id in _ids(recorded, apis.flows.find(kind, name)):
                _delete(partial(apis.flows.delete, kind, object_id), f"{module} {kind[:-1]} {object_id}", result)
        if not delete_datasets:
            if item.dataset_id:
                result.left.append(f"{module} dataset {item.dataset_id} and its schema (pass --delete-datasets)")
            continue
        title = dataset_name(connection, module)
        for dataset_id in _ids(item.dataset_id, apis.catalog.find_datasets(title)):
            _delete(partial(apis.catalog.delete_dataset, dataset_id), f"{module} dataset {dataset_id}", result)
        for schema in _ids(item.schema_id, apis.registry.find("schemas", title)):
            _delete(partial(apis.registry.delete, "schemas", schema), f"{module} schema {schema}", result)
        groups = apis.registry.find("fieldgroups", field_group_title(connection, module))
        for group in _ids(item.field_group_id, groups):
            _delete(partial(apis.registry.delete, "fieldgroups", group), f"{module} field group {group}", result)
        if item.mapping_id:
            result.left.append(f"{module} mapping set {item.mapping_id} (Data Prep keeps its versions; unused now)")
    deps.bucket.delete_aep_state(connection)
    for stored in list(deps.bucket.objects(f"{STATE_PREFIX}/{connection}/")):
        deps.bucket.delete(stored.key)  # the units' states and the org gate: the export forgets the connection
    result.removed.append("the export's state objects (the exported files expire by the bucket's lifecycle)")
    return result


def _own_flow_ids(deps: S3SourceDeps, apis: AepApis, state: AepState) -> list[str]:
    ids: list[str] = []
    for module, item in state.modules.items():
        name = module_object_name(deps.settings.secret_prefix, state.connection, module)
        ids += _ids(item.flow_id, apis.flows.find("flows", name))
    return ids


def _ids(recorded: str | None, found_by_name: Sequence[object]) -> list[str]:
    """The recorded id and every id found by name (a crash may have left one unrecorded)."""
    ids = [recorded] if recorded else []
    for found in found_by_name:
        found_id = getattr(found, "id", None)
        if isinstance(found_id, str) and found_id and found_id not in ids:
            ids.append(found_id)
    return ids


def _delete(call: Callable[[], None], what: str, result: Teardown) -> None:
    with contextlib.suppress(AdobeNotFound):  # already gone: the goal holds
        call()
    result.removed.append(f"AEP {what}")
