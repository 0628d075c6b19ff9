"""The template's security: each function may do exactly what it does, on its own secrets, queues and logs.

The template is translated as SAM translates it (``samtranslator``, installed with the SAM CLI), so
the roles that are deployed are the ones checked, generated ones included: every function of the
stack must have a role of its own with no AWS-managed policy (SAM's AWSLambdaBasicExecutionRole
writes to every log group; its SQS policy receives and deletes on every queue of the account). Each
role's grants are compared with the calls its function was seen making while it ran its scenarios
against moto, plus the calls Lambda makes with the role on the function's behalf (its log group, the
queue it is fed from, its failure destination): a grant nobody uses is as much a failure as a call
nobody granted. Then the customer-managed key, the stack's own event bus (only the stack's functions
may put the events that start provisioning), the log groups and the API's per-route throttles.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from cfnlint.decode import decode_str

from local.functions import ROOT
from tests.support.aep import Bench, adobe_fixture, bench_fixture  # noqa: F401
from tests.support.callback import CallbackHarness
from tests.support.constants import PREFIX
from tests.support.refresh_world import RefreshWorld
from tests.support.s3_path_world import S3PathWorld
from zoho_aep.adapters import aws
from zoho_aep.adapters.events import EventBridgePublisher
from zoho_aep.adapters.sqs import SqsShardQueues
from zoho_aep.config.settings import load_settings
from zoho_aep.domain.connection import TAG_LAST_ERROR, TAG_STATUS, Connection
from zoho_aep.edges.token_refresh import RefreshShardApp
from zoho_aep.usecases.refresh.planner import FanOut
from zoho_aep.usecases.s3_source.watch import watch_runs
from zoho_aep.wiring import connection_store

TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def sam_translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template SAM deploys (local code locations replaced, as ``sam validate`` does)."""
    from samtranslator.translator.transform import transform

    document = json.loads(json.dumps(copy.deepcopy(template), default=str))
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://bucket/key"

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(document, {}, NoManagedPolicies())


