"""The export functions' IAM: each is granted exactly the calls it makes, on the resources it makes them on.

The grants are read from ``template.yaml`` (cfn-lint's decoder) and compared with the AWS calls each
export function was seen making while it ran its scenarios against moto (a grant nobody uses fails as
much as a call nobody granted). S3 calls are counted as the IAM actions they need: HeadObject and a
copy's source need ``s3:GetObject``, a copy's target and a multipart upload ``s3:PutObject``. The
export key is usable only through S3, as the bucket's key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cfnlint.decode import decode_str

from local.functions import ROOT
from tests.support.constants import STATE_KEY
from tests.support.export_world import BUCKET, US_ORG, ExportWorld
from tests.support.fakes import FakeClock
from zoho_aep.adapters import aws
from zoho_aep.adapters.sqs import ExportQueue
from zoho_aep.domain.callbacks import callback_url
from zoho_aep.domain.connection import TAG_PATH
from zoho_aep.domain.export import ExportUnit
from zoho_aep.usecases.export.callback import BulkCallbackDeps, accept_bulk_callback
from zoho_aep.usecases.export.messages import UnitMessage
from zoho_aep.usecases.export.tick import export_connection, run_messages, scheduled_export

TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {
    "export": "ZohoExportFunction",
    "worker": "ZohoExportWorkerFunction",
    "callback": "ZohoExportCallbackFunction",
}
CONNECTIONS_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}/connections/*"
)
BUS_ARN = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/"
OWN_BUS = {"Fn::If": ["IsDefaultBus", {"Fn::Sub": BUS_ARN + "default"}, {"Fn::Sub": BUS_ARN + "${EventBusName}"}]}
APP_SECRETS = {"ZohoClientSecret": "zoho-client", "AdobeSecret": "adobe", "StateKeySecret": "state-key"}
Grant = tuple[str, str]


def target(resource: Any) -> str:
    if resource == "*":
        return "*"
    if resource == {"Fn::GetAtt": ["LifecycleEventBus", "Arn"]}:
        return "bus"
    if resource == {"Fn::GetAtt": ["ZohoExportLogs", "Arn"]}:
        return "logs:export"
    if isinstance(resource, dict) and resource.get("Ref") in APP_SECRETS:
        return f"secret:{APP_SECRETS[resource['Ref']]}"
    if resource == {"Fn::Sub": CONNECTIONS_ARN}:
        return "secrets:connections"
    if resource == OWN_BUS:
        return "bus"
    if resource == {"Fn::GetAtt": ["ExportUnitQueue", "Arn"]}:
        return "queue:units"
    if resource == {"Fn::GetAtt": ["ExportScheduleDeadLetterQueue", "Arn"]}:
        return "queue:schedule-dead-letters"
    if resource == {"Fn::GetAtt": ["ExportKey", "Arn"]}:
        return "key:export"
    if resource == {"Fn::GetAtt": ["ExportBucket", "Arn"]}:
        return "bucket"
    sub = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    if isinstance(sub, str) and sub.startswith("${ExportBucket.Arn}/") and sub.endswith("/*"):
        return "bucket:" + sub.removeprefix("${ExportBucket.Arn}/").removesuffix("/*")
    raise AssertionError(f"a resource this suite does not recognise (too broad or foreign?): {resource}")


def role_of(function: str) -> dict[str, Any]:
    """The function's own role (``Role: !GetAtt X.Arn``), never one SAM generates."""
    role = RESOURCES[FUNCTIONS[function]]["Properties"]["Role"]
    assert isinstance(role, dict) and role.get("Fn::GetAtt", [None, None])[1] == "Arn", function
    assert "Policies" not in RESOURCES[FUNCTIONS[function]]["Properties"], function
    found: dict[str, Any] = RESOURCES[role["Fn::GetAtt"][0]]
    assert found["Type"] == "AWS::IAM::Role" and not found["Properties"].get("ManagedPolicyArns"), function
    return found


