"""Use case: give AEP a Zoho CRM base connection for one connection, verified, never a duplicate.

The order of things, and why:
1. Read the connection and its tags; refuse early (and say why) when it cannot be provisioned:
   consent to re-do, tokens or sandbox missing, hosts that are not its data center's.
2. If AEP holds no base connection of ours yet, refresh tokens this connection replaced are used by
   nobody: revoke them now (Zoho keeps only 20 per user, and provisioning may fail for a long time).
3. Preflight: does Adobe still serve the Zoho CRM source? Adobe deprecated it at the end of June
   2025; when the spec is gone we stop with ``aep-zoho-source-retired`` instead of retrying.
4. Claim the connection (a short lease in its secret, compare-and-swap), so that two deliveries of
   the same event cannot both create a base connection: Flow Service has no idempotency key.
5. Create or update: a recorded ``aep:base-connection-id`` is read and PATCHed (``If-Match``
   exactly as Adobe returned the etag; one re-read and retry on 412). A recorded id Adobe no longer
   has, or none, is first looked up by spec and this connection's stable name and adopted (a crash
   between create and record leaves exactly such a connection). Only then ``POST /connections``.
   A connector that refuses PATCH gets create-new-then-delete-old; an old one that dataflows still
   use is kept and reported.
6. Record id, etag (tag-safe) and sandbox in the tags at once, so a crash later loses nothing.
7. Adobe now holds the new refresh token: revoke the ones it replaced, and forget them (CAS);
   not while an older base connection that dataflows still use is kept, as it refreshes with one.
8. Verify with explore (root) and record how many Zoho modules AEP sees; set the status.
Every known failure ends as a :class:`ProvisionResult` with a reason code, a log line, an event and,
when retrying cannot help, the status ``provisioning-failed``.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..adapters.adobe.flow import PATCH_OP, ZOHO_CRM_SPEC_ID, BaseConnection, ConnectionRef, FlowServiceClient
from ..adapters.events import EventPublisher, publish_or_log
from ..adapters.secrets import AppSecrets, ConnectionStore
from ..adapters.zoho.oauth import ZohoOAuthClient
from ..config.settings import Settings
from ..domain import events as ev
from ..domain.connection import (
    STATUS_ACTIVE,
    STATUS_NEEDS_REAUTH,
    STATUS_PROVISIONING_FAILED,
    TAG_BASE_CONNECTION_ID,
    TAG_ETAG,
    TAG_LAST_ERROR,
    TAG_MODULES,
    TAG_SANDBOX,
    TAG_STATUS,
    TAG_SUPERSEDED,
    Connection,
)
from ..domain.datacenters import DataCenter
from ..domain.errors import (
    AdobeConnectionInUse,
    AdobeError,
    AdobeEtagMismatch,
    AdobeNotFound,
    AdobePatchRefused,
    AdobeResponseInvalid,
    AdobeSpecInvalid,
    AdobeSpecRetired,
    AdobeThrottled,
    AdobeUnavailable,
    AdobeVerificationFailed,
    ConnectionHostsInvalid,
    ConnectionNeedsReauth,
    ConnectionNotFound,
    ConnectionPendingDeletion,
    ConnectionSandboxMissing,
    ConnectionTokensMissing,
    InvalidConnectionName,
    ZohoAepError,
    ZohoClientMismatch,
)
from ..domain.hosts import normalise_origin
from ..domain.names import base_connection_name, check_connection_name, check_sandbox_name
from . import claims

AUTH_SPEC_NAME = "Basic Authentication"
SPEC_VERSION = "1.0"
RETIREMENT_NOTICE = (
    "Adobe no longer serves the Zoho CRM source (connection spec 929e4450-0237-4ed2-9404-b7e1e0a00309): "
    "Adobe deprecated it at the end of June 2025. No base connection was created or changed, and retrying "
    "cannot help. Existing Zoho CRM dataflows in AEP may stop; zoho-aep keeps the Zoho tokens fresh "
    "anyway. See docs/provisioning.md, 'The Zoho CRM source retirement'."
)
_TAG_SAFE = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,200}")  # matched whole (fullmatch)
_MAX_SUPERSEDED_IN_TAG = 6  # 6 ids of 36 characters fit one 256-character tag value


@dataclass
class ProvisionDeps:
    """The adapters provisioning needs; ``flow`` makes a Flow Service client for one sandbox."""

    settings: Settings
    app_secrets: AppSecrets
    store: ConnectionStore
    zoho: ZohoOAuthClient
    flow: Callable[[str], FlowServiceClient]
    events: EventPublisher
    logger: Any
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class ProvisionResult:
    """How a run ended. ``ok`` False carries ``reason_code`` and whether a retry can help."""

    connection: str
    ok: bool
    reason_code: str | None = None
    retryable: bool = False
    base_connection_id: str | None = None
    sandbox: str | None = None
    created: bool = False
    adopted: bool = False
    modules: tuple[str, ...] = ()
    superseded_base_connection_ids: tuple[str, ...] = ()
    revoked_refresh_tokens: int = 0
    adobe_code: str | None = None
    request_id: str | None = None
    event_published: bool = True
    path: str | None = None  # zoho-crm (Adobe's source) or amazon-s3 (the export), once chosen

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for the handler's answer (ids, codes and counts only)."""
        data = asdict(self)
        data["modules"] = list(self.modules)
        data["module_count"] = len(self.modules)
        data["superseded_base_connection_ids"] = list(self.superseded_base_connection_ids)
        return data


