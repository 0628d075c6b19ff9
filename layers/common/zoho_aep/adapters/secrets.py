"""The one secret store: the app's secrets and the connection secrets in AWS Secrets Manager.

Connection secrets are written by three functions, so every write is read-modify-write with
compare-and-swap: read ``AWSCURRENT`` (explicitly), compute the new value, put it as a new version
under a private staging label, then move ``AWSCURRENT`` to it with ``RemoveFromVersionId`` set to the
version that was read. If another writer moved ``AWSCURRENT`` in between, the move is refused and we
re-read and retry, so no update is ever lost.

Non-secret state lives in tags, so listing connections never reads a token.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config.parameters import DEFAULT_ADOBE_SCOPES
from ..domain.connection import Connection, ConnectionSummary
from ..domain.credentials import AdobeCredentials, ReaderKey, ZohoClientCredentials
from ..domain.errors import (
    AdobeCredentialNotConfigured,
    AepReaderKeyMissing,
    AppSecretMissing,
    ConfigError,
    ConnectionCorrupt,
    ConnectionNotFound,
    ConnectionPendingDeletion,
    InvalidConnectionName,
    StateKeyInvalid,
    StoreError,
    WriteConflict,
    ZohoClientNotConfigured,
)
from ..domain.names import check_connection_name
from . import aws
from .aws import AwsAdapter, client_errors
from .logs import pin_secret, register_secret

READER_SECRET = "aep-s3-reader"  # noqa: S105  # nosec B105  # a secret's name: {prefix}/aep-s3-reader

PENDING_STAGE = "ZOHOAEP_PENDING"
MAX_BATCH_READ = 20  # BatchGetSecretValue takes at most 20 secret ids


@dataclass(frozen=True)
class StoredConnection:
    """A connection secret's current value and the version it was read at."""

    name: str
    connection: Connection
    version_id: str


@dataclass(frozen=True)
class WriteResult:
    connection: Connection
    version_id: str
    created: bool
    changed: bool
    previous: Connection | None = None


