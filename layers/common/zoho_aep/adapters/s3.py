"""The export bucket on S3: the units' state objects (compare-and-swap), staging, and the folders AEP reads.

State objects are written with S3's conditional writes: ``If-Match`` the ETag that was read (or
``If-None-Match: *`` for a new one), so two invocations can never both think they hold a unit: the
loser is refused (412), re-reads and decides again. Each write carries its own id in the object's
metadata, so a write whose answer was lost (botocore's retry is then refused) is recognised on the
re-read and never applied twice.

A file appears in a folder AEP reads only when it is complete: it is uploaded to ``staging/`` first,
then copied in, so its last-modified time is the moment it appeared (AEP picks files by it).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ..domain.aep import AEP_STATE_FILE, AepState, aep_state_key
from ..domain.errors import AepStateInvalid, ExportStateConflict, ExportStorageError
from ..domain.export import STATE_PREFIX, ExportState, ExportUnit, OrgGate, org_state_key
from . import aws
from .aws import AwsAdapter, client_errors

T = TypeVar("T")
_WRITE_ID = "zoho-aep-write"  # object metadata: the id of the write that made this version
_LOST_RACE = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: float


class ExportBucket(AwsAdapter):
    """One export bucket."""

    service = "s3"
    KNOWN_VERSIONS = 1_000  # state objects whose last version is kept (an invocation touches a handful)

    def __init__(
        self,
        bucket: str,
        client: Any = None,
        *,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(client)
        self.bucket = bucket
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._known: dict[str, tuple[Any, str, str | None]] = {}  # key -> (value, ETag, write id) last seen

    # ---- state objects ------------------------------------------------------------------------
    def _read(self, key: str) -> tuple[Any, str | None, str | None]:
        """(JSON value, ETag, write id) of ``key``, or (None, None, None) when it does not exist."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except client_errors() as exc:
            if aws.error_code(exc) in ("NoSuchKey", "404"):
                return None, None, None
            raise ExportStorageError(f"S3 refused to read {key} ({aws.error_code(exc) or 'error'}).") from exc
        body = answer["Body"].read()
        try:
            value = json.loads(body)
        except ValueError:
            value = body  # the parser says what is wrong with it
        return value, answer.get("ETag"), (answer.get("Metadata") or {}).get(_WRITE_ID)

    def _update(
        self,
        key: str,
        parse: Callable[[Any], T],
        dump: Callable[[T], dict[str, Any]],
        mutate: Callable[[T | None], T | None],
    ) -> T | None:
        """Read-modify-write of one JSON object with compare-and-swap; ``mutate`` may run more than once.

        The version this instance last read or wrote is tried first, without reading it again: only
        a conditional write that S3 takes counts on that guess. Anything else that follows from it (the
        write refused, ``mutate`` raising or changing nothing) is decided again on what S3 holds.
        """
        ours: tuple[str, T] | None = None  # the write S3 seemed to refuse (maybe its answer was lost)
        guess = self._known.get(key)
        for attempt in range(self.max_attempts):
            etag: str | None
            if guess is not None:
                raw, etag, write_id = guess
            else:
                raw, etag, write_id = self._read(key)
                self._remember(key, raw, etag, write_id)
            current = parse(raw) if raw is not None else None
            if ours is not None and write_id == ours[0]:
                return ours[1]  # it had landed
            try:
                new = mutate(parse(raw) if raw is not None else None)
            except Exception:
                if guess is None:
                    raise
                guess = None  # decided on a guess: decide again on what S3 holds
                continue
            if new is None or (current is not None and dump(new) == dump(current)):
                if guess is None:
                    return current
                guess = None
                continue
            token = uuid.uuid4().hex
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            body = dump(new)
            try:
                answer = self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=json.dumps(body, separators=(",", ":"), sort_keys=True).encode(),
                    ContentType="application/json",
                    Metadata={_WRITE_ID: token},
                    **condition,
                )
                self._remember(key, body, answer.get("ETag"), token)
                return new
            except client_errors() as exc:
                self._known.pop(key, None)
                if aws.error_code(exc) not in _LOST_RACE:
                    raise ExportStorageError(f"S3 refused to write {key} ({aws.error_code(exc) or 'error'}).") from exc
                ours = (token, new)
            if guess is None:
                self._sleep(random.uniform(0, min(0.5, 0.02 * 2**attempt)))  # noqa: S311  # nosec B311  # jitter
            guess = None
        raise ExportStateConflict(f"The export state {key} kept changing under us; try again.")

    def _remember(self, key: str, raw: Any, etag: str | None, write_id: str | None) -> None:
        """Keep the version of ``key`` just seen (a guess for the next update; never trusted beyond it)."""
        if raw is None or not etag or not isinstance(raw, dict):
            self._known.pop(key, None)
            return
        if len(self._known) >= self.KNOWN_VERSIONS:
            self._known.clear()
        self._known[key] = (raw, etag, write_id)

    def read_state(self, unit: ExportUnit) -> ExportState | None:
        raw, _, _ = self._read(unit.state_key)
        return None if raw is None else ExportState.from_value(unit, raw)

    def update_state(
        self, unit: ExportUnit, mutate: Callable[[ExportState | None], ExportState | None]
    ) -> ExportState | None:
        """Compare-and-swap the unit's state (``mutate`` gets a private copy, None when there is none)."""
        return self._update(unit.state_key, lambda raw: ExportState.from_value(unit, raw), ExportState.to_value, mutate)

    def update_gate(self, connection: str, mutate: Callable[[OrgGate | None], OrgGate | None]) -> OrgGate | None:
        return self._update(
            org_state_key(connection), lambda raw: OrgGate.from_value(connection, raw), OrgGate.to_value, mutate
        )

    # ---- the S3 path's AEP side (``state/{connection}/_aep.json``) ---------------------------
    def read_aep_state(self, connection: str) -> AepState | None:
        raw, _, _ = self._read(aep_state_key(connection))
        return None if raw is None else AepState.from_value(connection, raw)

    def update_aep_state(
        self, connection: str, mutate: Callable[[AepState | None], AepState | None]
    ) -> AepState | None:
        """Compare-and-swap what the product recorded of a connection's AEP objects."""
        return self._update(
            aep_state_key(connection), lambda raw: AepState.from_value(connection, raw), AepState.to_value, mutate
        )

    def delete_aep_state(self, connection: str) -> None:
        self._known.pop(aep_state_key(connection), None)
        self.delete(aep_state_key(connection))

    def aep_states(self) -> list[AepState]:
        """Every connection's AEP state (the batch budget counts a sandbox's flows; rotation finds base
        connections). One that cannot be read is skipped: it is reported where it is used."""
        found: list[AepState] = []
        for item in self.objects(f"{STATE_PREFIX}/"):
            parts = item.key.split("/")
            if len(parts) != 3 or parts[2] != AEP_STATE_FILE:
                continue
            try:
                state = self.read_aep_state(parts[1])
            except AepStateInvalid:
                continue
            if state is not None:
                found.append(state)
        return found

    def states(self, connection: str) -> list[ExportState]:
        """Every unit state of one connection (what ``zoho-aep status`` shows)."""
        found: list[ExportState] = []
        for item in self.objects(f"state/{connection}/"):
            module = item.key.rsplit("/", 1)[1].removesuffix(".json")
            if module.startswith("_"):
                continue  # the org gate
            state = self.read_state(ExportUnit(connection, module))
            if state is not None:
                found.append(state)
        return found

    # ---- files --------------------------------------------------------------------------------
    def upload(self, key: str, path: str) -> None:
        """Upload a local file (streamed; multipart when large). The bucket's KMS key encrypts it."""
        from boto3.exceptions import S3UploadFailedError

        try:
            self.client.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": "application/gzip"})
        except S3UploadFailedError as exc:  # boto3's transfer wraps S3's refusal in its own error
            code = aws.error_code(exc.__cause__) if exc.__cause__ is not None else None
            raise ExportStorageError(f"S3 refused to store {key} ({code or 'upload failed'}).") from exc
        except client_errors() as exc:
            raise ExportStorageError(f"S3 refused to store {key} ({aws.error_code(exc) or 'error'}).") from exc

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except client_errors() as exc:
            if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ExportStorageError(f"S3 refused to look at {key} ({aws.error_code(exc) or 'error'}).") from exc
        return True

    def copy(self, source: str, target: str) -> None:
        """Copy within the bucket: ``target`` appears whole, last modified now, and only once.

        ``If-None-Match: *``: a copy whose answer was lost and that botocore sends again must not write
        the file a second time (AEP would see it modified, and read it again); S3 answers that retry
        412, which means the copy is there.
        """
        try:
            self.client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}, IfNoneMatch="*"
            )
        except client_errors() as exc:
            if aws.error_code(exc) in ("PreconditionFailed", "412"):
                return  # already copied: the goal holds
            raise ExportStorageError(f"S3 refused to copy {source} ({aws.error_code(exc) or 'error'}).") from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except client_errors() as exc:
            raise ExportStorageError(f"S3 refused to delete {key} ({aws.error_code(exc) or 'error'}).") from exc

    def objects(self, prefix: str) -> Iterator[StoredObject]:
        """The objects below ``prefix``, in key order."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            try:
                page = self.client.list_objects_v2(**kwargs)
            except client_errors() as exc:
                raise ExportStorageError(f"S3 refused to list {prefix} ({aws.error_code(exc) or 'error'}).") from exc
            for item in page.get("Contents", []):
                modified = item.get("LastModified")
                yield StoredObject(item["Key"], int(item.get("Size", 0)), modified.timestamp() if modified else 0.0)
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