@dataclass(frozen=True)
class _Facts:
    """What provisioning reads from a connection secret, checked."""

    sandbox: str
    dc: DataCenter
    api_domain: str
    client_id: str
    access_token: str
    refresh_token: str
    org_label: str


@dataclass
class _Written:
    ref: ConnectionRef
    created: bool
    adopted: bool
    superseded: tuple[str, ...] = ()
    replaced: bool = False


@dataclass
class _Run:
    """What a run has learnt so far (for the failure path too)."""

    sandbox: str | None = None
    revoked: int = 0


# ---- encodings ----------------------------------------------------------------------------------
def etag_tag_value(etag: str) -> str:
    """``etag`` in a form an AWS tag value can hold (no quote marks).

    Adobe's etags are quoted (``"600290fc-..."``): the inside is kept when it is tag-safe, else the
    whole etag is base64url-encoded behind ``b64.``. The tag is for reading; ``If-Match`` always
    uses the etag exactly as Adobe last returned it.
    """
    inner = etag[1:-1] if len(etag) >= 2 and etag[0] == etag[-1] == '"' else ""
    if inner and _TAG_SAFE.fullmatch(inner) and not inner.startswith("b64."):
        return inner
    encoded = "b64." + base64.urlsafe_b64encode(etag.encode()).decode().rstrip("=")
    return encoded[:256]  # AWS's limit; only a pathological etag is that long, and the tag is for reading


def base_connection_body(name: str, description: str, params: dict[str, str]) -> dict[str, Any]:
    """``POST /connections`` exactly as Adobe's Zoho CRM tutorial documents it."""
    return {
        "name": name,
        "description": description,
        "auth": {"specName": AUTH_SPEC_NAME, "params": params},
        "connectionSpec": {"id": ZOHO_CRM_SPEC_ID, "version": SPEC_VERSION},
    }


# ---- the use case ---------------------------------------------------------------------------------
def provision_connection(deps: ProvisionDeps, connection: str) -> ProvisionResult:
    """Create or update ``connection``'s AEP base connection; every known failure becomes a result."""
    run = _Run()
    try:
        check_connection_name(connection)
        stored = deps.store.require(connection)
        tags = deps.store.get_tags(connection)
    except (InvalidConnectionName, ConnectionNotFound, ConnectionPendingDeletion) as exc:
        # Bad input: nothing to mark and nobody to tell beyond the caller.
        deps.logger.warning(
            "provisioning outcome", extra={"outcome": exc.code, "connection": connection, "error": exc.message}
        )
        return ProvisionResult(connection, ok=False, reason_code=exc.code)
    except ZohoAepError as exc:
        return _fail(deps, connection, exc, run)
    try:
        return _provision(deps, connection, stored.connection, tags, run)
    except ZohoAepError as exc:
        return _fail(deps, connection, exc, run)


