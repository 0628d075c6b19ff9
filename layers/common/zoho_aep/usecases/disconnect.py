"""Use case: disconnect a connection (AEP first, then Zoho's tokens, then the secret, recoverably).

It reuses the adapters the functions use (Flow Service client, Zoho OAuth client, the CAS store),
so what an operator does by hand follows the same rules as what the stack does on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..adapters.adobe.flow import ZOHO_CRM_SPEC_ID, FlowServiceClient
from ..domain.connection import TAG_BASE_CONNECTION_ID, TAG_SUPERSEDED
from ..domain.errors import AdobeConnectionInUse, AdobeNotFound, ConnectionSandboxMissing, ZohoAepError
from ..domain.names import base_connection_name, check_connection_name
from .provision import ProvisionDeps

MIN_RECOVERY_DAYS, MAX_RECOVERY_DAYS = 7, 30  # Secrets Manager's recovery window


@dataclass
class DisconnectResult:
    connection: str
    base_connections_deleted: list[str] = field(default_factory=list)
    base_connections_kept: dict[str, list[str]] = field(default_factory=dict)  # id -> dataflow ids
    zoho_tokens_revoked: int = 0
    zoho_tokens_not_revoked: int = 0
    secret_deleted: bool = False
    deletion_date: str | None = None

    @property
    def blocked(self) -> bool:
        return bool(self.base_connections_kept)


def _base_connection_ids(tags: dict[str, str]) -> list[str]:
    ids = [tags.get(TAG_BASE_CONNECTION_ID, "")]
    ids += tags.get(TAG_SUPERSEDED, "").split()
    return [i for i in ids if i]


def disconnect(
    deps: ProvisionDeps, connection: str, *, recovery_days: int = MIN_RECOVERY_DAYS, force: bool = False
) -> DisconnectResult:
    """Delete the AEP base connection(s), revoke the Zoho refresh tokens, schedule the secret's deletion.

    AEP comes first: if dataflows still use a base connection, Adobe refuses the delete, and unless
    ``force`` is set nothing else is changed (revoking the tokens would break those dataflows).
    """
    check_connection_name(connection)
    if not MIN_RECOVERY_DAYS <= recovery_days <= MAX_RECOVERY_DAYS:
        raise ValueError(f"recovery_days must be {MIN_RECOVERY_DAYS}..{MAX_RECOVERY_DAYS}")
    value = deps.store.require(connection).connection
    tags = deps.store.get_tags(connection)
    result = DisconnectResult(connection)

    ids = _base_connection_ids(tags)
    if not value.adobe_sandbox:
        if ids:
            raise ConnectionSandboxMissing(
                f"Connection {connection} records AEP base connections but no sandbox; delete them in AEP first."
            )
    else:
        flow: FlowServiceClient = deps.flow(value.adobe_sandbox)
        # Also by name: a run interrupted between creating and recording leaves an untracked one.
        name = base_connection_name(deps.settings.secret_prefix, connection)
        ids += [c.id for c in flow.find_connections(ZOHO_CRM_SPEC_ID, name) if c.id not in ids]
        for base_id in ids:
            try:
                flow.delete_connection(base_id)
                result.base_connections_deleted.append(base_id)
            except AdobeNotFound:
                result.base_connections_deleted.append(base_id)  # already gone: the goal holds
            except AdobeConnectionInUse as exc:
                result.base_connections_kept[base_id] = [f for f in exc.flow_ids if f != base_id]
    if result.blocked and not force:
        return result

    dc = deps.settings.data_centers.resolve(value.data_center or "")
    for token in value.refresh_tokens:
        try:
            # Revoke at the table's accounts server for the stored data center: never a stored host.
            if deps.zoho.revoke(dc.accounts_url, token):
                result.zoho_tokens_revoked += 1
            else:
                result.zoho_tokens_not_revoked += 1
        except ZohoAepError:
            result.zoho_tokens_not_revoked += 1

    deletion = deps.store.schedule_deletion(connection, recovery_days)
    result.secret_deleted = True
    result.deletion_date = deletion.strftime("%Y-%m-%d %H:%M UTC") if hasattr(deletion, "strftime") else None
    return result
