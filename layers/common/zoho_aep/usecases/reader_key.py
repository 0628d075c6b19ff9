"""Use case: rotate the access key AEP's S3 source reads the export bucket with (``{prefix}/aep-s3-reader``).

Secrets Manager's rotation contract, four steps, each tied to one version (the rotation's
``ClientRequestToken``), each safe to run twice, and each refusing a version not staged for rotation:

1. ``createSecret``: a new access key for the reader user, stored as the version, staged ``AWSPENDING``.
   IAM allows two keys per user; when two exist the one that is not ``AWSCURRENT``'s goes (a key
   left by a rotation that ended early), after any base connection still holding it is put back on
   the current key. The current key is never deleted here.
2. ``setSecret``: every AEP S3 base connection the product recorded (``state/*/_aep.json``, in the
   sandbox each names) gets the new key (``PATCH /auth/params``, ``If-Match``, one re-read on 412);
   each AEP state records the key id it now holds.
3. ``testSecret``: IAM lists the new key as active, and AEP's own connection test (explore the
   connection's folder) passes for every base connection, retried a few times while IAM propagates.
4. ``finishSecret``: ``AWSCURRENT`` moves to the version; a base connection made meanwhile with the old
   key is moved too; then every other key of the user is deleted and ``AEP reader key rotated`` goes
   out with the new key's last four characters only.

A failed step leaves the old key working: setSecret and testSecret put every connection they may have
moved back on the current key before they raise, so Secrets Manager records the failure (and retries);
the failure is logged with its code and counted (the ``ReaderKeyRotationFailed`` metric). Nothing
secret is ever logged, published or put in an error: only key ids' suffixes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..adapters.adobe.flow import BaseConnection, ConnectionRef
from ..adapters.events import EventPublisher, publish_or_log
from ..adapters.iam import MAX_KEYS_PER_USER, AccessKeySeen
from ..adapters.secrets import SecretVersions
from ..domain import events as ev
from ..domain.aep import AepState
from ..domain.credentials import ReaderKey
from ..domain.errors import (
    AdobeError,
    AepReaderKeyRejected,
    ReaderKeyStoreError,
    ReaderRotationRefused,
    ZohoAepError,
)
from .s3_source.provision import explore_reader, s3_auth_params

CREATE, SET, TEST, FINISH = "createSecret", "setSecret", "testSecret", "finishSecret"
STEPS = (CREATE, SET, TEST, FINISH)
CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"


# ---- the ports ---------------------------------------------------------------------------------------
class ReaderKeys(Protocol):
    """The reader user's access keys (IAM)."""

    def access_keys(self) -> list[AccessKeySeen]: ...
    def create(self) -> ReaderKey: ...
    def delete(self, key_id: str) -> None: ...


class ReaderSecret(Protocol):
    """The rotated secret's versions (Secrets Manager)."""

    def describe(self, secret_id: str) -> SecretVersions: ...
    def reader_key(self, secret_id: str, *, stage: str, version_id: str | None = None) -> ReaderKey | None: ...
    def put_pending(self, secret_id: str, version_id: str, key: ReaderKey) -> None: ...
    def make_current(self, secret_id: str, version_id: str, previous: str | None) -> None: ...


class AepStates(Protocol):
    """The AEP states of the export bucket."""

    def aep_states(self) -> list[AepState]: ...
    def update_aep_state(
        self, connection: str, mutate: Callable[[AepState | None], AepState | None]
    ) -> AepState | None: ...


class ReaderFlows(Protocol):
    """What the rotation asks of Flow Service in one sandbox (``FlowServiceClient`` has it all)."""

    def get_connection(self, connection_id: str) -> BaseConnection: ...
    def patch_connection(
        self, connection_id: str, etag: str, operations: Sequence[Mapping[str, Any]]
    ) -> ConnectionRef: ...
    def explore_folder(self, connection_id: str, path: str) -> list[dict[str, Any]]: ...


@dataclass
class RotationDeps:
    secret: ReaderSecret
    user: ReaderKeys  # the reader user's access keys
    states: AepStates
    flows: Callable[[str], ReaderFlows]  # Flow Service in one sandbox
    bucket: str  # the export bucket AEP reads
    service_url: str  # where AEP's S3 source reads it
    events: EventPublisher
    logger: Any
    on_failure: Callable[[str, str], None] | None = None  # (step, code): the ReaderKeyRotationFailed metric
    sleep: Callable[[float], None] = time.sleep
    test_attempts: int = 5  # AEP's test of a new key, while IAM propagates it (seconds, not minutes)
    test_delay: float = 8.0


@dataclass(frozen=True)
class StepDone:
    """What a step did (ids' suffixes and counts, never a key)."""

    step: str
    key_suffix: str | None = None
    base_connections: int = 0
    already_done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "step": self.step,
            "key_suffix": self.key_suffix,
            "base_connections": self.base_connections,
            "already_done": self.already_done,
        }


