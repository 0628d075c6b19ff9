"""Use case: disconnect a connection (AEP first, then Zoho's tokens, then the secret, recoverably).

It reuses the adapters the functions use (Flow Service client, Zoho OAuth client, the CAS store),
so what an operator does by hand follows the same rules as what the stack does on its own.

A disconnect always cleans up what it can reach and says what it removed and what it left: a
connection that never got a base connection, whose sandbox Adobe does not know, or that records no
sandbox at all still has its Zoho tokens revoked and its secret scheduled for deletion. Only two
things stop it before anything changes: dataflows that still read a base connection (unless
``force``; revoking the tokens would break them), and an Adobe that cannot be asked right now
(a passing failure: try again, or ``force`` to leave the AEP side as it is).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..adapters.adobe.flow import ZOHO_CRM_SPEC_ID, FlowServiceClient
from ..domain.connection import TAG_BASE_CONNECTION_ID, TAG_SANDBOX, TAG_SUPERSEDED
from ..domain.errors import (
    AdobeConnectionInUse,
    AdobeError,
    AdobeNotFound,
    AdobeSandboxNotFound,
    ConfigError,
    ZohoAepError,
)
from ..domain.names import base_connection_name, check_connection_name
from .provision import ProvisionDeps
from .s3_source.deps import S3SourceDeps
from .s3_source.teardown import plan_teardown, tear_down

MIN_RECOVERY_DAYS, MAX_RECOVERY_DAYS = 7, 30  # Secrets Manager's recovery window


@dataclass
class DisconnectResult:
    """What a disconnect did. ``removed`` and ``left`` say it in sentences for a person."""

    connection: str
    sandbox: str | None = None
    base_connections_deleted: list[str] = field(default_factory=list)
    base_connections_kept: dict[str, list[str]] = field(default_factory=dict)  # id -> the dataflows on it
    base_connections_left: dict[str, str] = field(default_factory=dict)  # id -> why it was not deleted
    aep_note: str | None = None  # why AEP was not (fully) looked at, when it was not
    aep_objects_removed: list[str] = field(default_factory=list)  # the S3 path's flows, connections, ...
    aep_objects_left: list[str] = field(default_factory=list)
    zoho_tokens_revoked: int = 0
    zoho_tokens_not_revoked: int = 0
    secret_deleted: bool = False
    deletion_date: str | None = None

    @property
    def blocked(self) -> bool:
        return bool(self.base_connections_kept)

    def removed(self) -> list[str]:
        lines = list(self.aep_objects_removed)
        lines += [f"AEP base connection {i} (sandbox {self.sandbox})" for i in self.base_connections_deleted]
        if self.zoho_tokens_revoked:
            lines.append(f"{self.zoho_tokens_revoked} Zoho refresh token(s), revoked")
        if self.secret_deleted:
            lines.append(f"the connection secret, scheduled for deletion on {self.deletion_date}")
        return lines

    def left(self) -> list[str]:
        lines = [
            f"AEP base connection {i}: used by dataflows {', '.join(flows) or '(none named)'}"
            for i, flows in self.base_connections_kept.items()
        ]
        lines += [f"AEP base connection {i}: {why}" for i, why in self.base_connections_left.items()]
        lines += self.aep_objects_left
        if self.aep_note:
            lines.append(self.aep_note)
        if self.zoho_tokens_not_revoked:
            lines.append(
                f"{self.zoho_tokens_not_revoked} Zoho refresh token(s) Zoho did not confirm revoking: "
                "remove the app in Zoho's Connected Apps"
            )
        if not self.secret_deleted:
            lines.append("the connection secret (nothing was changed)")
        return lines

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(blocked=self.blocked, removed=self.removed(), left=self.left())
        return data


def _base_connection_ids(tags: dict[str, str]) -> list[str]:
    ids = [tags.get(TAG_BASE_CONNECTION_ID, "")]
    ids += tags.get(TAG_SUPERSEDED, "").split()
    return [i for i in ids if i]


def disconnect(
    deps: ProvisionDeps,
    connection: str,
    *,
    recovery_days: int = MIN_RECOVERY_DAYS,
    force: bool = False,
    s3: S3SourceDeps | None = None,
    delete_datasets: bool = False,
) -> DisconnectResult:
    """Delete the AEP base connection(s), revoke the Zoho refresh tokens, schedule the secret's deletion.

    AEP comes first: the dataflows on each base connection are looked up before anything is
    deleted, and if there are any, nothing is changed unless ``force`` is set. With ``s3`` (the
    stack has an export bucket), the S3 path's own dataflows and connections go first, and its
    datasets too when ``delete_datasets``; a dataflow someone else built on its base connection
    blocks like any other.
    """
    check_connection_name(connection)
    if not MIN_RECOVERY_DAYS <= recovery_days <= MAX_RECOVERY_DAYS:
        raise ValueError(f"recovery_days must be {MIN_RECOVERY_DAYS}..{MAX_RECOVERY_DAYS}")
    value = deps.store.require(connection).connection
    tags = deps.store.get_tags(connection)
    result = DisconnectResult(connection, sandbox=value.adobe_sandbox or tags.get(TAG_SANDBOX) or None)

    ids = _base_connection_ids(tags)
    if s3 is not None:
        ids += [i for i in _clean_s3_path(s3, connection, result, force, delete_datasets) if i not in ids]
        if result.blocked and not force:
            return result
    _clean_aep(deps, connection, ids, result, force)
    if result.blocked and not force:
        return result

    try:
        # Revoke at the table's accounts server for the stored data center: never a stored host.
        accounts_url: str | None = deps.settings.data_centers.resolve(value.data_center or "").accounts_url
    except ZohoAepError:
        accounts_url = None
    for token in value.refresh_tokens:
        try:
            if accounts_url is not None and deps.zoho.revoke(accounts_url, token):
                result.zoho_tokens_revoked += 1
            else:
                result.zoho_tokens_not_revoked += 1
        except ZohoAepError:
            result.zoho_tokens_not_revoked += 1

    deletion = deps.store.schedule_deletion(connection, recovery_days)
    result.secret_deleted = True
    result.deletion_date = deletion.strftime("%Y-%m-%d %H:%M UTC") if hasattr(deletion, "strftime") else None
    return result


def _clean_s3_path(
    s3: S3SourceDeps, connection: str, result: DisconnectResult, force: bool, delete_datasets: bool
) -> list[str]:
    """The S3 path's AEP objects; the ids of its base connections (the native cleanup deletes them)."""
    try:
        plan, state, apis = plan_teardown(s3, connection)
    except (AdobeError, ConfigError) as exc:
        if not force:
            raise
        result.aep_objects_left.append(f"the S3 path's AEP objects: AEP could not be asked ({exc.code})")
        return []
    result.base_connections_kept.update(plan.foreign_flows)
    if state is None or apis is None or (plan.blocked and not force):
        return plan.base_connection_ids
    tear_down(s3, state, apis, plan, delete_datasets=delete_datasets)
    result.aep_objects_removed += plan.removed
    result.aep_objects_left += plan.left
    return plan.base_connection_ids


