"""Every failure the product knows about, as a type with a stable code (the one list of codes).

Each is a subclass of :class:`ZohoAepError` with a ``code``: a short kebab-case identifier (at most 64
characters) that goes into log lines, tags, events and pages. The message is written by us and never
carries a token, secret, grant code or state value; the edge (handler) decides what a person or an
operator sees. :func:`all_codes` lists every code, and ``docs/reference.md`` must explain each one
(a test keeps the two in step).
"""

from __future__ import annotations

import re

_CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def is_valid_code(code: str) -> bool:
    """True when ``code`` is a kebab-case identifier of at most 64 characters."""
    return len(code) <= 64 and bool(_CODE.fullmatch(code))


class ZohoAepError(Exception):
    """Base of every expected failure.

    ``retryable`` says whether trying again later can help (a passing outage) or not (bad input,
    refused consent, configuration). ``http_status`` is what the callback answers for it.
    """

    code = "internal-error"
    retryable = False
    http_status = 500

    def __init__(self, message: str = "", *, code: str | None = None, retryable: bool | None = None) -> None:
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        assert is_valid_code(self.code), self.code  # nosec B101  # guards our own constant codes, not input
        super().__init__(message or self.code)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


# ---- configuration --------------------------------------------------------------------------------
class ConfigError(ZohoAepError):
    """A missing or malformed environment variable or operator-provided secret."""

    code = "config-invalid"


class AppSecretMissing(ConfigError):
    code = "app-secret-missing"


class ZohoClientNotConfigured(ConfigError):
    """``{prefix}/zoho-client`` has no usable client id and secret yet."""

    code = "zoho-client-not-configured"


class AdobeCredentialNotConfigured(ConfigError):
    """``{prefix}/adobe`` lacks client id, secret or org id."""

    code = "adobe-credential-not-configured"


class StateKeyInvalid(ConfigError):
    """``{prefix}/state-key`` is missing or too short to sign links with."""

    code = "state-key-invalid"


class StackNotFound(ConfigError):
    """The CLI cannot read a deployed zoho-aep stack (name, region or credentials)."""

    code = "stack-not-found"


# ---- input from the browser / the operator -------------------------------------------------------
class BadRequest(ZohoAepError):
    """Input we refuse before doing anything."""

    code = "bad-request"
    http_status = 400


class MethodNotAllowed(BadRequest):
    code = "method-not-allowed"
    http_status = 405


class QueryTooLarge(BadRequest):
    code = "query-too-large"
    http_status = 414


class QueryParameterRepeated(BadRequest):
    code = "query-parameter-repeated"


class QueryInvalid(BadRequest):
    """The query string cannot be decoded."""

    code = "query-invalid"


class StateMissing(BadRequest):
    code = "state-missing"


class StateInvalid(BadRequest):
    """Garbled: not base64url, not JSON, fields missing or of the wrong type."""

    code = "state-invalid"


class StateSignatureInvalid(BadRequest):
    code = "state-signature-invalid"


class StateExpired(BadRequest):
    code = "state-expired"


class StateReused(BadRequest):
    code = "state-reused"


class ConnectLinkInvalid(BadRequest):
    """A connect link whose signed state is fine but whose other parameters were altered."""

    code = "connect-link-invalid"


class LinkTtlInvalid(BadRequest):
    code = "link-ttl-invalid"


class SandboxMismatch(BadRequest):
    """A link names another AEP sandbox than the connection already feeds."""

    code = "connection-sandbox-mismatch"
    http_status = 409


class ConsentDeclined(BadRequest):
    code = "zoho-consent-declined"
    http_status = 200  # not an error of anyone's: the person said no


class AuthorizationRefused(BadRequest):
    """Zoho redirected back with an ``error`` other than ``access_denied``."""

    code = "zoho-authorization-error"


class CodeMissing(BadRequest):
    code = "code-missing"


class LocationUnknown(BadRequest):
    code = "location-unknown"


class AccountsServerMismatch(BadRequest):
    code = "accounts-server-mismatch"


class InvalidConnectionName(BadRequest):
    code = "connection-name-invalid"


class InvalidSandboxName(BadRequest):
    code = "sandbox-name-invalid"


class ZohoOrgIdInvalid(BadRequest):
    """An operator named a Zoho org id for a link (``--zoho-org-id``) that is not one."""

    code = "zoho-org-id-invalid"