def _strip(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


class AppSecrets(AwsAdapter):
    """Reads the operator's and the stack's secrets, cached in memory for ``max_age`` seconds."""

    service = "secretsmanager"

    def __init__(
        self,
        prefix: str,
        client: Any = None,
        *,
        max_age: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client)
        self.prefix = prefix
        self.max_age = max_age
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}

    def _read(self, suffix: str, *, force: bool = False, max_age: float | None = None) -> str:
        name = f"{self.prefix}/{suffix}"
        cached = self._cache.get(name)
        limit = self.max_age if max_age is None else max_age
        if cached and not force and self._clock() - cached[0] < limit:
            return cached[1]
        try:
            answer = self.client.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
        except client_errors() as exc:
            code = aws.error_code(exc)
            if code == "ResourceNotFoundException":
                raise AppSecretMissing(f"Secret {name} does not exist; deploy the stack first.") from exc
            raise StoreError(f"Secrets Manager refused to read {name} ({code or 'error'}).") from exc
        value = answer.get("SecretString") or ""
        pin_secret(value)  # the stack's own secrets: no input may push them out of the masking registry
        self._cache[name] = (self._clock(), value)
        return value

    def _json(self, suffix: str, *, force: bool = False) -> dict[str, Any]:
        text = self._read(suffix, force=force)
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ConfigError(f"{self.prefix}/{suffix} is not JSON; run `zoho-aep configure`.") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{self.prefix}/{suffix} must hold a JSON object; run `zoho-aep configure`.")
        for value in data.values():
            pin_secret(value)
            if isinstance(value, dict):
                pin_secret(*value.values())
        return data

    def zoho_client(self, *, force: bool = False) -> ZohoClientCredentials:
        data = self._json("zoho-client", force=force)
        client_id, secret = _strip(data.get("client_id")), _strip(data.get("client_secret"))
        per_dc = data.get("client_secrets") or {}
        if not client_id or not secret:
            raise ZohoClientNotConfigured(
                f"{self.prefix}/zoho-client has no client_id/client_secret yet; run `zoho-aep configure`."
            )
        if not isinstance(per_dc, dict) or not all(isinstance(v, str) and v for v in per_dc.values()):
            raise ZohoClientNotConfigured(
                f"{self.prefix}/zoho-client: client_secrets must map data centers to secrets."
            )
        return ZohoClientCredentials(client_id, secret, {str(k): v.strip() for k, v in per_dc.items()})

    def adobe(self, *, force: bool = False) -> AdobeCredentials:
        data = self._json("adobe", force=force)
        fields = [_strip(data.get(k)) for k in ("client_id", "client_secret", "org_id")]
        if not all(fields):
            raise AdobeCredentialNotConfigured(
                f"{self.prefix}/adobe needs client_id, client_secret and org_id; run `zoho-aep configure`."
            )
        scopes = _strip(data.get("scopes")) or DEFAULT_ADOBE_SCOPES
        return AdobeCredentials(fields[0], fields[1], fields[2], scopes)

    def aep_reader(self, *, force: bool = False) -> ReaderKey:
        """The S3 reader's access key that AEP's base connections hold (its rotation writes it)."""
        try:
            data = self._json(READER_SECRET, force=force)
        except AppSecretMissing as exc:
            raise AepReaderKeyMissing(f"{self.prefix}/{READER_SECRET} does not exist; deploy the stack.") from exc
        key_id, secret = _strip(data.get("access_key_id")), _strip(data.get("secret_access_key"))
        if not key_id or not secret:
            raise AepReaderKeyMissing(
                f"{self.prefix}/{READER_SECRET} holds no key yet; its first rotation makes one (rotate it now)."
            )
        return ReaderKey(key_id, secret)

    def state_key(self, *, force: bool = False, max_age: float | None = None) -> str:
        """The key that signs connect links; ``force`` reads it afresh, ``max_age`` bounds the cache's age."""
        key = self._read("state-key", force=force, max_age=max_age)
        if len(key) < 16:
            raise StateKeyInvalid(f"{self.prefix}/state-key is missing or too short.")
        return key


@dataclass(frozen=True)
class SecretVersions:
    """What ``DescribeSecret`` says of a rotated secret: its name, whether rotation is on, each version's stages."""

    arn: str
    name: str
    rotation_enabled: bool
    stages: Mapping[str, tuple[str, ...]]  # version id -> staging labels

    def version_with(self, stage: str) -> str | None:
        """The version that carries ``stage`` (a label is on at most one version), else None."""
        return next((version for version, labels in self.stages.items() if stage in labels), None)


