"""Use case: which way a connection's records reach AEP, and provisioning along that way.

Two paths (``domain/export.py``): ``zoho-crm``, Adobe's own Zoho CRM source (its base connection
holds the Zoho tokens), and ``amazon-s3``, the product's export read by AEP's Amazon S3 source. The
choice is recorded per connection in the tag ``aep:path`` and never flips by itself:

1. a path the operator asks for (``zoho-aep provision NAME --path amazon-s3``) moves the connection;
2. else the recorded one;
3. else ``AepSourcePath`` when it names one;
4. else (``auto``) the native source while Adobe still serves its connection spec, the S3 path once
   it does not (Adobe retired the Zoho CRM source after June 2025): ``aep-zoho-source-retired``
   becomes a switch, not a dead end.

Moving to the S3 path deletes the native base connection when no dataflow uses it; one that
dataflows still use is kept and named in the result (move those dataflows, then delete it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..adapters.adobe.flow import ZOHO_CRM_SPEC_ID
from ..adapters.events import publish_or_log
from ..domain.connection import TAG_BASE_CONNECTION_ID, TAG_ETAG, TAG_MODULES, TAG_PATH, TAG_SUPERSEDED
from ..domain.errors import (
    AdobeConnectionInUse,
    AdobeNotFound,
    AdobeSpecInvalid,
    AepPathUnavailable,
    ConnectionNotFound,
    ConnectionPendingDeletion,
    InvalidConnectionName,
    ZohoAepError,
)
from ..domain.export import PATH_AMAZON_S3, PATH_ZOHO_CRM
from ..domain.names import check_connection_name, check_sandbox_name
from .provision import ProvisionDeps, ProvisionResult, provision_connection, record_failure
from .s3_source.deps import S3SourceDeps
from .s3_source.provision import provision_s3, provisioned_event

PATHS = (PATH_ZOHO_CRM, PATH_AMAZON_S3)


@dataclass
class PathDeps:
    native: ProvisionDeps
    s3: Callable[[], S3SourceDeps] | None = None  # None where the stack has no export bucket


def provision_along(deps: PathDeps, connection: str, requested: str | None = None) -> ProvisionResult:
    """Provision ``connection`` along its path (choosing and recording it first); never raises a ZohoAepError."""
    native = deps.native
    try:
        check_connection_name(connection)
        tags = native.store.get_tags(connection)
    except (InvalidConnectionName, ConnectionNotFound, ConnectionPendingDeletion) as exc:
        native.logger.warning(
            "provisioning outcome", extra={"outcome": exc.code, "connection": connection, "error": exc.message}
        )
        return ProvisionResult(connection, ok=False, reason_code=exc.code)
    except ZohoAepError as exc:
        return record_failure(native, connection, exc)
    try:
        path = choose_path(deps, connection, tags.get(TAG_PATH), requested)
    except ZohoAepError as exc:
        return record_failure(native, connection, exc)
    if path == PATH_ZOHO_CRM:
        result = provision_connection(native, connection)
        if result.ok and tags.get(TAG_PATH) != PATH_ZOHO_CRM:
            _tag_path(deps, connection, PATH_ZOHO_CRM)
        return replace(result, path=PATH_ZOHO_CRM)
    return _along_s3(deps, connection, moving=tags.get(TAG_PATH) == PATH_ZOHO_CRM, tags=tags)


def choose_path(deps: PathDeps, connection: str, recorded: str | None, requested: str | None) -> str:
    """The path this run takes (see the module's docstring for the order)."""
    if requested is not None:
        if requested not in PATHS:
            raise AepPathUnavailable(f"--path must be one of {', '.join(PATHS)}.")
        path = requested
    elif recorded in PATHS:
        path = str(recorded)
    elif deps.native.settings.aep_source_path in PATHS:
        path = deps.native.settings.aep_source_path
    elif deps.s3 is None:
        path = PATH_ZOHO_CRM  # nothing to switch to: a retired source says so (aep-zoho-source-retired)
    else:
        path = PATH_ZOHO_CRM if _native_served(deps, connection) else PATH_AMAZON_S3
        deps.native.logger.info(
            "AEP path chosen", extra={"connection": connection, "path": path, "aep_source_path": "auto"}
        )
    if path == PATH_AMAZON_S3 and deps.s3 is None:
        raise AepPathUnavailable("The S3 path is not deployed here (no export bucket); deploy the stack's template.")
    return path


def _native_served(deps: PathDeps, connection: str) -> bool:
    """Whether Adobe still serves the Zoho CRM source in the connection's sandbox."""
    value = deps.native.store.require(connection).connection
    deps.native.app_secrets.adobe()
    flow = deps.native.flow(check_sandbox_name(value.adobe_sandbox))
    try:
        flow.get_connection_spec(ZOHO_CRM_SPEC_ID)
    except (AdobeNotFound, AdobeSpecInvalid):
        return False
    return True


def _along_s3(deps: PathDeps, connection: str, *, moving: bool, tags: dict[str, str]) -> ProvisionResult:
    assert deps.s3 is not None  # nosec B101  # choose_path refuses the S3 path without it
    s3 = deps.s3()
    kept: tuple[str, ...] = ()
    sandbox: str | None = None
    try:
        if moving:
            # The move is recorded first: a run that fails half-way is retried on the S3 path, never
            # sent back to a native base connection that may already be gone.
            deps.native.store.set_tags(connection, {TAG_PATH: PATH_AMAZON_S3})
        if moving and tags.get(TAG_BASE_CONNECTION_ID):
            kept = _retire_native(deps, connection, tags[TAG_BASE_CONNECTION_ID])
        done = provision_s3(s3, connection)
        sandbox = done.sandbox
    except ZohoAepError as exc:
        return record_failure(s3, connection, exc, sandbox)
    detail_type, detail = provisioned_event(done)
    if kept:
        detail["kept_native_base_connection_ids"] = list(kept)
    published = publish_or_log(s3.events, s3.logger, detail_type, detail)
    return ProvisionResult(
        connection,
        ok=True,
        base_connection_id=done.base_connection_id,
        sandbox=done.sandbox,
        created=bool(done.created),
        modules=done.modules,
        superseded_base_connection_ids=kept,
        event_published=published,
        path=PATH_AMAZON_S3,
    )


def _retire_native(deps: PathDeps, connection: str, base_connection_id: str) -> tuple[str, ...]:
    """Delete the native base connection unless dataflows use it; returns it when it must stay."""
    native = deps.native
    value = native.store.require(connection).connection
    flow = native.flow(check_sandbox_name(value.adobe_sandbox))
    flows = flow.flows_using(base_connection_id)
    if not flows:
        try:
            flow.delete_connection(base_connection_id)
        except AdobeNotFound:
            pass
        except AdobeConnectionInUse:
            flows = ["(in use)"]
    if flows:
        kept = " ".join(
            dict.fromkeys([*native.store.get_tags(connection).get(TAG_SUPERSEDED, "").split(), base_connection_id])
        )
        native.store.set_tags(connection, {TAG_SUPERSEDED: kept[:256]})
        native.logger.warning(
            "the native Zoho CRM base connection is still used by dataflows and was kept; move or delete them in AEP",
            extra={"connection": connection, "base_connection_id": base_connection_id, "flows": flows[:20]},
        )
        return (base_connection_id,)
    native.store.set_tags(connection, {}, remove=(TAG_BASE_CONNECTION_ID, TAG_ETAG, TAG_MODULES))
    native.logger.info(
        "the native Zoho CRM base connection was deleted: the connection moves to the S3 path",
        extra={"connection": connection, "base_connection_id": base_connection_id},
    )
    return ()


def _tag_path(deps: PathDeps, connection: str, path: str) -> None:
    try:
        deps.native.store.set_tags(connection, {TAG_PATH: path})
    except ZohoAepError as exc:
        deps.native.logger.warning("could not record the connection's AEP path", extra={"reason": exc.code})