class LinkDataCenterMismatch(BadRequest):
    """The link was made for one Zoho data center (``--data-center``); the consent came from another."""

    code = "link-data-center-mismatch"
    http_status = 409


class DataCenterUnknown(BadRequest):
    """An operator named a Zoho data center the table does not know."""

    code = "data-center-unknown"


class InputInvalid(BadRequest):
    """The operator's input (a flag, a JSON file) is not what the command takes."""

    code = "input-invalid"


class InputUnreadable(BadRequest):
    code = "input-unreadable"


class InputMissing(BadRequest):
    code = "input-missing"


class ConfirmationRequired(BadRequest):
    code = "confirmation-required"


class RefreshRequestInvalid(BadRequest):
    """A refresh invocation's event is not one the function takes."""

    code = "refresh-request-invalid"


class RefreshShardInvalid(BadRequest):
    """A refresh shard (or its result) message that cannot be read."""

    code = "refresh-shard-invalid"


class ExportRequestInvalid(BadRequest):
    """An export invocation's event is not one the function takes."""

    code = "export-request-invalid"


class BulkCallbackInvalid(BadRequest):
    """A request to the Bulk Read callback route that this stack did not sign."""

    code = "bulk-callback-invalid"
    http_status = 403


class ProvisioningInputInvalid(BadRequest):
    code = "provisioning-input-invalid"


class ProvisioningEventUnsupported(BadRequest):
    code = "provisioning-event-unsupported"


# ---- Zoho ----------------------------------------------------------------------------------------
class ZohoError(ZohoAepError):
    code = "zoho-error"
    http_status = 502


class ZohoCodeInvalid(ZohoError):
    """``invalid_code`` on a code exchange: the grant code was spent or expired."""

    code = "zoho-code-invalid"
    http_status = 400


class ZohoConsentRevoked(ZohoError):
    """``invalid_code`` on a refresh: the user revoked consent; only a new consent helps."""

    code = "zoho-consent-revoked"


class ZohoClientInvalid(ZohoError):
    """``invalid_client`` / ``invalid_client_secret``: wrong client, or wrong data center's secret."""

    code = "zoho-client-invalid"


class ZohoClientChanged(ZohoClientInvalid):
    """A connection authorized for another Zoho client id than the one configured now (refresh)."""

    code = "zoho-client-changed"


class ZohoRedirectUriMismatch(ZohoError):
    code = "zoho-redirect-uri-mismatch"


class ZohoThrottled(ZohoError):
    """Zoho's "Access Denied ... too many requests" (in any language, any HTTP status)."""

    code = "zoho-throttled"
    retryable = True
    http_status = 503


class ZohoUnavailable(ZohoError):
    """5xx, timeouts, connection failures: a passing outage."""

    code = "zoho-unavailable"
    retryable = True
    http_status = 503


class ZohoResponseInvalid(ZohoError):
    """An answer we cannot use: not JSON, no access token and no known error."""

    code = "zoho-response-invalid"
    retryable = True


class ZohoRefreshTokenMissing(ZohoError):
    code = "zoho-refresh-token-missing"


class ZohoApiDomainInvalid(ZohoError):
    code = "zoho-api-domain-invalid"


class ZohoScopeMismatch(ZohoError):
    code = "zoho-scope-mismatch"
    http_status = 403


class ZohoTokenInvalid(ZohoError):
    code = "zoho-token-invalid"


class ZohoMintBudgetExhausted(ZohoError):
    """This connection minted as many access tokens as it may in Zoho's 10-minute window."""

    code = "zoho-mint-budget-exhausted"
    retryable = True
    http_status = 503


class ZohoUserTokenLimit(ZohoError):
    """The consenting Zoho user already holds as many connections as Zoho keeps refresh tokens for, less
    the one every exchange needs: accepting would let the user's next consent delete a live token."""

    code = "zoho-user-token-limit"
    http_status = 409


class ZohoUserTokensNearLimit(ZohoError):
    """Not raised: the code of the warning that one Zoho user's connections near Zoho's limit."""

    code = "zoho-user-token-limit-near"


class LinkOrgMismatch(ZohoError):
    """The link was made for one Zoho org (``--zoho-org-id``); another org consented."""

    code = "link-org-mismatch"
    http_status = 409


