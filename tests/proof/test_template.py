"""The template's security: each function may do exactly what it does, on its own secrets and bus.

The grants are read from ``template.yaml`` (cfn-lint's decoder, so ``!Ref``/``!Sub``/``!If`` are
understood) and compared with the AWS calls each function was seen making while it ran its
scenarios against moto: a grant nobody uses is as much a failure as a call nobody granted. Then the
customer-managed key: when the ``SecretsKmsKeyArn`` parameter is set, every secret of the stack, and
every connection secret the functions create, is encrypted with it, and the functions may use that
key only through Secrets Manager.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cfnlint.decode import decode_str

from local.functions import ROOT
from tests.support.aep import Bench, adobe_fixture, bench_fixture  # noqa: F401
from tests.support.callback import CallbackHarness
from tests.support.constants import PREFIX
from tests.support.refresh_world import RefreshWorld
from zoho_aep.adapters import aws
from zoho_aep.adapters.events import EventBridgePublisher
from zoho_aep.config.settings import load_settings
from zoho_aep.domain.connection import Connection
from zoho_aep.wiring import connection_store

TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {
    "callback": "OAuthCallbackFunction",
    "refresh": "TokenRefreshFunction",
    "provisioning": "AdobeProvisioningFunction",
}
APP_SECRETS = {"ZohoClientSecret": "zoho-client", "AdobeSecret": "adobe", "StateKeySecret": "state-key"}
CONNECTIONS_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}/connections/*"
)
BUS_ARN = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/"
OWN_BUS = {"Fn::If": ["IsDefaultBus", {"Fn::Sub": BUS_ARN + "default"}, {"Fn::Sub": BUS_ARN + "${EventBusName}"}]}
KEY_VIA_SECRETS_MANAGER = {
    "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
}

# The refresh's fan-out (cycles larger than REFRESH_SHARD_SIZE): the planner sends shards and collects
# results; tests/integration/test_refresh_fanout.py drives those paths against SQS.
FANOUT_QUEUES = {("TokenRefreshShardQueue", "Arn"): "queue:shards", ("TokenRefreshResultQueue", "Arn"): "queue:results"}
FANOUT_CALLS = {
    ("sqs:SendMessage", "queue:shards"),
    ("sqs:ReceiveMessage", "queue:results"),
    ("sqs:DeleteMessage", "queue:results"),
}

US_ADMIN, EU_ADMIN = "admin@acme.example", "admin@acme-eu.example"  # the conftest's two Zoho orgs
Grant = tuple[str, str]  # (IAM action, what it applies to: "secret:<name>", "secrets:connections", "bus", "*")


# ---- what the template grants ----------------------------------------------------------------------
def target(resource: Any) -> str:
    """What one ``Resource`` entry of a policy statement designates, in this suite's terms."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and resource.get("Ref") in APP_SECRETS:
        return f"secret:{APP_SECRETS[resource['Ref']]}"
    if resource == {"Fn::Sub": CONNECTIONS_ARN}:
        return "secrets:connections"
    if resource == OWN_BUS:
        return "bus"
    if isinstance(resource, dict) and tuple(resource.get("Fn::GetAtt") or ()) in FANOUT_QUEUES:
        return FANOUT_QUEUES[tuple(resource["Fn::GetAtt"])]
    raise AssertionError(f"a resource this suite does not recognise (too broad or foreign?): {resource}")