def _provision(
    deps: ProvisionDeps, connection: str, value: Connection, tags: dict[str, str], run: _Run
) -> ProvisionResult:
    if tags.get(TAG_STATUS) == STATUS_NEEDS_REAUTH:
        raise ConnectionNeedsReauth(
            "Zoho refused this connection's tokens; send a new connect link before provisioning."
        )
    facts = _facts(deps.settings, value)
    run.sandbox = facts.sandbox
    zoho_client = deps.app_secrets.zoho_client()
    if zoho_client.client_id != facts.client_id:
        raise ZohoClientMismatch(
            "The connection was authorized with another Zoho client than the configured one; re-authorize it."
        )
    deps.app_secrets.adobe()  # a missing credential is a configuration error: say so before any call
    flow = deps.flow(facts.sandbox)

    claim_id, value = claims.claim(deps.store, connection, deps.clock)
    try:
        # Under the claim, with tags read afresh: another run may have recorded a base connection
        # since this run started, and its refresh token must not be revoked from under it.
        tags = deps.store.get_tags(connection)
        stored_id = tags.get(TAG_BASE_CONNECTION_ID) or None
        kept_in_aep = tuple(tags.get(TAG_SUPERSEDED, "").split())
        facts = _facts(deps.settings, value)  # the freshest tokens: they are what Adobe gets
        if stored_id is None and not kept_in_aep:
            # AEP holds nothing of ours yet: replaced refresh tokens are used by nobody. Revoked
            # before the preflight, so a retired source does not leak one per re-consent.
            revoked = _revoke_replaced(deps, connection, value, facts)
            if revoked:
                run.revoked += revoked
                value = deps.store.require(connection).connection  # without the tokens just revoked
        _preflight(flow)
        name = base_connection_name(deps.settings.secret_prefix, connection)
        params = {
            "endpoint": facts.api_domain,
            "accountsUrl": facts.dc.accounts_url,
            "clientId": facts.client_id,
            "clientSecret": zoho_client.secret_for(facts.dc.location),
            "accessToken": facts.access_token,
            "refreshToken": facts.refresh_token,
        }
        description = (
            f"Zoho CRM org {facts.org_label} ({facts.dc.location}), managed by zoho-aep: its tokens are "
            f"updated on every re-authorization of connection '{connection}'."
        )
        body = base_connection_body(name, description, params)
        written = _create_or_update(deps, flow, name, body, stored_id, tags.get(TAG_ETAG))
        record = {
            TAG_BASE_CONNECTION_ID: written.ref.id,
            TAG_ETAG: etag_tag_value(written.ref.etag),
            TAG_SANDBOX: facts.sandbox,
        }
        if written.replaced:
            kept_in_aep = written.superseded
        if kept_in_aep:
            record[TAG_SUPERSEDED] = " ".join(kept_in_aep[:_MAX_SUPERSEDED_IN_TAG])
        deps.store.set_tags(connection, record, () if kept_in_aep else (TAG_SUPERSEDED,))
        if kept_in_aep:
            # A kept base connection still refreshes with a replaced token: revoking it would stop
            # the dataflows it serves. The tokens wait until it is gone.
            deps.logger.info(
                "replaced Zoho refresh tokens kept while an older base connection is in use",
                extra={"connection": connection, "superseded_base_connection_ids": list(kept_in_aep)},
            )
        else:
            # Adobe holds the new refresh token now: the ones it replaced can go.
            run.revoked += _revoke_replaced(deps, connection, value, facts)
        modules = _verify(flow, written.ref.id)
    finally:
        claims.release(deps.store, connection, claim_id, deps.logger)
    return _succeed(deps, connection, facts.sandbox, written, modules, run)