class ZohoOrgMismatch(ZohoError):
    """A re-authorization by a Zoho org other than the one the connection belongs to."""

    code = "zoho-org-mismatch"
    http_status = 409


class ZohoScopeMissing(ZohoError):
    """The connection was consented without a scope the export needs; only a new consent adds it."""

    code = "zoho-scope-missing"
    http_status = 403


class ZohoModuleUnsupported(ZohoError):
    """Zoho does not export this module with Bulk Read (unknown, not permitted, or not supported)."""

    code = "zoho-module-unsupported"


class ZohoBulkJobFailed(ZohoError):
    """A Bulk Read job ended in FAILURE (it is created again for the same window)."""

    code = "zoho-bulk-job-failed"
    retryable = True


class ZohoDownloadThrottled(ZohoError):
    """Zoho refused a Bulk Read download with 429: 10 per minute per org."""

    code = "zoho-download-throttled"
    retryable = True


class ZohoBulkResultExpired(ZohoError):
    """A Bulk Read result is no longer downloadable (Zoho keeps results about a day)."""

    code = "zoho-bulk-result-expired"
    retryable = True


class ZohoRequestRefused(ZohoError):
    """Any other refusal of a CRM call, with Zoho's code in the message: a request Zoho will not take."""

    code = "zoho-request-refused"


# ---- Adobe (IMS and Flow Service) ---------------------------------------------------------------
class AdobeError(ZohoAepError):
    """An answer from Adobe IMS or the Flow Service API that is not the one asked for.

    ``adobe_code`` is Adobe's own code (gateway ``401013``, Flow ``1404-412``, IMS ``invalid_client``)
    and ``request_id`` Adobe's request id, so an operator can quote both to Adobe support. Neither
    ever holds a secret; the message is ours, never Adobe's text from the wire.
    """

    code = "aep-error"
    http_status = 502

    def __init__(
        self,
        message: str = "",
        *,
        adobe_code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message, code=code, retryable=retryable)
        self.adobe_code = adobe_code
        self.request_id = request_id
        self.status = status

    def recast(self, kind: type[AdobeError], message: str) -> AdobeError:
        """The same answer of Adobe's read as ``kind`` (its code, request id and status kept)."""
        return kind(message, adobe_code=self.adobe_code, request_id=self.request_id, status=self.status)


class AdobeUnavailable(AdobeError):
    """5xx, timeouts, dropped connections: a passing outage."""

    code = "aep-unavailable"
    retryable = True


class AdobeThrottled(AdobeError):
    """429 after every attempt, or a ``Retry-After`` longer than one call may wait."""

    code = "aep-throttled"
    retryable = True


class AdobeResponseInvalid(AdobeError):
    """A success status with a body we cannot use."""

    code = "aep-response-invalid"
    retryable = True


class AdobeTokenRejected(AdobeError):
    """The gateway refused a freshly minted IMS token too (``401013`` twice, or ``403010``)."""

    code = "aep-token-rejected"
    retryable = True


class AdobeCredentialInvalid(AdobeError):
    """IMS ``invalid_client``: the client id or secret in ``{prefix}/adobe`` is wrong."""

    code = "aep-credential-invalid"


class AdobeScopesInvalid(AdobeError):
    """IMS ``invalid_scope``: ``scopes`` in ``{prefix}/adobe`` names a scope the credential lacks."""

    code = "aep-scopes-invalid"


class AdobeApiKeyInvalid(AdobeError):
    """Gateway ``403000``/``403003``: the Experience Platform API is not on the credential's project."""

    code = "aep-api-key-invalid"


class AdobeOrgNotEntitled(AdobeError):
    """Gateway ``403025``/``403027``: wrong ``org_id``, or no AEP product profile for the credential."""

    code = "aep-org-not-entitled"


class AdobePermissionMissing(AdobeError):
    """Flow ``2118-403``/``2120-403``/``2121-403``: the product profile lacks a permission (View or Manage Sources)."""

    code = "aep-permission-missing"


class AdobeSandboxNotFound(AdobeError):
    """Flow ``2100``/``2101``: the connection's sandbox does not exist or the credential cannot see it."""

    code = "aep-sandbox-not-found"


class AdobeSpecInvalid(AdobeError):
    """Flow ``1413-400``: Adobe does not accept the connection spec id."""

    code = "aep-spec-invalid"


class AdobeSpecRetired(AdobeError):
    """Adobe no longer serves the Zoho CRM source (its connection spec is gone or invalid)."""

    code = "aep-zoho-source-retired"


