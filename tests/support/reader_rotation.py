"""The reader key's rotation, arranged: moto's IAM, Secrets Manager and S3, and a small Flow Service.

``FakeFlows`` stands in for the three calls the rotation makes of Flow Service (``get_connection``,
``patch_connection``, ``explore_folder``) until the Adobe emulator serves the Amazon S3 connection
spec: it keeps etags (a stale ``If-Match`` is a ``1404-412``), stores each base connection's
``auth.params``, and its explore answers only when the key a connection holds is an active key of the
reader user in IAM, for that connection's folder. ``RotationWorld.flows`` is the one seam to swap.

``begin_rotation`` does what Secrets Manager does before it calls the function: a new version id
staged ``AWSPENDING`` (no value yet) and rotation enabled. moto's ``rotate_secret`` is not faithful
(it copies the current value into the pending version, or moves the stages itself), and its
``put_secret_value`` refuses the token of that empty version: both are patched here, in test set-up.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.constants import PREFIX
from tests.support.fakes import ListHandler
from zoho_aep.adapters.adobe.flow import BaseConnection, ConnectionRef
from zoho_aep.adapters.events import RecordingPublisher
from zoho_aep.adapters.iam import ReaderUserKeys
from zoho_aep.adapters.s3 import ExportBucket
from zoho_aep.adapters.secrets import RotatingSecret
from zoho_aep.domain.aep import AepState
from zoho_aep.domain.credentials import ReaderKey
from zoho_aep.domain.errors import AdobeEtagMismatch, AdobeNotFound, AdobeRequestRefused
from zoho_aep.edges.aep_reader_rotation import ReaderRotationApp
from zoho_aep.usecases.reader_key import STEPS, RotationDeps

BUCKET = "zoho-aep-export-rotation"
READER_USER = "zoho-aep-aep-reader"
SECRET_NAME = f"{PREFIX}/aep-s3-reader"
SERVICE_URL = "https://s3.us-east-1.amazonaws.com"
ACCOUNT, REGION = "123456789012", "us-east-1"


@dataclass
class FakeConnection:
    id: str
    sandbox: str
    connection: str
    etag: str
    params: dict[str, str]


@dataclass
class FakeFlows:
    """Base connections of every sandbox; ``for_sandbox`` gives one sandbox's client."""

    iam: Any
    connections: dict[str, FakeConnection] = field(default_factory=dict)
    patches: list[tuple[str, str]] = field(default_factory=list)  # (connection id, key id) per PATCH taken
    explored: list[str] = field(default_factory=list)
    fail_patch: Callable[[str, str], bool] = lambda base_id, key_id: False
    fail_explore: Callable[[str], bool] = lambda base_id: False
    stale_once: set[str] = field(default_factory=set)  # ids whose next PATCH meets a newer etag
    _etags: Any = field(default_factory=lambda: itertools.count(1))

    def add(self, sandbox: str, connection: str, key: ReaderKey) -> str:
        base_id = f"bc-{connection}-{uuid.uuid4().hex[:8]}"
        params = {"s3AccessKey": key.access_key_id, "s3SecretKey": key.secret_access_key}
        self.connections[base_id] = FakeConnection(base_id, sandbox, connection, self._etag(), params)
        return base_id

    def _etag(self) -> str:
        return f'"{next(self._etags):08x}-0000-0200-0000-000000000000"'

    def key_of(self, base_id: str) -> str:
        return self.connections[base_id].params["s3AccessKey"]

    def for_sandbox(self, sandbox: str) -> SandboxFlows:
        return SandboxFlows(self, sandbox)


@dataclass
class SandboxFlows:
    """What ``FlowServiceClient`` answers in one sandbox, for the calls the rotation makes."""

    world: FakeFlows
    sandbox: str

    def _find(self, base_id: str) -> FakeConnection:
        found = self.world.connections.get(base_id)
        if found is None or found.sandbox != self.sandbox:
            raise AdobeNotFound("Flow Service has no such connection.")
        return found

    def get_connection(self, connection_id: str) -> BaseConnection:
        found = self._find(connection_id)
        return BaseConnection(found.id, f"zoho-aep {found.connection} s3", found.etag)

    def patch_connection(self, connection_id: str, etag: str, operations: Sequence[Mapping[str, Any]]) -> ConnectionRef:
        found = self._find(connection_id)
        if connection_id in self.world.stale_once:
            self.world.stale_once.discard(connection_id)
            found.etag = self.world._etag()  # someone else changed it just now
        if etag != found.etag:
            raise AdobeEtagMismatch("stale etag", adobe_code="1404-412", status=412)
        (operation,) = operations
        assert (operation["op"], operation["path"]) == ("replace", "/auth/params"), operation
        value = dict(operation["value"])
        if self.world.fail_patch(connection_id, value["s3AccessKey"]):
            raise AdobeRequestRefused("refused", adobe_code="400", status=400)
        assert value["folderPath"] == f"zoho/{found.connection}" and value["bucketName"] == BUCKET, value
        found.params, found.etag = value, self.world._etag()
        self.world.patches.append((connection_id, value["s3AccessKey"]))
        return ConnectionRef(connection_id, found.etag)

    def explore_folder(self, connection_id: str, path: str) -> list[dict[str, Any]]:
        found = self._find(connection_id)
        self.world.explored.append(connection_id)
        keys = self.world.iam.list_access_keys(UserName=READER_USER)["AccessKeyMetadata"]
        active = {k["AccessKeyId"] for k in keys if k["Status"] == "Active"}
        if (
            self.world.fail_explore(connection_id)
            or found.params["s3AccessKey"] not in active
            or path != f"/{BUCKET}/zoho/{found.connection}"
        ):
            raise AdobeRequestRefused("explore refused", adobe_code="2108-400", status=400)
        return [{"type": "folder", "name": "Leads", "path": f"{path}/Leads"}]