def reader_key_value(key: ReaderKey) -> str:
    """The ``{prefix}/aep-s3-reader`` JSON that :meth:`AppSecrets.aep_reader` reads."""
    return json.dumps({"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key})


def parse_reader_key(text: object) -> ReaderKey | None:
    """The key a version of ``{prefix}/aep-s3-reader`` holds; None for the stack's placeholder (``{}``)."""
    try:
        data = json.loads(text) if isinstance(text, str) and text.strip() else {}
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    key_id, secret = _strip(data.get("access_key_id")), _strip(data.get("secret_access_key"))
    if not key_id or not secret:
        return None
    pin_secret(secret)
    return ReaderKey(key_id, secret)


class RotatingSecret(AwsAdapter):
    """One secret under a Secrets Manager rotation: its versions and stages, each version's value, the
    ``AWSPENDING`` write and the ``AWSCURRENT`` move (AWS's rotation contract; the version id is the
    rotation's ``ClientRequestToken``)."""

    service = "secretsmanager"

    def describe(self, secret_id: str) -> SecretVersions:
        try:
            answer = self.client.describe_secret(SecretId=secret_id)
        except client_errors() as exc:
            why = aws.error_code(exc) or "error"
            raise StoreError(f"Secrets Manager refused to describe the secret ({why}).") from exc
        stages = {str(v): tuple(labels) for v, labels in (answer.get("VersionIdsToStages") or {}).items()}
        return SecretVersions(
            arn=str(answer.get("ARN") or ""),
            name=str(answer.get("Name") or ""),
            rotation_enabled=bool(answer.get("RotationEnabled")),
            stages=stages,
        )

    def reader_key(self, secret_id: str, *, stage: str, version_id: str | None = None) -> ReaderKey | None:
        """The reader key of the version at ``stage`` (and ``version_id``); None when it holds no key."""
        kwargs: dict[str, str] = {"SecretId": secret_id, "VersionStage": stage}
        if version_id is not None:
            kwargs["VersionId"] = version_id
        try:
            answer = self.client.get_secret_value(**kwargs)
        except client_errors() as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                return None
            raise StoreError(f"Secrets Manager refused to read the secret ({aws.error_code(exc) or 'error'}).") from exc
        return parse_reader_key(answer.get("SecretString"))

    def put_pending(self, secret_id: str, version_id: str, key: ReaderKey) -> None:
        """Store ``key`` as version ``version_id``, staged ``AWSPENDING`` (idempotent for the same value)."""
        try:
            self.client.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=version_id,
                SecretString=reader_key_value(key),
                VersionStages=["AWSPENDING"],
            )
        except client_errors() as exc:
            why = aws.error_code(exc) or "error"
            raise StoreError(f"Secrets Manager refused the pending version ({why}).") from exc

    def make_current(self, secret_id: str, version_id: str, previous: str | None) -> None:
        """Move ``AWSCURRENT`` to ``version_id`` from ``previous`` (refused if another version holds it now)."""
        kwargs: dict[str, str] = {"SecretId": secret_id, "VersionStage": "AWSCURRENT", "MoveToVersionId": version_id}
        if previous is not None:
            kwargs["RemoveFromVersionId"] = previous
        try:
            self.client.update_secret_version_stage(**kwargs)
        except client_errors() as exc:
            raise StoreError(f"Secrets Manager refused to move AWSCURRENT ({aws.error_code(exc) or 'error'}).") from exc


def _stored(connection: str, text: object, version_id: str) -> StoredConnection:
    """A connection secret's typed value from its JSON text; its token fields are registered for masking."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError as exc:
        raise ConnectionCorrupt(f"Connection {connection}'s secret is not JSON.") from exc
    parsed = Connection.from_value(connection, value)
    register_secret(*parsed.secret_values())
    return StoredConnection(name=connection, connection=parsed, version_id=version_id)


class ConnectionStore(AwsAdapter):
    """Connection secrets ``{prefix}/connections/{name}``: read, list (tags only), CAS-write, tag, delete."""

    service = "secretsmanager"

    def __init__(
        self,
        prefix: str,
        client: Any = None,
        *,
        kms_key_id: str | None = None,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(client)
        self.prefix = prefix
        self.kms_key_id = kms_key_id
        self.max_attempts = max_attempts
        self._sleep = sleep

    @property
    def connections_prefix(self) -> str:
        return f"{self.prefix}/connections/"

    def secret_name(self, connection: str) -> str:
        return f"{self.connections_prefix}{check_connection_name(connection)}"

    # ---- reads ----------------------------------------------------------------------------------
    def get(self, connection: str) -> StoredConnection | None:
        """The current value (``AWSCURRENT``, asked for explicitly), or None when there is none."""
        name = self.secret_name(connection)
        try:
            answer = self.client.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
        except client_errors() as exc:
            code = aws.error_code(exc)
            if code == "ResourceNotFoundException":
                return None
            if code == "InvalidRequestException":
                raise ConnectionPendingDeletion(
                    f"Connection {connection} is scheduled for deletion; restore it or wait for the deletion."
                ) from exc
            raise StoreError(f"Secrets Manager refused to read connection {connection} ({code or 'error'}).") from exc
        return _stored(connection, answer.get("SecretString"), answer["VersionId"])

    def get_many(self, connections: list[str]) -> dict[str, StoredConnection]:
        """Current values of up to :data:`MAX_BATCH_READ` connections in one ``BatchGetSecretValue``.

        Only what that call returned readable and ``AWSCURRENT`` is in the answer. A connection left
        out (gone, scheduled for deletion, not JSON, or the whole call refused) is for the caller to
        read with :meth:`get`, which says exactly why. This saves calls; it never decides anything.
        """
        names: dict[str, str] = {}
        for connection in connections[:MAX_BATCH_READ]:
            with contextlib.suppress(InvalidConnectionName):  # :meth:`get` refuses it for that one alone
                names[self.secret_name(connection)] = connection
        if not names:
            return {}
        try:
            answer = self.client.batch_get_secret_value(SecretIdList=list(names))
        except client_errors():
            return {}  # each connection is then read on its own, and any error is reported there
        found: dict[str, StoredConnection] = {}
        for item in answer.get("SecretValues", []):
            owner = names.get(item.get("Name", ""))
            if owner is None or "AWSCURRENT" not in item.get("VersionStages", ()) or "VersionId" not in item:
                continue
            try:
                found[owner] = _stored(owner, item.get("SecretString"), item["VersionId"])
            except ConnectionCorrupt:
                continue
        return found

    def require(self, connection: str) -> StoredConnection:
        stored = self.get(connection)
        if stored is None:
            raise ConnectionNotFound(f"There is no connection named {connection}.")
        return stored

    def list(self, *, tagged: tuple[str, str] | None = None) -> list[ConnectionSummary]:
        """Every connection with its tags, 100 per call; never reads a secret value.

        ``tagged=(key, value)``: only connections whose tag ``key`` is exactly ``value`` (AWS filters
        tag values by prefix, so the answer is checked again here).
        """
        summaries: list[ConnectionSummary] = []
        prefix = self.connections_prefix
        filters: list[dict[str, Any]] = [{"Key": "name", "Values": [prefix]}]
        if tagged is not None:
            filters += [{"Key": "tag-key", "Values": [tagged[0]]}, {"Key": "tag-value", "Values": [tagged[1]]}]
        kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": 100}
        while True:
            try:
                page = self.client.list_secrets(**kwargs)
            except client_errors() as exc:
                raise StoreError(f"Secrets Manager refused to list connections ({aws.error_code(exc)}).") from exc
            for item in page.get("SecretList", []):
                name = item.get("Name", "")
                if not name.startswith(prefix) or item.get("DeletedDate"):
                    continue
                tags = {t["Key"]: t.get("Value", "") for t in item.get("Tags", [])}
                if tagged is not None and tags.get(tagged[0]) != tagged[1]:
                    continue
                changed = item.get("LastChangedDate")
                summaries.append(
                    ConnectionSummary(
                        name=name[len(prefix) :],
                        secret_name=name,
                        tags=tags,
                        last_changed=changed.timestamp() if hasattr(changed, "timestamp") else None,
                    )
                )
            token = page.get("NextToken")
            if not token:
                return summaries
            kwargs["NextToken"] = token

    # ---- writes ---------------------------------------------------------------------------------
    def write(
        self,
        connection: str,
        mutate: Callable[[Connection | None], Connection | None],
        *,
        create_tags: Mapping[str, str] | None = None,
        read: StoredConnection | None = None,
    ) -> WriteResult:
        """Read-modify-write with compare-and-swap; retried until it wins or gives up.

        ``mutate`` receives a private copy of the current value (None when the secret does not
        exist) and returns the new value (it may change and return its argument), or None to leave
        the secret as it is. It may raise to
        abort; it may run more than once, so it must be free of side effects.

        ``read`` is a value the caller has just read: the first attempt starts from it instead of
        reading again (one call less). That is safe because the swap names the version that was
        read: if another writer moved ``AWSCURRENT`` since, the swap is refused and the next attempt
        reads afresh. Leaving the secret as it is is decided on a fresh read only.
        """
        name = self.secret_name(connection)
        refused: WriteResult | None = None  # the last write Secrets Manager seemed to refuse
        for attempt in range(self.max_attempts):
            given = attempt == 0 and read is not None
            current = read if given else self.get(connection)
            if refused is not None and current is not None and current.version_id == refused.version_id:
                # It had landed: the answer was lost, and botocore's retry of the stage move (or the
                # create) was refused because it was already done. Never apply the change twice.
                return refused
            before = current.connection.copy() if current else None
            new = mutate(before.copy() if before is not None else None)
            if new is None or (current is not None and new == current.connection):
                if given:
                    continue  # "nothing to change" is decided on a fresh read, never on the caller's
                if current is None:
                    raise ConnectionNotFound(f"There is no connection named {connection}.")
                return WriteResult(
                    current.connection, current.version_id, created=False, changed=False, previous=before
                )
            text = json.dumps(new.to_value(), separators=(",", ":"), sort_keys=True)
            token = str(uuid.uuid4())
            try:
                if current is None:
                    kwargs: dict[str, Any] = {
                        "Name": name,
                        "SecretString": text,
                        "ClientRequestToken": token,
                        "Description": f"zoho-aep connection {connection}",
                        "Tags": [{"Key": k, "Value": v} for k, v in (create_tags or {}).items()],
                    }
                    if self.kms_key_id:
                        kwargs["KmsKeyId"] = self.kms_key_id
                    self.client.create_secret(**kwargs)
                    return WriteResult(new, token, created=True, changed=True, previous=None)
                self.client.put_secret_value(
                    SecretId=name, SecretString=text, ClientRequestToken=token, VersionStages=[PENDING_STAGE]
                )
                self.client.update_secret_version_stage(
                    SecretId=name,
                    VersionStage="AWSCURRENT",
                    MoveToVersionId=token,
                    RemoveFromVersionId=current.version_id,
                )
                return WriteResult(new, token, created=False, changed=True, previous=before)
            except client_errors() as exc:
                code = aws.error_code(exc)
                lost_race = (current is None and code == "ResourceExistsException") or (
                    current is not None and code == "InvalidParameterException"
                )
                if current is None and code == "InvalidRequestException":
                    raise ConnectionPendingDeletion(
                        f"Connection {connection} is scheduled for deletion; restore it or wait for the deletion."
                    ) from exc
                if not lost_race:
                    raise StoreError(f"Secrets Manager refused to write connection {connection} ({code}).") from exc
                refused = WriteResult(new, token, created=current is None, changed=True, previous=before)
            # Another writer won: back off a little (jittered) and start again from a fresh read.
            self._sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))  # noqa: S311  # nosec B311  # jitter, not crypto
        raise WriteConflict(f"Connection {connection} kept changing under us; try again.")

    def set_tags(self, connection: str, tags: Mapping[str, str], remove: tuple[str, ...] = ()) -> None:
        """Set and remove tags (the non-secret state) on a connection secret."""
        name = self.secret_name(connection)
        try:
            if tags:
                self.client.tag_resource(SecretId=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            gone = [k for k in remove if k not in tags]
            if gone:
                self.client.untag_resource(SecretId=name, TagKeys=gone)
        except client_errors() as exc:
            raise StoreError(
                f"Secrets Manager refused to tag connection {connection} ({aws.error_code(exc)})."
            ) from exc

    def schedule_deletion(self, connection: str, recovery_days: int) -> Any:
        """Delete the connection secret, recoverable for ``recovery_days`` (7-30); returns the deletion date."""
        name = self.secret_name(connection)
        try:
            answer = self.client.delete_secret(SecretId=name, RecoveryWindowInDays=recovery_days)
        except client_errors() as exc:
            raise StoreError(f"Secrets Manager refused to delete {name} ({aws.error_code(exc) or 'error'}).") from exc
        return answer.get("DeletionDate")

    def get_tags(self, connection: str) -> dict[str, str]:
        name = self.secret_name(connection)
        try:
            answer = self.client.describe_secret(SecretId=name)
        except client_errors() as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                raise ConnectionNotFound(f"There is no connection named {connection}.") from exc
            raise StoreError(f"Secrets Manager refused to describe connection {connection}.") from exc
        return {t["Key"]: t.get("Value", "") for t in answer.get("Tags", [])}