class AdobeNotFound(AdobeError):
    """Flow ``1101-404`` (``1102-404`` in the sources catalogue): no such resource in this sandbox."""

    code = "aep-not-found"


class AdobeEtagMismatch(AdobeError):
    """Flow ``1404-412``: the ``If-Match`` etag is stale; someone changed the connection meanwhile."""

    code = "aep-etag-mismatch"
    retryable = True


class AdobePatchRefused(AdobeError):
    """Flow ``1445-400``/``1300-400``: this connector does not allow PATCH."""

    code = "aep-patch-refused"


class AdobeConnectionInUse(AdobeError):
    """Flow ``1418-400``: the base connection cannot be deleted while dataflows use it."""

    code = "aep-connection-in-use"


class AdobeRequestRefused(AdobeError):
    """Any other 4xx: a request Adobe will never accept as sent."""

    code = "aep-request-refused"


class AdobeImsRefused(AdobeError):
    """IMS refused the token request for a reason other than the client or the scopes."""

    code = "aep-ims-refused"


class AdobeVerificationFailed(AdobeError):
    """AEP cannot explore Zoho CRM through the base connection just written."""

    code = "aep-verification-failed"


class AdobeTitleTaken(AdobeError):
    """Schema Registry ``XDM-1521-400``: a resource of another kind (or not ours) already has this title."""

    code = "aep-title-taken"


class AdobeSchemaChangeRefused(AdobeError):
    """Schema Registry refused a change to a schema in use (only additive changes are allowed)."""

    code = "aep-schema-change-refused"


# ---- provisioning ---------------------------------------------------------------------------------
class ProvisioningInProgress(ZohoAepError):
    """Another run holds this connection's provisioning claim; the retry will find its result."""

    code = "aep-provisioning-in-progress"
    retryable = True


class ProvisioningWillRetry(ZohoAepError):
    """Raised to the Lambda runtime for a failure a later attempt can fix; ``code`` is the reason."""

    code = "aep-provisioning-retry"
    retryable = True


class ConnectionNotProvisionable(ZohoAepError):
    """The connection secret lacks what AEP needs; the subclass names what."""

    code = "connection-incomplete"


class ConnectionNeedsReauth(ConnectionNotProvisionable):
    code = "connection-needs-reauth"


class ZohoClientMismatch(ConnectionNotProvisionable):
    """Authorized with another Zoho client than the configured one."""

    code = "zoho-client-mismatch"


class ConnectionSandboxMissing(ConnectionNotProvisionable):
    code = "connection-sandbox-missing"


class ConnectionTokensMissing(ConnectionNotProvisionable):
    code = "connection-tokens-missing"


class ConnectionHostsInvalid(ConnectionNotProvisionable):
    """The stored data center or hosts are not the ones the table gives."""

    code = "connection-hosts-invalid"


# ---- AWS -----------------------------------------------------------------------------------------
class StoreError(ZohoAepError):
    code = "secret-store-error"
    retryable = True


class ConnectionNotFound(StoreError):
    code = "connection-not-found"
    retryable = False
    http_status = 404


class ConnectionPendingDeletion(StoreError):
    code = "connection-pending-deletion"
    retryable = False
    http_status = 409


class WriteConflict(StoreError):
    """Compare-and-swap kept losing to other writers; give up for now."""

    code = "secret-write-conflict"


class ConnectionCorrupt(StoreError):
    code = "connection-secret-invalid"
    retryable = False


class ConnectionSchemaUnsupported(ConnectionCorrupt):
    """A connection secret written by a newer zoho-aep (its ``schema`` is above ours): left alone."""

    code = "connection-schema-unsupported"


class EventPublishFailed(ZohoAepError):
    code = "event-publish-failed"
    retryable = True


class ExportStorageError(ZohoAepError):
    """S3 refused a read or write of the export bucket."""

    code = "export-storage-error"
    retryable = True


class ExportStateConflict(ZohoAepError):
    """The unit's state kept changing under us (another invocation): try again."""

    code = "export-state-conflict"
    retryable = True


class ExportInProgress(ZohoAepError):
    """Another invocation holds this unit's lease; it carries the export on."""

    code = "export-in-progress"
    retryable = True