def _succeed(
    deps: ProvisionDeps, connection: str, sandbox: str, written: _Written, modules: tuple[str, ...], run: _Run
) -> ProvisionResult:
    """Set the status, announce the base connection, log the outcome."""
    status = _finish_tags(deps, connection, len(modules))
    detail: dict[str, Any] = {
        "connection": connection,
        "base_connection_id": written.ref.id,
        "sandbox": sandbox,
        "created": written.created,
    }
    if written.superseded:
        detail["superseded_base_connection_ids"] = list(written.superseded)
    published = _publish(deps, ev.BASE_CONNECTION_PROVISIONED, detail)
    log_fields = {
        "outcome": "provisioned",
        "connection": connection,
        "base_connection_id": written.ref.id,
        "sandbox": sandbox,
        "base_connection_created": written.created,  # "created" is a reserved LogRecord attribute
        "adopted": written.adopted,
        "module_count": len(modules),
        "modules": list(modules),
        "revoked_refresh_tokens": run.revoked,
        "status": status,
    }
    if written.superseded:
        deps.logger.warning(
            "provisioning outcome: the replaced base connection is still used by dataflows and was kept; "
            "move those dataflows to the new base connection, then delete the old one",
            extra={**log_fields, "superseded_base_connection_ids": list(written.superseded)},
        )
    else:
        deps.logger.info("provisioning outcome", extra=log_fields)
    if not modules:
        deps.logger.warning(
            "AEP sees no Zoho CRM module through the base connection; check the granted Zoho scopes",
            extra={"connection": connection, "base_connection_id": written.ref.id},
        )
    return ProvisionResult(
        connection,
        ok=True,
        base_connection_id=written.ref.id,
        sandbox=sandbox,
        created=written.created,
        adopted=written.adopted,
        modules=modules,
        superseded_base_connection_ids=written.superseded,
        revoked_refresh_tokens=run.revoked,
        event_published=published,
    )


def _facts(settings: Settings, value: Connection) -> _Facts:
    """Check the connection secret; each gap raises with a code that names it."""
    try:
        sandbox = check_sandbox_name(value.adobe_sandbox)
    except ZohoAepError as exc:
        # Never fall back to a default: Adobe itself would silently use prod.
        raise ConnectionSandboxMissing(
            "The connection names no valid AEP sandbox; create a new connect link with --sandbox."
        ) from exc
    if not (value.access_token and value.refresh_token and value.client_id):
        raise ConnectionTokensMissing("The connection holds no Zoho tokens; send a new connect link.")
    # The Zoho client secret goes to AEP with these two hosts, and AEP sends it to accountsUrl: they
    # must be the data center's own, never whatever a tampered secret says.
    try:
        dc = settings.data_centers.stored(value.data_center, value.accounts_url)
    except ZohoAepError as exc:
        raise ConnectionHostsInvalid(
            "The connection's Zoho data center or hosts are not the product's; re-authorize it."
        ) from exc
    if not value.api_domain or not dc.allows_api_domain(value.api_domain):
        raise ConnectionHostsInvalid(
            "The connection's Zoho data center or hosts are not the product's; re-authorize it."
        )
    org = value.zoho_org_name or value.zoho_org_id or "?"
    return _Facts(
        sandbox=sandbox,
        dc=dc,
        api_domain=normalise_origin(value.api_domain),
        client_id=value.client_id,
        access_token=value.access_token,
        refresh_token=value.refresh_token,
        org_label=str(org)[:100],
    )


def _preflight(flow: FlowServiceClient) -> None:
    try:
        flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    except (AdobeNotFound, AdobeSpecInvalid) as exc:
        raise exc.recast(AdobeSpecRetired, "Adobe no longer serves the Zoho CRM source.") from exc


# ---- create or update -----------------------------------------------------------------------------
def _create_or_update(
    deps: ProvisionDeps,
    flow: FlowServiceClient,
    name: str,
    body: dict[str, Any],
    stored_id: str | None,
    stored_etag_tag: str | None,
) -> _Written:
    existing: BaseConnection | None = None
    if stored_id is not None:
        try:
            existing = flow.get_connection(stored_id)
        except AdobeNotFound:
            deps.logger.warning(
                "the recorded base connection no longer exists in AEP; looking for one by name",
                extra={"base_connection_id": stored_id, "sandbox": flow.sandbox},
            )
        else:
            if stored_etag_tag and etag_tag_value(existing.etag) != stored_etag_tag:
                deps.logger.info(
                    "the base connection was changed outside zoho-aep since it was last provisioned",
                    extra={"base_connection_id": stored_id},
                )
    adopted = False
    if existing is None:
        existing = _find_by_name(deps, flow, name)
        adopted = existing is not None
    if existing is None:
        return _Written(_create(flow, name, body), created=True, adopted=False)
    operations = [{"op": PATCH_OP, "path": "/auth/params", "value": body["auth"]["params"]}]
    try:
        return _Written(_patch(flow, existing, operations), created=False, adopted=adopted)
    except AdobePatchRefused:
        deps.logger.info(
            "AEP refuses to update this base connection in place; creating a new one, then deleting the old",
            extra={"base_connection_id": existing.id},
        )
    ref, superseded = _replace(deps, flow, existing, name, body)
    return _Written(ref, created=True, adopted=adopted, superseded=superseded, replaced=True)