def _clean_aep(deps: ProvisionDeps, connection: str, ids: list[str], result: DisconnectResult, force: bool) -> None:
    """Delete the connection's base connections in AEP, or record why each one stays."""
    if result.sandbox is None:
        for base_id in ids:
            result.base_connections_left[base_id] = "no AEP sandbox is recorded; delete it in AEP by hand"
        return
    try:
        flow: FlowServiceClient = deps.flow(result.sandbox)
        # Also by name: a run interrupted between creating and recording leaves an untracked one.
        name = base_connection_name(deps.settings.secret_prefix, connection)
        ids = ids + [c.id for c in flow.find_connections(ZOHO_CRM_SPEC_ID, name) if c.id not in ids]
        for base_id in ids:
            flows = _flows_or_gone(flow, base_id)
            if flows:
                result.base_connections_kept[base_id] = flows
        if result.blocked and not force:
            return  # nothing changed
        for base_id in ids:
            if base_id in result.base_connections_kept:
                continue
            try:
                flow.delete_connection(base_id)
            except AdobeNotFound:
                pass  # already gone: the goal holds
            except AdobeConnectionInUse:
                # A dataflow was made since the lookup; Adobe's message does not name it.
                result.base_connections_kept[base_id] = _flows_or_gone(flow, base_id)
                continue
            result.base_connections_deleted.append(base_id)
    except AdobeSandboxNotFound:
        result.aep_note = (
            f"nothing in AEP: Adobe does not know sandbox {result.sandbox} (or the credential cannot see it)"
        )
        for base_id in ids:
            if base_id not in result.base_connections_deleted:
                result.base_connections_left[base_id] = f"in sandbox {result.sandbox}, which Adobe does not know"
    except ConfigError as exc:
        # No Adobe credential (or secret) to ask with: the connection may never have reached AEP.
        result.aep_note = f"AEP was not checked ({exc.code}): configure the Adobe credential to clean up there"
        for base_id in ids:
            result.base_connections_left[base_id] = "AEP could not be asked"
    except AdobeError as exc:
        if not force:
            raise
        for base_id in ids:
            if base_id not in result.base_connections_deleted and base_id not in result.base_connections_kept:
                result.base_connections_left[base_id] = f"Adobe could not be asked ({exc.code})"


def _flows_or_gone(flow: FlowServiceClient, base_id: str) -> list[str]:
    try:
        return [f for f in flow.flows_using(base_id) if f != base_id]
    except AdobeNotFound:
        return []