def statements(function: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    always: list[dict[str, Any]] = []
    with_key: list[dict[str, Any]] = []
    for policy in role_of(function)["Properties"]["Policies"]:
        if "Fn::If" in policy:
            condition, then, otherwise = policy["Fn::If"]
            assert (condition, otherwise) == ("HasKmsKey", {"Ref": "AWS::NoValue"}), policy
            with_key += then["PolicyDocument"]["Statement"]
        else:
            always += policy["PolicyDocument"]["Statement"]
    return always, with_key


def platform_calls(function: str) -> set[Grant]:
    """What Lambda does with the role on the function's behalf: its log group, its queue's polling."""
    properties = RESOURCES[FUNCTIONS[function]]["Properties"]
    calls: set[Grant] = set()
    if properties.get("LoggingConfig", {}).get("LogGroup") == {"Ref": "ZohoExportLogs"}:
        calls |= {("logs:CreateLogStream", "logs:export"), ("logs:PutLogEvents", "logs:export")}
    if properties.get("DeadLetterQueue"):  # a failed asynchronous invocation, sent with the function's role
        calls.add(("sqs:SendMessage", target(properties["DeadLetterQueue"]["TargetArn"])))
    for event in properties.get("Events", {}).values():
        if event["Type"] == "SQS":
            assert target(event["Properties"]["Queue"]) == "queue:units"
            calls |= {(f"sqs:{a}", "queue:units") for a in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")}
    return calls


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(function: str) -> set[Grant]:
    """Every (action, target) the function may use, the export key aside (checked on its own below)."""
    found: set[Grant] = set()
    for statement in statements(function)[0]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement
        if target(as_list(statement["Resource"])[0]) == "key:export":
            continue
        assert "Condition" not in statement, statement
        found |= {(a, target(r)) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return found


# ---- what the functions do -------------------------------------------------------------------------
def secret_target(name: str) -> str:
    rest = name.split("/", 1)[1]
    return "secrets:connections" if rest.startswith("connections/") else f"secret:{rest}"


def bucket_target(key: str) -> str:
    return "bucket:" + key.split("/", 1)[0]


@contextmanager
def observed() -> Iterator[set[Grant]]:
    """The (IAM action, target) of every AWS call made in the block, through the product's clients."""
    calls: set[Grant] = set()

    def secrets_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "ListSecrets":
            calls.add(("secretsmanager:ListSecrets", "*"))
            return
        calls.add((f"secretsmanager:{model.name}", secret_target(str(params.get("SecretId") or params.get("Name")))))

    def s3_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        key = str(params.get("Key", ""))
        action = {
            "GetObject": "s3:GetObject",
            "HeadObject": "s3:GetObject",
            "PutObject": "s3:PutObject",
            "CreateMultipartUpload": "s3:PutObject",
            "UploadPart": "s3:PutObject",
            "CompleteMultipartUpload": "s3:PutObject",
            "CopyObject": "s3:PutObject",
            "DeleteObject": "s3:DeleteObject",
        }.get(model.name, f"s3:{model.name}")
        calls.add((action, bucket_target(key)))
        if action == "s3:GetObject":
            calls.add(("s3:ListBucket", "bucket"))  # so that S3 answers a missing key 404, not 403
        if model.name == "CopyObject":
            source = params["CopySource"]  # botocore has made it "bucket/key" by now
            key = source["Key"] if isinstance(source, dict) else str(source).split("/", 1)[1]
            calls.add(("s3:GetObject", bucket_target(key)))

    def sqs_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        action = "SendMessage" if model.name == "SendMessageBatch" else model.name  # one permission covers both
        calls.add((f"sqs:{action}", "queue:units"))

    def events_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.add((f"events:{model.name}", "bus"))

    hooks = [
        (aws.client("secretsmanager"), "before-parameter-build.secrets-manager", secrets_call),
        (aws.client("s3"), "before-parameter-build.s3", s3_call),
        (aws.client("sqs"), "before-parameter-build.sqs", sqs_call),
        (aws.client("events"), "before-parameter-build.eventbridge", events_call),
    ]
    for client, event, hook in hooks:
        client.meta.events.register(event, hook)
    try:
        yield calls
    finally:
        for client, event, hook in hooks:
            client.meta.events.unregister(event, hook)


@pytest.fixture
def calls_by_function(
    sm: Any, s3: Any, app_secrets_seeded: Any, zoho: Any, clock: FakeClock, tmp_path: Any
) -> Iterator[dict[str, set[Grant]]]:
    """The export functions through their paths: a tick, units that complete (with tombstones and a
    token refresh), a direct invoke, the callback."""
    from zoho_aep.adapters.events import EventBridgePublisher

    world = ExportWorld(sm, s3, zoho, clock, tmp_path)
    queue_url = aws.client("sqs").create_queue(QueueName="units")["QueueUrl"]
    world.export.bucket = type(world.bucket)(BUCKET)  # the production client, so every call is seen
    world.export.store = world.store = type(world.store)(world.store.prefix)
    world.export.refresh.store = world.store
    world.export.refresh.app_secrets = world.app_secrets = type(world.app_secrets)(world.store.prefix, max_age=0)
    world.export.events = world.export.refresh.events = EventBridgePublisher("default")
    world.export.queue = ExportQueue(queue_url)
    world.export.callback_url = _signing_callback(world)
    seen: dict[str, set[Grant]] = {name: set() for name in FUNCTIONS}
    try:
        world.consent("acme")
        world.store.set_tags("acme", {TAG_PATH: "amazon-s3"})
        ids = zoho.crm.add_many(US_ORG, "Leads", 3, modified_at=clock() - 3600)
        with observed() as calls:
            scheduled_export(world.export)  # lists tags, sends the units
        seen["export"] |= calls

        messages = [UnitMessage(ExportUnit("acme", "Leads"))]
        clock.advance(50 * 60)  # the token needs a refresh on the way
        with observed() as calls:
            run_messages(world.export, messages)  # a backfill, completed
        seen["worker"] |= calls
        clock.advance(3 * 3600)
        zoho.crm.delete(US_ORG, "Leads", ids[0])
        clock.advance(5)
        with observed() as calls:
            run_messages(world.export, messages)  # a delta with a tombstone
        seen["worker"] |= calls
        zoho.crm.job_seconds = 600
        clock.advance(3 * 3600)
        with observed() as calls:
            run_messages(world.export, messages)  # Zoho takes its time: the unit sends itself back
        seen["worker"] |= calls
        zoho.crm.job_seconds = 0
        clock.advance(700)
        with observed() as calls:
            run_messages(world.export, messages)  # the job ended: the window completes
        seen["worker"] |= calls
        clock.advance(50 * 60)  # the token needs a refresh again
        # The export function is a Lambda of its own: its bucket adapter has seen no state version yet.
        world.export.bucket = type(world.bucket)(BUCKET)
        with observed() as calls:
            export_connection(world.export, "acme", modules=("Leads",), full=True)  # a direct invoke
        seen["export"] |= calls

        deps = BulkCallbackDeps(lambda: world.app_secrets.state_key(force=True), lambda: ExportQueue(queue_url), clock)
        token = callback_url("https://api.example/cb", STATE_KEY, ExportUnit("acme", "Leads"), "r", clock()).split("=")[
            1
        ]
        with observed() as calls:
            accept_bulk_callback(deps, token)
        seen["callback"] |= calls
        yield seen
    finally:
        world.close()


def _signing_callback(world: ExportWorld) -> Any:
    """Callback URLs signed with the state key read from its secret, as the wiring does."""

    def make(connection: str, module: str, run_id: str) -> str:
        key = world.app_secrets.state_key(force=True)
        return callback_url("https://api.example/cb", key, ExportUnit(connection, module), run_id, time.time())

    return make


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_export_function_is_granted_exactly_the_calls_it_makes(
    calls_by_function: dict[str, set[Grant]], function: str
) -> None:
    granted, made = grants(function), calls_by_function[function] | platform_calls(function)
    assert sorted(granted - made) == [], f"granted but never used: {sorted(granted - made)}"
    assert sorted(made - granted) == [], f"used but not granted: {sorted(made - granted)}"


def test_the_export_key_is_used_only_as_the_buckets_key() -> None:
    for function in ("export", "worker"):
        (statement,) = [
            s for s in statements(function)[0] if as_list(s["Resource"])[0] == {"Fn::GetAtt": ["ExportKey", "Arn"]}
        ]
        assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {
            "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
        }
    assert not [s for s in statements("callback")[0] if "kms" in json.dumps(s)]


def test_the_bucket_is_encrypted_private_versioned_tls_only_and_expires_its_files() -> None:
    bucket = RESOURCES["ExportBucket"]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["ExportKey", "Arn"]},
    }
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["ExportedFilesExpire"]["Prefix"] == "zoho/"
    assert rules["ExportedFilesExpire"]["ExpirationInDays"] == {"Ref": "ExportRetentionDays"}
    assert "ExpirationInDays" not in rules["OldStateVersionsGo"]  # state never expires, old versions do
    (deny,) = RESOURCES["ExportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    assert RESOURCES["ExportKey"]["Properties"]["EnableKeyRotation"] is True