# ---- the entry point -----------------------------------------------------------------------------------
def rotate_reader_key(deps: RotationDeps, secret_id: str, token: str, step: str) -> StepDone:
    """Run one step of the rotation of ``secret_id`` for version ``token``; raises the typed error that
    stopped it (after counting and logging it, and putting AEP back on the current key)."""
    try:
        if step not in STEPS:
            raise ReaderRotationRefused(f"Unknown rotation step; expected one of {', '.join(STEPS)}.")
        versions = deps.secret.describe(secret_id)
        _check_staged(versions, token)
        if CURRENT in versions.stages[token]:
            return _already_current(deps, secret_id, token, step, versions)
        if step == CREATE:
            return _create(deps, secret_id, token)
        if step == SET:
            return _set(deps, secret_id, token)
        if step == TEST:
            return _test(deps, secret_id, token)
        return _finish(deps, secret_id, token, versions)
    except ZohoAepError as exc:
        deps.logger.error(
            "reader key rotation step failed",
            extra={"step": step, "outcome": exc.code, "retryable": exc.retryable, "error": exc.message},
        )
        if deps.on_failure is not None:
            deps.on_failure(step, exc.code)
        raise


def _check_staged(versions: SecretVersions, token: str) -> None:
    if not versions.rotation_enabled:
        raise ReaderRotationRefused("Rotation is not enabled on the reader's secret.")
    stages = versions.stages.get(token)
    if stages is None:
        raise ReaderRotationRefused("The version to rotate to is not a version of the reader's secret.")
    if CURRENT not in stages and PENDING not in stages:
        raise ReaderRotationRefused("The version to rotate to is not staged for rotation (AWSPENDING).")


def _already_current(deps: RotationDeps, secret_id: str, token: str, step: str, versions: SecretVersions) -> StepDone:
    """The version is current already: a step run again after the rotation finished. Only finishing
    has something left to do (the old key, should its delete not have happened)."""
    if step != FINISH:
        deps.logger.info("reader key version already current; nothing to do", extra={"step": step})
        return StepDone(step, already_done=True)
    new = _require(deps, secret_id, CURRENT, token)
    moved, deleted = _settle(deps, new)
    if deleted:
        _announce(deps, new, moved)
    return StepDone(step, new.suffix, moved, already_done=not deleted)


# ---- the steps -----------------------------------------------------------------------------------------
def _create(deps: RotationDeps, secret_id: str, token: str) -> StepDone:
    pending = deps.secret.reader_key(secret_id, stage=PENDING, version_id=token)
    if pending is not None:
        return StepDone(CREATE, pending.suffix, already_done=True)
    current = deps.secret.reader_key(secret_id, stage=CURRENT)
    keys = deps.user.access_keys()
    if len(keys) >= MAX_KEYS_PER_USER:
        _make_room(deps, keys, current)
    new = deps.user.create()
    deps.secret.put_pending(secret_id, token, new)
    deps.logger.info("reader key created", extra={"step": CREATE, "key_suffix": new.suffix})
    return StepDone(CREATE, new.suffix)


def _make_room(deps: RotationDeps, keys: list[AccessKeySeen], current: ReaderKey | None) -> None:
    """Delete one key that is not the current one, so IAM takes a new one. AEP never loses the key it
    holds: a base connection still on the key that goes is put back on the current key first."""
    others = [k for k in keys if current is None or k.key_id != current.access_key_id]
    held = {s.reader_key_id for s in _connections(deps)}
    if current is None:
        # No current key (the stack's placeholder): a key AEP holds is the only working one; keep it.
        others = [k for k in others if k.key_id not in held]
    if not others:
        raise ReaderKeyStoreError(
            "The reader user has two access keys and AEP holds both; delete one by hand, then rotate again."
        )
    doomed = others[0]  # the oldest that is not current
    if doomed.key_id in held and current is not None:
        _move(deps, [s for s in _connections(deps) if s.reader_key_id == doomed.key_id], current)
    deps.user.delete(doomed.key_id)
    deps.logger.warning(
        "a leftover reader key was deleted to make room for the new one",
        extra={"step": CREATE, "key_suffix": doomed.key_id[-4:]},
    )


def _set(deps: RotationDeps, secret_id: str, token: str) -> StepDone:
    new = _require(deps, secret_id, PENDING, token)
    current = deps.secret.reader_key(secret_id, stage=CURRENT)
    states = _connections(deps)
    todo = [s for s in states if s.reader_key_id != new.access_key_id]
    _move_or_roll_back(deps, todo, new, current)
    deps.logger.info(
        "AEP base connections moved to the new reader key",
        extra={"step": SET, "key_suffix": new.suffix, "base_connections": len(states), "patched": len(todo)},
    )
    return StepDone(SET, new.suffix, len(states), already_done=not todo)


def _test(deps: RotationDeps, secret_id: str, token: str) -> StepDone:
    new = _require(deps, secret_id, PENDING, token)
    states = _connections(deps)
    try:
        if not any(k.key_id == new.access_key_id and k.active for k in deps.user.access_keys()):
            raise AepReaderKeyRejected("IAM does not list the new reader key as active.", retryable=False)
        for state in states:
            _test_one(deps, state)
    except ZohoAepError:
        current = deps.secret.reader_key(secret_id, stage=CURRENT)
        if current is not None:
            _roll_back(deps, states, current)
        raise
    return StepDone(TEST, new.suffix, len(states))