DEPLOYED: dict[str, Any] = sam_translate(TEMPLATE)["Resources"]
FUNCTIONS = {
    "callback": "OAuthCallbackFunction",
    "refresh": "TokenRefreshFunction",
    "worker": "TokenRefreshWorkerFunction",
    "provisioning": "AdobeProvisioningFunction",
}
# The export's functions: their grants are compared with their calls in test_export_iam.py; here
# they are held to the same rules as every other role (their own, nothing managed, the key).
EXPORT_FUNCTIONS = {
    "export": "ZohoExportFunction",
    "export-worker": "ZohoExportWorkerFunction",
    "export-callback": "ZohoExportCallbackFunction",
}
# The reader key's rotation: its grants are compared with its calls in test_reader_iam.py.
ROTATION_FUNCTIONS = {"reader-rotation": "AepReaderRotationFunction"}
ALL_FUNCTIONS = {**FUNCTIONS, **EXPORT_FUNCTIONS, **ROTATION_FUNCTIONS}
LIFECYCLE_BUS = "LifecycleEventBus"
APP_SECRETS = {
    "ZohoClientSecret": "zoho-client",
    "AdobeSecret": "adobe",
    "StateKeySecret": "state-key",
    "AepReaderSecret": "aep-s3-reader",
}
CONNECTIONS_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}/connections/*"
)
BUS_ARN = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/"
EVENT_BUS_NAME_ARN = {
    "Fn::If": ["IsDefaultBus", {"Fn::Sub": BUS_ARN + "default"}, {"Fn::Sub": BUS_ARN + "${EventBusName}"}]
}
KEY_VIA_SECRETS_MANAGER = {
    "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
}
US_ADMIN, EU_ADMIN = "admin@acme.example", "admin@acme-eu.example"  # the conftest's two Zoho orgs
Grant = tuple[str, str]  # (IAM action, what it applies to: "secret:<name>", "queue:<logical id>", "bus", "*", ...)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def get_att(value: Any) -> str | None:
    """The logical id of ``{"Fn::GetAtt": [X, "Arn"]}``, else None."""
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), list) and value["Fn::GetAtt"][1:] == ["Arn"]:
        return str(value["Fn::GetAtt"][0])
    return None


# ---- what the deployed template grants --------------------------------------------------------------
def target(resource: Any) -> str:
    """What one ``Resource`` entry of a policy statement designates, in this suite's terms."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and resource.get("Ref") in APP_SECRETS:
        return f"secret:{APP_SECRETS[resource['Ref']]}"
    if resource == {"Fn::Sub": CONNECTIONS_ARN}:
        return "secrets:connections"
    sub = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    if isinstance(sub, str) and sub.startswith("${ExportBucket.Arn}/"):
        return "bucket:" + sub.removeprefix("${ExportBucket.Arn}/")
    logical = get_att(resource)
    if logical == "ExportBucket":
        return "bucket"
    if logical == "ExportKey":
        return "key:export"
    kind = DEPLOYED.get(logical or "", {}).get("Type")
    if kind == "AWS::SQS::Queue":
        return f"queue:{logical}"
    if kind == "AWS::Logs::LogGroup":
        return f"logs:{logical}"
    if kind == "AWS::Events::EventBus" and logical == LIFECYCLE_BUS:
        return "bus"
    raise AssertionError(f"a resource this suite does not recognise (too broad or foreign?): {resource}")


def role_of(function: str) -> str:
    """The logical id of the role a function of the deployed template runs with."""
    role = get_att(DEPLOYED[ALL_FUNCTIONS[function]]["Properties"]["Role"])
    assert role is not None and DEPLOYED[role]["Type"] == "AWS::IAM::Role", function
    return role


def statements(function: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The role's inline policy statements: (always, only with a customer-managed key)."""
    always: list[dict[str, Any]] = []
    with_key: list[dict[str, Any]] = []
    for policy in DEPLOYED[role_of(function)]["Properties"]["Policies"]:
        if "Fn::If" in policy:
            condition, then, otherwise = policy["Fn::If"]
            assert (condition, otherwise) == ("HasKmsKey", {"Ref": "AWS::NoValue"}), policy
            with_key += then["PolicyDocument"]["Statement"]
        else:
            always += policy["PolicyDocument"]["Statement"]
    return always, with_key


def grants(function: str) -> set[Grant]:
    """Every (action, target) the function may use, the export key aside (its condition is checked below)."""
    always, _ = statements(function)
    found: set[Grant] = set()
    for statement in always:
        if target(as_list(statement["Resource"])[0]) == "key:export":
            continue
        assert statement["Effect"] == "Allow" and "Condition" not in statement and "NotAction" not in statement
        assert "NotResource" not in statement
        found |= {(a, target(r)) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return found


def platform_calls(function: str) -> set[Grant]:
    """What Lambda does with the function's role on its behalf, read from its deployed configuration."""
    logical = FUNCTIONS[function]
    calls: set[Grant] = set()
    group = DEPLOYED[logical]["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
    if group:
        calls |= {("logs:CreateLogStream", f"logs:{group}"), ("logs:PutLogEvents", f"logs:{group}")}
    dead_letters = DEPLOYED[logical]["Properties"].get("DeadLetterConfig", {}).get("TargetArn")
    if dead_letters:  # a failed asynchronous invocation is sent there with the function's role
        calls.add(("sqs:SendMessage", target(dead_letters)))
    for resource in DEPLOYED.values():
        properties = resource.get("Properties", {})
        if properties.get("FunctionName") != {"Ref": logical}:
            continue
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            source = target(properties["EventSourceArn"])
            assert source.startswith("queue:"), source
            calls |= {(f"sqs:{a}", source) for a in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")}
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig":
            for destination in properties.get("DestinationConfig", {}).values():
                where = target(destination["Destination"])
                assert where.startswith("queue:"), where
                calls.add(("sqs:SendMessage", where))
    return calls


# ---- what the functions do -------------------------------------------------------------------------
def secret_target(name: str) -> str:
    assert name.startswith(f"{PREFIX}/"), name
    rest = name[len(PREFIX) + 1 :]
    return "secrets:connections" if rest.startswith("connections/") else f"secret:{rest}"


@dataclass
class Observed:
    """The (IAM action, target) of every AWS call made through the product's clients, by function."""

    queues: dict[str, str] = field(default_factory=dict)  # queue URL -> logical id
    calls: dict[str, set[Grant]] = field(default_factory=lambda: {f: set() for f in FUNCTIONS})
    who: str | None = None  # the function whose calls are being made (None: the arrangement)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def of(self, function: str) -> Iterator[None]:
        before, self.who = self.who, function
        try:
            yield
        finally:
            self.who = before

    def add(self, *grants: Grant) -> None:
        with self._lock:
            if self.who is not None:
                self.calls[self.who].update(grants)

    def secrets_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        action = f"secretsmanager:{model.name}"
        if model.name in ("ListSecrets", "BatchGetSecretValue"):
            self.add((action, "*"))  # AWS cannot scope these to a resource
            for name in params.get("SecretIdList") or ():  # each batched value still needs GetSecretValue
                self.add(("secretsmanager:GetSecretValue", secret_target(name)))
            return
        name = str(params.get("SecretId") or params.get("Name"))
        self.add((action, secret_target(name)))
        if model.name == "CreateSecret" and params.get("Tags"):
            self.add(("secretsmanager:TagResource", secret_target(name)))  # tags on create need it too

    def events_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.add((f"events:{model.name}", "bus"))

    def sqs_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.add((f"sqs:{model.name}", f"queue:{self.queues[params['QueueUrl']]}"))

    def s3_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """The S3 path's state objects: reads of ``state/*``, the AEP state's writes, the listing."""
        key = str(params.get("Key", ""))
        if model.name == "ListObjectsV2":
            self.add(("s3:ListBucket", "bucket"))
        elif model.name in ("GetObject", "HeadObject"):
            assert key.startswith("state/"), key
            self.add(("s3:GetObject", "bucket:state/*"), ("s3:ListBucket", "bucket"))  # a missing key is a 404
        elif model.name == "PutObject":
            assert key.startswith("state/") and key.endswith("/_aep.json"), key
            self.add(("s3:PutObject", "bucket:state/*/_aep.json"))
        else:
            self.add((f"s3:{model.name}", "bucket"))


