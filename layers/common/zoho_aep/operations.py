"""Use cases behind the operator's commands: checking credentials, disconnecting a connection.

They reuse the same adapters as the functions (Zoho OAuth client, Flow Service client, the CAS
store), so what an operator does by hand follows the same rules as what the stack does on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import aws
from .adobe.flow import FlowServiceClient
from .adobe.ims import ImsTokenProvider
from .config import Settings
from .errors import AdobeConnectionInUse, AdobeNotFound, StoreError, ZohoAepError
from .http import HttpClient, RetryPolicy
from .names import check_connection_name
from .provision import ConnectionNotProvisionable, ProvisionDeps, base_connection_name, named_base_connections
from .store import TAG_BASE_CONNECTION_ID, AdobeCredentials

# Tag written by provisioning when a replaced base connection had to be kept (dataflows used it).
TAG_SUPERSEDED = "aep:superseded-base-connection-ids"
CHECK_POLICY = RetryPolicy(attempts=2, connect_timeout=3.05, read_timeout=10.0, deadline=20.0)


def check_adobe_credential(settings: Settings, credentials: AdobeCredentials) -> None:
    """Mint one IMS token with ``credentials``; raises the typed error that says what is wrong."""
    ImsTokenProvider(HttpClient(CHECK_POLICY), settings.adobe_ims_url, lambda: credentials).token()


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
    deps: ProvisionDeps, connection: str, *, recovery_days: int = 7, force: bool = False
) -> DisconnectResult:
    """Delete the AEP base connection(s), revoke the Zoho refresh tokens, schedule the secret's deletion.

    AEP comes first: if dataflows still use a base connection, Adobe refuses the delete, and unless
    ``force`` is set nothing else is changed (revoking the tokens would break those dataflows).
    """
    check_connection_name(connection)
    if not 7 <= recovery_days <= 30:
        raise ValueError("recovery_days must be 7..30")
    stored = deps.store.require(connection)
    tags = deps.store.get_tags(connection)
    value: dict[str, Any] = stored.value
    result = DisconnectResult(connection)

    sandbox = value.get("adobe_sandbox")
    ids = _base_connection_ids(tags)
    if not isinstance(sandbox, str) or not sandbox:
        if ids:
            raise ConnectionNotProvisionable(
                f"Connection {connection} records AEP base connections but no sandbox; delete them in AEP first.",
                code="connection-sandbox-missing",
            )
    else:
        flow: FlowServiceClient = deps.flow(sandbox)
        # Also by name: a run interrupted between creating and recording leaves an untracked one.
        name = base_connection_name(deps.settings.secret_prefix, connection)
        ids += [c.id for c in named_base_connections(flow, name) if c.id not in ids]
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

    dc = deps.settings.data_centers.resolve(str(value.get("data_center") or ""))
    tokens = [value.get("refresh_token"), value.get("replaced_refresh_token"), *(value.get("revoke_pending") or [])]
    for token in tokens:
        if not isinstance(token, str) or not token:
            continue
        try:
            # Revoke at the table's accounts server for the stored data center: never a stored host.
            if deps.zoho.revoke(dc.accounts_url, token):
                result.zoho_tokens_revoked += 1
            else:
                result.zoho_tokens_not_revoked += 1
        except ZohoAepError:
            result.zoho_tokens_not_revoked += 1

    from botocore.exceptions import BotoCoreError, ClientError

    name = deps.store.secret_name(connection)
    try:
        answer = deps.store.client.delete_secret(SecretId=name, RecoveryWindowInDays=recovery_days)
    except (ClientError, BotoCoreError) as exc:
        raise StoreError(f"Secrets Manager refused to delete {name} ({aws.error_code(exc) or 'error'}).") from exc
    result.secret_deleted = True
    deletion = answer.get("DeletionDate")
    result.deletion_date = deletion.strftime("%Y-%m-%d %H:%M UTC") if hasattr(deletion, "strftime") else None
    return result