def _find_by_name(deps: ProvisionDeps, flow: FlowServiceClient, name: str) -> BaseConnection | None:
    matches = flow.find_connections(ZOHO_CRM_SPEC_ID, name)
    if len(matches) > 1:
        deps.logger.warning(
            "several base connections carry this connection's name; zoho-aep keeps using the oldest",
            extra={"base_connection_ids": [c.id for c in matches]},
        )
    return matches[0] if matches else None


def _create(
    flow: FlowServiceClient, name: str, body: dict[str, Any], known: frozenset[str] = frozenset()
) -> ConnectionRef:
    """POST once. If the answer is lost, adopt what Adobe created: a named connection that is not one
    of the ``known`` ids that existed before the POST (never the one a replace is about to delete)."""
    try:
        return flow.create_connection(body)
    except AdobeSpecInvalid as exc:
        raise exc.recast(AdobeSpecRetired, "Adobe refused the Zoho CRM connection spec.") from exc
    except (AdobeUnavailable, AdobeThrottled, AdobeResponseInvalid):
        # The answer was lost or unusable, but Adobe may have created the connection: adopt it now
        # rather than create a second one on the retry.
        made = [c for c in flow.find_connections(ZOHO_CRM_SPEC_ID, name) if c.id not in known]
        if made:
            return ConnectionRef(made[-1].id, made[-1].etag)
        raise


def _patch(flow: FlowServiceClient, existing: BaseConnection, operations: list[dict[str, Any]]) -> ConnectionRef:
    try:
        return flow.patch_connection(existing.id, existing.etag, operations)
    except AdobeEtagMismatch:
        # Someone changed it between our read and our write: read again and try once more.
        fresh = flow.get_connection(existing.id)
        return flow.patch_connection(fresh.id, fresh.etag, operations)


def _replace(
    deps: ProvisionDeps, flow: FlowServiceClient, old: BaseConnection, name: str, body: dict[str, Any]
) -> tuple[ConnectionRef, tuple[str, ...]]:
    """Create a new base connection, then delete the old one (and leftovers of an interrupted replace).

    Returns the new one and the ids that could not be deleted because dataflows use them.
    """
    kept: list[str] = []
    leftovers = [c for c in flow.find_connections(ZOHO_CRM_SPEC_ID, name) if c.id != old.id]
    ref = _create(flow, name, body, frozenset({old.id, *(c.id for c in leftovers)}))
    for stale in [c.id for c in leftovers if c.id != ref.id] + [old.id]:
        try:
            flow.delete_connection(stale)
        except AdobeNotFound:
            continue
        except AdobeConnectionInUse:
            kept.append(stale)
    return ref, tuple(kept)


def _verify(flow: FlowServiceClient, connection_id: str) -> tuple[str, ...]:
    """The Zoho modules AEP sees through the connection (explore, root level)."""
    try:
        tables = flow.explore_root(connection_id)
    except AdobeError as exc:
        if exc.retryable:
            raise
        raise exc.recast(
            AdobeVerificationFailed, "AEP cannot explore Zoho CRM through the new base connection."
        ) from exc
    return tuple(str(t.get("name") or t.get("path") or "") for t in tables if t.get("type", "table") == "table")


