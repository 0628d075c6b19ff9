"""Typed errors with stable codes.

Every failure the product knows about is a subclass of :class:`ZohoAepError` with a ``code``: a short
kebab-case identifier (at most 64 characters) that goes into log lines, tags, events and pages. The
message is written by us and never carries a token, secret, grant code or state value; the edge
(handler) decides what a person or an operator sees.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def is_valid_code(code: str) -> bool:
    """True when ``code`` is a kebab-case identifier of at most 64 characters."""
    return len(code) <= 64 and bool(_CODE.match(code))


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


class ZohoOrgMismatch(ZohoError):
    """A re-authorization by a Zoho org other than the one the connection belongs to."""

    code = "zoho-org-mismatch"
    http_status = 409


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
    """Flow ``2118``/``2121``: the product profile lacks View Sources / Manage Sources."""

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
    """Flow ``1101-404``: no such resource in this sandbox."""

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
    flow_ids: list[str] = []  # the dataflow ids Adobe named, when it named them


class AdobeRequestRefused(AdobeError):
    """Any other 4xx: a request Adobe will never accept as sent."""

    code = "aep-request-refused"


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


class EventPublishFailed(ZohoAepError):
    code = "event-publish-failed"
    retryable = True


# ---- HTTP ----------------------------------------------------------------------------------------
class HostNotAllowed(ZohoAepError):
    """An outbound URL whose scheme or host the product will not talk to."""

    code = "host-not-allowed"