def _test_one(deps: RotationDeps, state: AepState) -> None:
    """AEP's own test of the key a base connection holds; a refusal is tried again while IAM propagates."""
    flows = deps.flows(state.sandbox)
    for attempt in range(1, deps.test_attempts + 1):
        try:
            explore_reader(flows, deps.bucket, str(state.base_connection_id), state.connection)
            return
        except AepReaderKeyRejected:
            if attempt == deps.test_attempts:
                raise
            deps.sleep(deps.test_delay)


def _finish(deps: RotationDeps, secret_id: str, token: str, versions: SecretVersions) -> StepDone:
    new = _require(deps, secret_id, PENDING, token)
    deps.secret.make_current(secret_id, token, versions.version_with(CURRENT))
    moved, _ = _settle(deps, new)
    _announce(deps, new, moved)
    return StepDone(FINISH, new.suffix, moved)


def _settle(deps: RotationDeps, new: ReaderKey) -> tuple[int, bool]:
    """After the move: any base connection still on another key (provisioned during the rotation, with
    the key that was current then) gets the new one, then every other key of the user goes.
    Returns (base connections, whether a key was deleted)."""
    states = _connections(deps)
    _move(deps, [s for s in states if s.reader_key_id != new.access_key_id], new)
    deleted = False
    for key in deps.user.access_keys():
        if key.key_id != new.access_key_id:
            deps.user.delete(key.key_id)
            deleted = True
    return len(states), deleted


def _announce(deps: RotationDeps, new: ReaderKey, base_connections: int) -> None:
    deps.logger.info(
        "reader key rotated", extra={"step": FINISH, "key_suffix": new.suffix, "base_connections": base_connections}
    )
    detail = {"access_key_id_suffix": new.suffix, "base_connections": base_connections}
    publish_or_log(deps.events, deps.logger, ev.READER_KEY_ROTATED, detail)


# ---- AEP's base connections --------------------------------------------------------------------------------
def _connections(deps: RotationDeps) -> list[AepState]:
    """Every AEP state with an S3 base connection, in a stable order."""
    found = [s for s in deps.states.aep_states() if s.base_connection_id and s.sandbox]
    return sorted(found, key=lambda s: s.connection)


def _move_or_roll_back(deps: RotationDeps, states: list[AepState], new: ReaderKey, current: ReaderKey | None) -> None:
    done: list[AepState] = []
    try:
        for state in states:
            done.append(state)  # before the call: a PATCH whose answer was lost may have landed
            _patch(deps, state, new)
    except ZohoAepError:
        if current is not None:
            _roll_back(deps, done, current)
        raise


def _move(deps: RotationDeps, states: list[AepState], key: ReaderKey) -> None:
    for state in states:
        _patch(deps, state, key)


def _roll_back(deps: RotationDeps, states: list[AepState], current: ReaderKey) -> None:
    """Put base connections back on the current key; one that refuses is logged, the others still go."""
    for state in states:
        try:
            _patch(deps, state, current)
        except ZohoAepError as exc:
            deps.logger.error(
                "a base connection could not be put back on the current reader key",
                extra={"connection": state.connection, "sandbox": state.sandbox, "outcome": exc.code},
            )


def _patch(deps: RotationDeps, state: AepState, key: ReaderKey) -> None:
    """Give one base connection ``key`` (If-Match, one re-read on 412) and record it in its AEP state."""
    flows = deps.flows(state.sandbox)
    base_id = str(state.base_connection_id)
    params = s3_auth_params(deps.bucket, deps.service_url, state.connection, key)
    operations = [{"op": "replace", "path": "/auth/params", "value": params}]
    existing = flows.get_connection(base_id)
    try:
        flows.patch_connection(base_id, existing.etag, operations)
    except AdobeError as exc:
        if exc.code != "aep-etag-mismatch":
            raise
        fresh = flows.get_connection(base_id)
        flows.patch_connection(base_id, fresh.etag, operations)

    def record(stored: AepState | None) -> AepState | None:
        if stored is None or stored.base_connection_id != base_id:
            return None  # gone or re-provisioned meanwhile: nothing of ours to record
        stored.reader_key_id = key.access_key_id
        return stored

    deps.states.update_aep_state(state.connection, record)
    deps.logger.info(
        "base connection given the reader key",
        extra={"connection": state.connection, "sandbox": state.sandbox, "key_suffix": key.suffix},
    )


def _require(deps: RotationDeps, secret_id: str, stage: str, token: str) -> ReaderKey:
    key = deps.secret.reader_key(secret_id, stage=stage, version_id=token)
    if key is None:
        raise ReaderRotationRefused(f"The version to rotate to holds no reader key at {stage}; run createSecret.")
    return key