# ---- the secret: revoke replaced tokens -----------------------------------------------------------
def _revoke_replaced(deps: ProvisionDeps, connection: str, value: Connection, facts: _Facts) -> int:
    """Revoke the refresh tokens ``value`` lists as replaced, then drop them from the secret (CAS).

    A token Zoho does not confirm (already revoked, unknown) is dropped too: asking again cannot
    help. One Zoho could not be reached about stays for the next run.
    """
    tokens = [t for t in value.revocable_refresh_tokens if t != facts.refresh_token]
    if not tokens:
        return 0
    done: set[str] = set()
    confirmed = 0
    for token in tokens:
        try:
            confirmed += deps.zoho.revoke(facts.dc.accounts_url, token)
        except ZohoAepError as exc:
            deps.logger.warning(
                "could not revoke a replaced Zoho refresh token; the next run tries again",
                extra={"connection": connection, "reason": exc.code},
            )
            continue
        done.add(token)

    def mutate(current: Connection | None) -> Connection | None:
        if current is None or not current.forget_refresh_tokens(done):
            return None
        return current

    if done:
        deps.store.write(connection, mutate)
        deps.logger.info(
            "replaced Zoho refresh tokens revoked",
            extra={"connection": connection, "revoked": confirmed, "already_invalid": len(done) - confirmed},
        )
    return len(done)


# ---- endings ---------------------------------------------------------------------------------------
def _finish_tags(deps: ProvisionDeps, connection: str, module_count: int) -> str | None:
    """Record the module count and, unless another function's verdict stands, status ``active``.

    ``needs-reauth`` and ``refresh-failing`` belong to the refresher and describe the Zoho tokens, which
    a successful provisioning does not fix, so they and their last-error stay. The tags are re-read
    here (not reused from the start of the run) to keep the window for such a change small.
    """
    status = deps.store.get_tags(connection).get(TAG_STATUS)
    tags = {TAG_MODULES: str(module_count)}
    remove: tuple[str, ...] = ()
    if status in (None, "", STATUS_ACTIVE, STATUS_PROVISIONING_FAILED):
        tags[TAG_STATUS] = STATUS_ACTIVE
        remove = (TAG_LAST_ERROR,)
        status = STATUS_ACTIVE
    deps.store.set_tags(connection, tags, remove)
    return status


def _fail(deps: Any, connection: str, exc: ZohoAepError, run: _Run) -> ProvisionResult:
    """Log, mark (when retrying cannot help) and announce a failure; never raises a ZohoAepError."""
    adobe_code = getattr(exc, "adobe_code", None)
    request_id = getattr(exc, "request_id", None)
    fields = {
        "outcome": "provisioning-failed",
        "connection": connection,
        "reason": exc.code,
        "retryable": exc.retryable,
        "adobe_code": adobe_code,
        "adobe_request_id": request_id,
        "sandbox": run.sandbox,
        "error": exc.message,
    }
    if isinstance(exc, AdobeSpecRetired):
        deps.logger.error(RETIREMENT_NOTICE, extra=fields)
    elif exc.retryable:
        deps.logger.warning("provisioning failed; it will be retried", extra=fields)
    else:
        deps.logger.error("provisioning failed; retrying cannot help until the cause is fixed", extra=fields)
    # A passing failure changes no status (a retry is coming). A lasting one is marked, except on a
    # connection that needs re-authorization (read now: the refresher may have said so meanwhile),
    # which is the more urgent truth.
    if not exc.retryable:
        try:
            if deps.store.get_tags(connection).get(TAG_STATUS) != STATUS_NEEDS_REAUTH:
                deps.store.set_tags(connection, {TAG_STATUS: STATUS_PROVISIONING_FAILED, TAG_LAST_ERROR: exc.code})
        except ZohoAepError as tag_error:
            deps.logger.error("could not mark the connection provisioning-failed", extra={"reason": tag_error.code})
    published = _publish(
        deps, ev.PROVISIONING_FAILED, {"connection": connection, "reason_code": exc.code, "retryable": exc.retryable}
    )
    return ProvisionResult(
        connection,
        ok=False,
        reason_code=exc.code,
        retryable=exc.retryable,
        sandbox=run.sandbox,
        revoked_refresh_tokens=run.revoked,
        adobe_code=adobe_code,
        request_id=request_id,
        event_published=published,
    )


def record_failure(deps: Any, connection: str, exc: ZohoAepError, sandbox: str | None = None) -> ProvisionResult:
    """A failure of either path, as the native path records it (log, status when lasting, event).

    ``deps`` has ``store``, ``events`` and ``logger`` (the native or the S3 path's).
    """
    return _fail(deps, connection, exc, _Run(sandbox=sandbox))


def _publish(deps: Any, detail_type: str, detail: dict[str, Any]) -> bool:
    return publish_or_log(deps.events, deps.logger, detail_type, detail)