def statements(function: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The function's inline policy statements: (always, only with a customer-managed key)."""
    always: list[dict[str, Any]] = []
    with_key: list[dict[str, Any]] = []
    for policy in RESOURCES[FUNCTIONS[function]]["Properties"]["Policies"]:
        if "Fn::If" in policy:
            condition, then, otherwise = policy["Fn::If"]
            assert (condition, otherwise) == ("HasKmsKey", {"Ref": "AWS::NoValue"}), policy
            with_key += then["Statement"]
        else:
            always += policy["Statement"]
    return always, with_key


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(function: str) -> set[Grant]:
    always, _ = statements(function)
    found: set[Grant] = set()
    for statement in always:
        assert statement["Effect"] == "Allow" and "Condition" not in statement and "NotAction" not in statement
        found |= {(a, target(r)) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return found


# ---- what the functions do -------------------------------------------------------------------------
def secret_target(name: str) -> str:
    assert name.startswith(f"{PREFIX}/"), name
    rest = name[len(PREFIX) + 1 :]
    return "secrets:connections" if rest.startswith("connections/") else f"secret:{rest}"


@contextmanager
def observed() -> Iterator[set[Grant]]:
    """The (IAM action, target) of every AWS call made in the block, through the product's clients."""
    calls: set[Grant] = set()

    def secrets_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        action = f"secretsmanager:{model.name}"
        if model.name in ("ListSecrets", "BatchGetSecretValue"):
            calls.add((action, "*"))  # AWS cannot scope these to a resource
            for name in params.get("SecretIdList") or ():  # each batched value still needs GetSecretValue
                calls.add(("secretsmanager:GetSecretValue", secret_target(name)))
            return
        name = str(params.get("SecretId") or params.get("Name"))
        calls.add((action, secret_target(name)))
        if model.name == "CreateSecret" and params.get("Tags"):
            calls.add(("secretsmanager:TagResource", secret_target(name)))  # tags on create need it too

    def events_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.add((f"events:{model.name}", "bus"))

    hooks = [
        (aws.client("secretsmanager"), "before-parameter-build.secrets-manager", secrets_call),
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
def calls_by_function(bench: Bench, sm: Any, zoho: Any, clock: Any) -> dict[str, set[Grant]]:
    """Each function through its good and bad paths (production EventBridge publisher included);
    only the function's own work is observed, not the arranging around it."""
    cb = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    refresher = RefreshWorld(sm, zoho, clock)
    cb.deps.events = refresher.deps.events = bench.deps.events = EventBridgePublisher("default")
    seen: dict[str, set[Grant]] = {"callback": set(), "refresh": set(), "provisioning": set()}
    try:
        first = cb.consent(cb.link("acme"), user=US_ADMIN)
        again = cb.consent(cb.link("acme"))
        other_org = cb.consent(cb.link("acme"), user=EU_ADMIN)
        with observed() as calls:
            cb.call(first)  # a new connection
            cb.call(again)  # a re-authorization
            cb.call(first)  # a replay: refused
            cb.call(other_org)  # another org: refused, its token revoked
        seen["callback"] |= calls

        refresher.consent("beta", dc="eu", user=EU_ADMIN)
        clock.advance(41 * 60)
        zoho.revoke_consent(refresher.value("beta")["refresh_token"])
        with observed() as calls:
            report = refresher.cycle()  # acme refreshed, beta needs re-authorization (an event)
        seen["refresh"] |= calls | FANOUT_CALLS
        assert {o.outcome for o in report.outcomes} == {"refreshed", "needs-reauth"}

        bench.authorize("eu-org", dc="eu")
        with observed() as calls:
            assert bench.provision("eu-org").ok  # create, record, verify
        seen["provisioning"] |= calls
        bench.authorize("eu-org", dc="eu")
        bench.adobe.zoho_spec_state = "gone"
        with observed() as calls:
            assert bench.provision("eu-org").reason_code == "aep-zoho-source-retired"  # marked on the tags
            bench.adobe.zoho_spec_state = "active"
            assert bench.provision("eu-org").ok  # update, revoke the replaced token, clear the mark
        seen["provisioning"] |= calls
    finally:
        refresher.close()
        cb.close()
    return seen


# Calls only the operator's command line makes (with the operator's credentials, never a function's).
OPERATOR_ONLY = {"delete_secret"}  # disconnect: the secret is scheduled for deletion


def test_each_function_is_granted_exactly_the_calls_it_makes(calls_by_function: dict[str, set[Grant]]) -> None:
    granted = {function: grants(function) for function in FUNCTIONS}

    unused = {f: sorted(granted[f] - calls_by_function[f]) for f in FUNCTIONS if granted[f] - calls_by_function[f]}
    missing = {f: sorted(calls_by_function[f] - granted[f]) for f in FUNCTIONS if calls_by_function[f] - granted[f]}
    assert unused == {}, "granted but never used"
    assert missing == {}, "used but not granted"


def test_the_scenarios_make_every_call_the_store_and_the_publisher_know(
    calls_by_function: dict[str, set[Grant]],
) -> None:
    """So that the comparison above covers every kind of call the functions can make."""
    made = {action.split(":", 1)[1] for calls in calls_by_function.values() for action, _ in calls}
    code = "".join(
        (ROOT / "layers/common/zoho_aep/adapters" / name).read_text() for name in ("secrets.py", "events.py")
    )
    methods = set(re.findall(r"self\.client\.(\w+)\(", code)) - OPERATOR_ONLY
    assert methods, "the store and the publisher call their boto3 clients as self.client.<method>(...)"
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


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_may_use_the_key_only_through_secrets_manager(function: str) -> None:
    _, with_key = statements(function)

    assert with_key == [
        {
            "Sid": "UseSecretsKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
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
    roles = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::IAM::Role"}
    actions = [
        action
        for role in roles.values()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
    ]

    assert roles and actions
    assert [a for a in actions if a.split(":")[0] in ("secretsmanager", "kms") or "*" in a] == []


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
    # A function a schedule invokes (asynchronously) gets a dead-letter queue instead of a skip.
    schedules = [r for r in RESOURCES.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    targets = {name for s in schedules for name in _referenced_arns(s["Properties"]["Target"], "Arn", set(), True)}
    scheduled = {name for name in targets if RESOURCES[name]["Type"] == "AWS::Serverless::Function"}
    assert scheduled
    for name in scheduled:
        assert RESOURCES[name]["Properties"].get("DeadLetterQueue") and not skipped(name, "CKV_AWS_116"), name