def patch_moto_for_rotation() -> None:
    """moto's put_secret_value refuses the token of a version that has no value yet (AWS takes it)."""
    from moto.secretsmanager.models import SecretsManagerBackend

    if getattr(SecretsManagerBackend.put_secret_value, "_rotation_patched", False):
        return
    original = SecretsManagerBackend.put_secret_value

    def put_secret_value(self: Any, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        token = kwargs.get("client_request_token")
        secret = self.secrets.get(secret_id) if secret_id in self.secrets else None
        if secret is not None and token in secret.versions:
            version = secret.versions[token]
            if "secret_string" not in version and "secret_binary" not in version:
                del secret.versions[token]  # the empty version rotation started: this put fills it
        return original(self, secret_id, *args, **kwargs)

    put_secret_value._rotation_patched = True  # type: ignore[attr-defined]
    SecretsManagerBackend.put_secret_value = put_secret_value  # type: ignore[method-assign]


def begin_rotation(secret_name: str = SECRET_NAME) -> str:
    """What Secrets Manager does before the first step: a version id staged AWSPENDING, no value."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[ACCOUNT][REGION]
    secret: Any = backend.secrets[secret_name]
    secret.rotation_enabled = True
    secret.rotation_requested, secret.auto_rotate_after_days = True, 30  # moto's describe shows it then
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    token = str(uuid.uuid4())
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    return token


class RotationWorld:
    """The reader user, its placeholder secret, the export bucket, a Flow Service; the rotation's deps."""

    def __init__(self, sm: Any, s3: Any, iam: Any) -> None:
        patch_moto_for_rotation()
        self.sm, self.s3, self.iam = sm, s3, iam
        iam.create_user(UserName=READER_USER)
        self.secret_arn = sm.create_secret(Name=SECRET_NAME, SecretString="{}")["ARN"]
        s3.create_bucket(Bucket=BUCKET)
        self.bucket = ExportBucket(BUCKET, s3, sleep=lambda s: None)
        self.flows = FakeFlows(iam)
        self.events = RecordingPublisher()
        self.failures: list[tuple[str, str]] = []
        self.handler = ListHandler()
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(f"reader-rotation-{uuid.uuid4().hex[:6]}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.handler)
        self.logger.addHandler(_Keep(self.records))
        self.deps = RotationDeps(
            secret=RotatingSecret(sm),
            user=ReaderUserKeys(READER_USER, iam),
            states=self.bucket,
            flows=self.flows.for_sandbox,
            bucket=BUCKET,
            service_url=SERVICE_URL,
            events=self.events,
            logger=self.logger,
            on_failure=lambda step, code: self.failures.append((step, code)),
            sleep=lambda seconds: None,
        )
        self.app = ReaderRotationApp(lambda: self.deps, SECRET_NAME, logger=self.logger)

    # ---- driving it ------------------------------------------------------------------------------
    def event(self, token: str, step: str, secret_id: str | None = None) -> dict[str, str]:
        return {"SecretId": secret_id or self.secret_arn, "ClientRequestToken": token, "Step": step}

    def step(self, token: str, step: str) -> dict[str, Any]:
        return self.app.handle(self.event(token, step))

    def rotate(self, token: str | None = None, steps: Sequence[str] = STEPS) -> str:
        token = token or begin_rotation()
        for step in steps:
            self.step(token, step)
        return token

    # ---- looking at it ---------------------------------------------------------------------------
    def current(self) -> ReaderKey:
        value = json.loads(self.sm.get_secret_value(SecretId=SECRET_NAME, VersionStage="AWSCURRENT")["SecretString"])
        return ReaderKey(value["access_key_id"], value["secret_access_key"])

    def current_version(self) -> str:
        stages = self.sm.describe_secret(SecretId=SECRET_NAME)["VersionIdsToStages"]
        return next(v for v, labels in stages.items() if "AWSCURRENT" in labels)

    def iam_keys(self) -> list[str]:
        return sorted(k["AccessKeyId"] for k in self.iam.list_access_keys(UserName=READER_USER)["AccessKeyMetadata"])

    def connect(self, connection: str, sandbox: str, key: ReaderKey) -> str:
        """A base connection provisioned with ``key``, and its AEP state, as provisioning leaves them."""
        base_id = self.flows.add(sandbox, connection, key)

        def made(_: AepState | None) -> AepState:
            return AepState(connection, sandbox, base_connection_id=base_id, reader_key_id=key.access_key_id)

        self.bucket.update_aep_state(connection, made)
        return base_id

    def recorded_key(self, connection: str) -> str | None:
        state = self.bucket.read_aep_state(connection)
        return state.reader_key_id if state else None

    def every_secret(self) -> set[str]:
        """Every secret access key any version of the reader's secret ever held."""
        found: set[str] = set()
        for version in self.sm.list_secret_version_ids(SecretId=SECRET_NAME, IncludeDeprecated=True)["Versions"]:
            try:
                text = self.sm.get_secret_value(SecretId=SECRET_NAME, VersionId=version["VersionId"])["SecretString"]
            except Exception:  # noqa: S112  # a version with no value yet
                continue
            value = json.loads(text or "{}")
            if value.get("secret_access_key"):
                found.add(value["secret_access_key"])
        return found

    def close(self) -> None:
        self.logger.handlers.clear()


class _Keep(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