class ExportStateInvalid(ZohoAepError):
    """A unit's state object cannot be read (delete it to export the module afresh)."""

    code = "export-state-invalid"


class AepStateInvalid(ZohoAepError):
    """A connection's AEP state object (``state/{connection}/_aep.json``) cannot be read."""

    code = "aep-state-invalid"


class AepPathUnavailable(ZohoAepError):
    """The chosen path cannot be taken: the native Zoho source is retired, or the S3 path is not deployed."""

    code = "aep-path-unavailable"


class AepBatchBudgetExceeded(ZohoAepError):
    """The S3 path's dataflows would make more runs a day in the sandbox than AEP's batch guardrail allows."""

    code = "aep-batch-budget-exceeded"


class AepRunFailed(ZohoAepError):
    """An AEP dataflow run over the exported files failed."""

    code = "aep-run-failed"
    retryable = True


class AepRowErrors(ZohoAepError):
    """An AEP dataflow run refused more rows than ``AepRowErrorThreshold`` allows."""

    code = "aep-row-errors"
    retryable = True


class AepReaderKeyMissing(ConfigError):
    """The AEP reader's access key (``{prefix}/aep-s3-reader``) is not there yet: its first rotation makes it."""

    code = "aep-reader-key-missing"


class AepReaderKeyRejected(ZohoAepError):
    """AEP could not read the export folder with the reader's key (its connection test failed)."""

    code = "aep-reader-key-rejected"
    retryable = True


class ReaderKeyStoreError(ZohoAepError):
    """IAM refused a call on the AEP reader user's access keys (list, create, delete)."""

    code = "aep-reader-iam-error"
    retryable = True


class ReaderRotationRefused(BadRequest):
    """A rotation event this function does not serve: another secret, or a version not staged for rotation."""

    code = "aep-reader-rotation-refused"


class ExportNotConfigured(ConfigError):
    """No export bucket is configured (EXPORT_BUCKET)."""

    code = "export-not-configured"


class ExportQueueError(ZohoAepError):
    """SQS refused to take an export unit."""

    code = "export-queue-error"
    retryable = True


class RefreshQueueError(ZohoAepError):
    """SQS refused a call of the refresh fan-out."""

    code = "refresh-queue-error"
    retryable = True


class AwsUnreachable(ZohoAepError):
    """The CLI could not reach an AWS endpoint at all (no answer, connection refused)."""

    code = "aws-unreachable"
    retryable = True


class InvokeFailed(ZohoAepError):
    """The CLI could not invoke a deployed function."""

    code = "invoke-failed"


class FunctionFailed(ZohoAepError):
    """A deployed function invoked by the CLI ended with an error."""

    code = "function-failed"


# ---- HTTP ----------------------------------------------------------------------------------------
class HostNotAllowed(ZohoAepError):
    """An outbound URL whose scheme or host the product will not talk to."""

    code = "host-not-allowed"


class UpstreamUnavailable(ZohoAepError):
    """Every attempt timed out, lost its connection, got a garbled or a retryable answer, or failed otherwise."""

    code = "upstream-unavailable"
    retryable = True

    def __init__(self, message: str, *, kind: str, status: int | None = None) -> None:
        super().__init__(message)
        # "timeout" | "connection" | "garbled" (an undecodable body) | "status" | "too-large" | "failed"
        self.kind = kind
        self.status = status


class OutboundRequestInvalid(ZohoAepError):
    """A request the HTTP client could not even send as built: an invalid header value, URL or body.

    Raised before anything went out (``requests``' ``InvalidHeader``, ``InvalidURL``, ...). Trying again
    cannot help; the value that made it usually came from an upstream's answer.
    """

    code = "outbound-request-invalid"
    http_status = 502


def error_for(code: str, message: str) -> ZohoAepError:
    """An error of the type that carries ``code`` (a generic one with that code when none does)."""
    kind = all_codes().get(code)
    if kind is None or kind is UpstreamUnavailable:
        return ZohoAepError(message, code=code if is_valid_code(code) else None)
    return kind(message)


def all_codes() -> dict[str, type[ZohoAepError]]:
    """Every code the product can report, with the error type that carries it."""
    found: dict[str, type[ZohoAepError]] = {}
    pending: list[type[ZohoAepError]] = [ZohoAepError]
    while pending:
        kind = pending.pop()
        found.setdefault(kind.code, kind)
        pending.extend(kind.__subclasses__())
    return found