@contextmanager
def observing() -> Iterator[Observed]:
    seen = Observed()
    hooks = [
        (aws.client("secretsmanager"), "before-parameter-build.secrets-manager", seen.secrets_call),
        (aws.client("events"), "before-parameter-build.eventbridge", seen.events_call),
        (aws.client("sqs"), "before-parameter-build.sqs", seen.sqs_call),
        (aws.client("s3"), "before-parameter-build.s3", seen.s3_call),
    ]
    for client, event, hook in hooks:
        client.meta.events.register(event, hook)
    try:
        yield seen
    finally:
        for client, event, hook in hooks:
            client.meta.events.unregister(event, hook)


class EventSourceInline:
    """The shard queue's event source, run inline: when the planner waits for results, the shards
    waiting in the queue are received (with a client of Lambda's, not the product's) and handed to
    the worker, whose calls are its own."""

    def __init__(self, queues: SqsShardQueues, poller: Any, worker: RefreshShardApp, seen: Observed) -> None:
        self.queues, self.poller, self.worker, self.seen = queues, poller, worker, seen

    def send_shard(self, body: str, key: str) -> None:
        self.queues.send_shard(body, key)

    def send_result(self, body: str) -> None:
        self.queues.send_result(body)

    def receive_results(self, wait_seconds: int) -> list[tuple[str, str]]:
        url = self.queues.shard_queue_url
        for message in self.poller.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            with self.seen.of("worker"):
                self.worker.handle({"Records": [{"body": message["Body"]}]}, time_left=lambda: 300.0)
            self.poller.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return self.queues.receive_results(0)

    def delete_result(self, receipt: str) -> None:
        self.queues.delete_result(receipt)


def fan_out(refresher: RefreshWorld, seen: Observed) -> None:
    """The planner sends every due connection in its own shard over (moto's) SQS; the worker answers."""
    import boto3

    poller = boto3.client("sqs", region_name="us-east-1")
    shards = poller.create_queue(QueueName="shards.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    results = poller.create_queue(QueueName="results")["QueueUrl"]
    seen.queues.update({shards: "TokenRefreshShardQueue", results: "TokenRefreshResultQueue"})
    worker_deps = replace(refresher.deps, fanout=FanOut(SqsShardQueues(None, results), can_plan=False))
    worker = RefreshShardApp(lambda: worker_deps, logger=refresher.logger)
    inline = EventSourceInline(SqsShardQueues(shards, results), poller, worker, seen)
    refresher.deps.fanout = FanOut(inline, shard_size=1)  # type: ignore[arg-type]


@pytest.fixture
def calls_by_function(bench: Bench, sm: Any, s3: Any, zoho: Any, clock: Any, tmp_path: Any) -> dict[str, set[Grant]]:
    """Each function through its good and bad paths (production EventBridge publisher and SQS queues
    included); only the function's own work is observed, not the arranging around it."""
    cb = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    refresher = RefreshWorld(sm, zoho, clock)
    cb.deps.events = refresher.deps.events = bench.deps.events = EventBridgePublisher("default")
    try:
        with observing() as seen:
            first = cb.consent(cb.link("acme"), user=US_ADMIN)
            again = cb.consent(cb.link("acme"))
            other_org = cb.consent(cb.link("acme"), user=EU_ADMIN)
            with seen.of("callback"):
                cb.call(first)  # a new connection
                cb.call(again)  # a re-authorization
                cb.call(first)  # a replay: refused
                cb.call(other_org)  # another org: refused, its token revoked

            refresher.consent("beta", dc="eu", user=EU_ADMIN)
            clock.advance(41 * 60)
            zoho.revoke_consent(refresher.value("beta")["refresh_token"])
            with seen.of("refresh"):
                report = refresher.cycle()  # acme refreshed, beta needs re-authorization (an event)
            assert {o.outcome for o in report.outcomes} == {"refreshed", "needs-reauth"}

            refresher.consent("beta", dc="eu", user=EU_ADMIN)
            clock.advance(41 * 60)
            refresher.store.set_tags("acme", {TAG_STATUS: "refresh-failing", TAG_LAST_ERROR: "zoho-unavailable"})
            fan_out(refresher, seen)
            with seen.of("refresh"):
                report = refresher.cycle()  # two shards: the worker refreshes both, acme recovers (an event)
            assert (report.shards, report.shards_lost, report.count("refreshed")) == (2, 0, 2)

            bench.authorize("eu-org", dc="eu")
            with seen.of("provisioning"):
                assert bench.provision("eu-org").ok  # create, record, verify
            bench.authorize("eu-org", dc="eu")
            bench.adobe.zoho_spec_state = "gone"
            with seen.of("provisioning"):
                assert bench.provision("eu-org").reason_code == "aep-zoho-source-retired"  # marked on the tags
                bench.adobe.zoho_spec_state = "active"
                assert bench.provision("eu-org").ok  # update, revoke the replaced token, clear the mark

            s3_path = S3PathWorld(sm, s3, zoho, bench.adobe, clock, tmp_path)
            s3_path.consent("s3-org")
            bench.adobe.zoho_spec_state = "gone"
            with seen.of("provisioning"):
                assert s3_path.provision("s3-org").path == "amazon-s3"  # the S3 path: state, key, AEP
                assert s3_path.provision("s3-org").ok  # again: everything read back, nothing made twice
                watch_runs(s3_path.source)  # the run watch: the AEP states, each flow's runs
            s3_path.close()
    finally:
        refresher.close()
        cb.close()
    return {function: calls | platform_calls(function) for function, calls in seen.calls.items()}


# Calls only the operator's command line makes (with the operator's credentials, never a function's).
OPERATOR_ONLY = {"delete_secret"}  # disconnect: the secret is scheduled for deletion
EXPORT_ONLY = {"send_message_batch"}  # the export's unit queue: its calls are compared in test_export_iam.py


def test_every_function_of_the_stack_runs_with_a_role_of_its_own_and_no_aws_managed_policy() -> None:
    functions = {name for name, r in DEPLOYED.items() if r["Type"] == "AWS::Lambda::Function"}
    roles = [role_of(function) for function in ALL_FUNCTIONS]
    attached = [
        name
        for name, r in DEPLOYED.items()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and set(map(json.dumps, as_list(r["Properties"].get("Roles", [])))) & {json.dumps({"Ref": x}) for x in roles}
    ]

    assert functions == set(ALL_FUNCTIONS.values()), "a function this suite does not check"
    assert len(set(roles)) == len(roles), "a role shared by two functions"
    assert [r for r in roles if r not in RESOURCES] == [], "a role SAM generates (it attaches AWS-managed policies)"
    assert {r: DEPLOYED[r]["Properties"].get("ManagedPolicyArns") for r in roles} == dict.fromkeys(roles)
    assert attached == []
    for role in roles:
        (trust,) = DEPLOYED[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert (trust["Effect"], trust["Principal"], trust["Action"]) == (
            "Allow",
            {"Service": "lambda.amazonaws.com"},
            "sts:AssumeRole",
        )


def test_each_function_is_granted_exactly_the_calls_it_makes(calls_by_function: dict[str, set[Grant]]) -> None:
    granted = {function: grants(function) for function in FUNCTIONS}

    unused = {f: sorted(granted[f] - calls_by_function[f]) for f in FUNCTIONS if granted[f] - calls_by_function[f]}
    missing = {f: sorted(calls_by_function[f] - granted[f]) for f in FUNCTIONS if calls_by_function[f] - granted[f]}
    assert unused == {}, "granted but never used"
    assert missing == {}, "used but not granted"


def test_the_scenarios_make_every_call_the_store_the_publisher_and_the_queues_know(
    calls_by_function: dict[str, set[Grant]],
) -> None:
    """So that the comparison above covers every kind of call the functions can make."""
    made = {action.split(":", 1)[1] for calls in calls_by_function.values() for action, _ in calls}
    code = "".join(
        (ROOT / "layers/common/zoho_aep/adapters" / name).read_text() for name in ("secrets.py", "events.py", "sqs.py")
    )
    methods = set(re.findall(r"self\.client\.(\w+)\b", code)) - OPERATOR_ONLY - EXPORT_ONLY
    assert methods, "the adapters call their boto3 clients as self.client.<method>"
    assert {"".join(part.title() for part in m.split("_")) for m in methods} <= made


# ---- the customer-managed key ---------------------------------------------------------------------------
def test_a_customer_key_encrypts_every_secret_of_the_stack_when_the_operator_names_one() -> None:
    secrets = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::SecretsManager::Secret"}
    key_if_given = {"Fn::If": ["HasKmsKey", {"Ref": "SecretsKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}

    assert secrets == set(APP_SECRETS)
    assert {name: RESOURCES[name]["Properties"].get("KmsKeyId") for name in secrets} == dict.fromkeys(
        secrets, key_if_given
    )
    assert TEMPLATE["Conditions"]["HasKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SecretsKmsKeyArn"}, ""]}]}
    # Connection secrets are created at run time: the functions get the key in their environment.
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["SECRETS_KMS_KEY_ID"] == {
        "Ref": "SecretsKmsKeyArn"
    }


def test_provisioning_may_use_the_export_key_only_as_the_buckets_key() -> None:
    always, _ = statements("provisioning")
    (key,) = [s for s in always if target(as_list(s["Resource"])[0]) == "key:export"]
    assert key["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}}


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_each_function_may_use_the_key_only_through_secrets_manager(function: str) -> None:
    _, with_key = statements(function)
    reads_only = function == "export-callback"  # it reads the state key, never writes a secret

    assert with_key == [
        {
            "Sid": "UseSecretsKey",
            "Effect": "Allow",
            "Action": "kms:Decrypt" if reads_only else ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": {"Ref": "SecretsKmsKeyArn"},
            "Condition": KEY_VIA_SECRETS_MANAGER,
        }
    ]


def test_connection_secrets_are_created_with_the_configured_key(sm: Any) -> None:
    key = aws.client("kms").create_key(Description="the operator's key")["KeyMetadata"]["Arn"]
    settings = load_settings({"SECRET_PREFIX": PREFIX, "SECRETS_KMS_KEY_ID": key})

    connection_store(settings).write("acme", lambda current: Connection(connection="acme"))

    assert sm.describe_secret(SecretId=f"{PREFIX}/connections/acme")["KmsKeyId"] == key


def test_no_other_role_of_the_stack_reaches_a_secret_or_a_key() -> None:
    functions_roles = {role_of(function) for function in ALL_FUNCTIONS}
    roles = {name: r for name, r in DEPLOYED.items() if r["Type"] == "AWS::IAM::Role" and name not in functions_roles}
    actions = [
        action
        for role in roles.values()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
    ]

    assert roles and actions
    assert [r for r in roles.values() if r["Properties"].get("ManagedPolicyArns")] == []
    assert [a for a in actions if a.split(":")[0] in ("secretsmanager", "kms") or "*" in a] == []


# ---- the events that start provisioning come from the stack's own functions ---------------------------------
def _resolve(value: Any) -> Any:
    """Role ARNs as IAM sees them, for evaluating the bus policy offline."""
    role = get_att(value)
    return f"arn:aws:iam::123456789012:role/{role}" if role else value


def bus_policy_denies(principal_arn: str) -> bool:
    """Whether the lifecycle bus's policy refuses ``events:PutEvents`` by this principal of the account."""
    (policy,) = [r["Properties"] for r in DEPLOYED.values() if r["Type"] == "AWS::Events::EventBusPolicy"]
    assert policy["EventBusName"] == {"Ref": LIFECYCLE_BUS}
    statement = policy["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "events:PutEvents")
    assert statement["Resource"] == {"Fn::GetAtt": [LIFECYCLE_BUS, "Arn"]}
    (operator,) = statement["Condition"]
    (key,) = statement["Condition"][operator]
    assert (operator, key) == ("ArnNotEquals", "aws:PrincipalArn")
    allowed = [_resolve(v) for v in as_list(statement["Condition"][operator][key])]
    return principal_arn not in allowed


def test_only_the_stacks_functions_may_put_events_on_the_bus_that_starts_provisioning() -> None:
    functions_roles = [f"arn:aws:iam::123456789012:role/{role_of(f)}" for f in FUNCTIONS]
    outsiders = [
        "arn:aws:iam::123456789012:role/AnyOtherAppOfTheAccount",
        "arn:aws:iam::123456789012:user/someone",
        "arn:aws:iam::123456789012:role/TokenRefreshSchedulerRole",
    ]
    rules = {name: r["Properties"] for name, r in DEPLOYED.items() if r["Type"] == "AWS::Events::Rule"}
    acting = {
        name: rule
        for name, rule in rules.items()
        if any(get_att(t["Arn"]) in FUNCTIONS.values() or t["Arn"] == {"Ref": "AlarmTopic"} for t in rule["Targets"])
    }

    assert [arn for arn in functions_roles if bus_policy_denies(arn)] == []
    assert [arn for arn in outsiders if not bus_policy_denies(arn)] == []
    assert set(acting) == {"ConnectionAuthorizedRule", "AttentionEventsRule"}
    elsewhere = [name for name, rule in acting.items() if rule["EventBusName"] != {"Ref": LIFECYCLE_BUS}]
    assert elsewhere == [], "a rule that provisions or mails a person listens on a bus anyone may put events on"
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == {"Ref": LIFECYCLE_BUS}
    assert [f for f in FUNCTIONS if {t for a, t in grants(f) if a == "events:PutEvents"} != {"bus"}] == []


def test_every_lifecycle_event_still_reaches_the_event_bus_name_bus() -> None:
    (forward,) = [
        r["Properties"]
        for r in DEPLOYED.values()
        if r["Type"] == "AWS::Events::Rule" and any(t["Arn"] == EVENT_BUS_NAME_ARN for t in r["Properties"]["Targets"])
    ]
    (target_,) = forward["Targets"]
    role = DEPLOYED[get_att(target_["RoleArn"]) or ""]["Properties"]
    (statement,) = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]

    assert (forward["EventBusName"], forward["EventPattern"]) == ({"Ref": LIFECYCLE_BUS}, {"source": ["zoho-aep"]})
    assert (statement["Action"], statement["Resource"]) == ("events:PutEvents", EVENT_BUS_NAME_ARN)
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}


# ---- logs and throttles -----------------------------------------------------------------------------------
def test_every_function_logs_to_an_explicit_log_group_with_retention() -> None:
    groups = {
        f: DEPLOYED[ALL_FUNCTIONS[f]]["Properties"].get("LoggingConfig", {}).get("LogGroup") for f in ALL_FUNCTIONS
    }

    assert all(isinstance(g, dict) and set(g) == {"Ref"} for g in groups.values()), groups
    for function, group in groups.items():
        resource = RESOURCES[group["Ref"]]
        assert resource["Type"] == "AWS::Logs::LogGroup", function
        assert resource["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function
    assert groups["worker"] == groups["refresh"], "a cycle's refresh outcomes in one log group"
    assert groups["export-worker"] == groups["export"] == groups["export-callback"], "every export outcome in one"
    # Each may write its own group only (the export's roles: compared call by call in test_export_iam.py).
    assert {f: {t for a, t in grants(f) if a.startswith("logs:")} for f in FUNCTIONS} == {
        f: {f"logs:{g['Ref']}"} for f, g in groups.items() if f in FUNCTIONS
    }


def test_each_route_of_the_api_has_a_throttle_of_its_own() -> None:
    """A flood on one route (the health check) cannot use up the onboarding redirects' budget."""
    stage = RESOURCES["HttpApiStage"]
    routes = {
        r["Properties"]["RouteKey"]: name for name, r in RESOURCES.items() if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    settings = stage["Properties"]["RouteSettings"]

    assert set(settings) == set(routes)
    assert set(as_list(stage.get("DependsOn", []))) >= set(routes.values()), "route settings need their routes"
    for limits in settings.values():
        assert limits["ThrottlingRateLimit"] > 0 and limits["ThrottlingBurstLimit"] >= limits["ThrottlingRateLimit"]
    health, callback = settings["GET /health"], settings["ANY /oauth/callback"]
    assert health["ThrottlingRateLimit"] < callback["ThrottlingRateLimit"]


# ---- what else the template promises -----------------------------------------------------------------------
def test_every_queue_is_encrypted_and_refuses_plain_http() -> None:
    queues = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}
    policies = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::SQS::QueuePolicy"]

    encrypted = {
        name
        for name, q in queues.items()
        if q["Properties"].get("SqsManagedSseEnabled") is True or q["Properties"].get("KmsMasterKeyId")
    }
    assert queues and encrypted == set(queues)
    for name in queues:
        arn = {"Fn::GetAtt": [name, "Arn"]}
        (policy,) = [p for p in policies if {"Ref": name} in p["Queues"]]
        denials = [
            st
            for st in policy["PolicyDocument"]["Statement"]
            if st["Effect"] == "Deny"
            and st["Principal"] == "*"
            and st["Action"] == "sqs:*"
            and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and arn in as_list(st["Resource"])
        ]
        assert denials, f"{name} accepts plain http"


def test_api_access_logs_never_record_the_query_string() -> None:
    """The callback's query carries the grant code and the state."""
    log_format = RESOURCES["HttpApiStage"]["Properties"]["AccessLogSettings"]["Format"]

    assert "$context" in log_format
    assert not re.search(r"querystring|rawQueryString|request\.query|\$context\.path\?", log_format, re.IGNORECASE)


def test_every_skipped_checkov_check_is_justified_next_to_its_resource() -> None:
    skips = [
        (name, skip)
        for name, resource in RESOURCES.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips, "checkov's skips live in the resources' Metadata"
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "")) >= 40, f"{name}: say why {skip['id']} does not apply"


def _referenced_arns(node: Any, under: str, found: set[str], inside: bool = False) -> set[str]:
    """Names of resources whose ``Fn::GetAtt ... Arn`` appears below a key called ``under``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::GetAtt" and inside and isinstance(value, list) and value[1:] == ["Arn"]:
                found.add(value[0])
            _referenced_arns(value, under, found, inside or key == under)
    elif isinstance(node, list):
        for item in node:
            _referenced_arns(item, under, found, inside)
    return found


def test_a_skip_that_configuring_the_resource_removes_is_not_there() -> None:
    def skipped(name: str, check: str) -> bool:
        skips = RESOURCES[name].get("Metadata", {}).get("checkov", {}).get("skip", [])
        return any(s["id"] == check for s in skips)

    # A queue only the stack's functions use can take the AWS-managed SQS key (CKV_AWS_27 then holds);
    # only a dead-letter queue that EventBridge or its scheduler writes to cannot.
    service_dlqs = _referenced_arns(RESOURCES, "DeadLetterConfig", set())
    for name, queue in RESOURCES.items():
        if queue["Type"] == "AWS::SQS::Queue" and name not in service_dlqs:
            assert queue["Properties"].get("KmsMasterKeyId") and not skipped(name, "CKV_AWS_27"), name
    # A function a schedule invokes (asynchronously) gets a dead-letter queue instead of a skip, unless
    # an on-failure destination (which supersedes a dead-letter queue) already takes its failures.
    schedules = [r for r in RESOURCES.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    targets = {name for s in schedules for name in _referenced_arns(s["Properties"]["Target"], "Arn", set(), True)}
    scheduled = {name for name in targets if RESOURCES[name]["Type"] == "AWS::Serverless::Function"}
    assert scheduled
    for name in scheduled:
        properties = RESOURCES[name]["Properties"]
        on_failure = properties.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            assert on_failure["Type"] == "SQS" and not properties.get("DeadLetterQueue"), name
            continue
        assert properties.get("DeadLetterQueue") and not skipped(name, "CKV_AWS_116"), name
