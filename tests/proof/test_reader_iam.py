"""The AEP reader's IAM: the user reads ``zoho/*`` and nothing else; the rotation's role is granted the calls it makes.

Both are read from ``template.yaml``. The reader user's policy is put on a user of moto's IAM with
IAM enforced (``set_initial_no_auth_action_count``), and its own key is refused ``state/*``. The
rotation role's grants are compared with the AWS calls a rotation was seen making (a full rotation,
one that fails and is put back, one that makes room for a key): a grant nobody uses fails as much as a
call nobody granted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cfnlint.decode import decode_str

from local.functions import ROOT
from tests.support.reader_rotation import BUCKET, READER_USER, RotationWorld, begin_rotation
from zoho_aep.domain.errors import ZohoAepError

TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
Grant = tuple[str, str]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def target(resource: Any) -> str:
    known = {
        json.dumps({"Fn::GetAtt": ["AepReaderUser", "Arn"]}): "user:reader",
        json.dumps({"Ref": "AepReaderSecret"}): "secret:aep-s3-reader",
        json.dumps({"Ref": "AdobeSecret"}): "secret:adobe",
        json.dumps({"Fn::GetAtt": ["ExportBucket", "Arn"]}): "bucket",
        json.dumps({"Fn::Sub": "${ExportBucket.Arn}/state/*/_aep.json"}): "bucket:state/*/_aep.json",
        json.dumps({"Fn::GetAtt": ["ExportKey", "Arn"]}): "key:export",
        json.dumps({"Fn::GetAtt": ["LifecycleEventBus", "Arn"]}): "bus",
        json.dumps({"Fn::GetAtt": ["AepReaderRotationLogs", "Arn"]}): "logs:rotation",
    }
    found = known.get(json.dumps(resource))
    assert found, f"a resource this suite does not recognise (too broad or foreign?): {resource}"
    return found


def rotation_statements() -> list[dict[str, Any]]:
    role = RESOURCES["AepReaderRotationRole"]["Properties"]
    return [s for p in role["Policies"] if "Fn::If" not in p for s in p["PolicyDocument"]["Statement"]]


def granted() -> set[Grant]:
    found: set[Grant] = set()
    for statement in rotation_statements():
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        found |= {(a, target(r)) for a in as_list(statement["Action"]) for r in as_list(statement["Resource"])}
    return found


@contextmanager
def observed(world: RotationWorld) -> Iterator[set[Grant]]:
    calls: set[Grant] = set()

    def secrets_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        name = str(params.get("SecretId"))
        assert name in (world.secret_arn, "zoho-aep/aep-s3-reader"), name
        calls.add((f"secretsmanager:{model.name}", "secret:aep-s3-reader"))

    def iam_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        assert params.get("UserName") == READER_USER
        calls.add((f"iam:{model.name}", "user:reader"))

    def s3_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "ListObjectsV2":
            assert params["Prefix"] == "state/"
            calls.add(("s3:ListBucket", "bucket"))
            return
        key = str(params["Key"])
        assert key.startswith("state/") and key.endswith("/_aep.json"), key
        calls.add((f"s3:{model.name}", "bucket:state/*/_aep.json"))

    hooks = [
        (world.sm, "before-parameter-build.secrets-manager", secrets_call),
        (world.iam, "before-parameter-build.iam", iam_call),
        (world.s3, "before-parameter-build.s3", s3_call),
    ]
    for client, event, hook in hooks:
        client.meta.events.register(event, hook)
    try:
        yield calls
    finally:
        for client, event, hook in hooks:
            client.meta.events.unregister(event, hook)


# What the rotation does that this arrangement cannot see: Lambda writes its log group with the role;
# the real Flow Service client reads the Adobe credential (faked here); EventBridge (a recording
# publisher here) and the bucket's key (moto's S3 does not call KMS) are used through the bucket and bus.
NOT_SEEN_HERE = {
    ("logs:CreateLogStream", "logs:rotation"),
    ("logs:PutLogEvents", "logs:rotation"),
    ("secretsmanager:GetSecretValue", "secret:adobe"),
    ("events:PutEvents", "bus"),
}


def test_the_rotation_role_is_granted_exactly_the_calls_a_rotation_makes(sm: Any, s3: Any) -> None:
    from zoho_aep.adapters import aws as aws_clients

    world = RotationWorld(sm, s3, aws_clients.client("iam"))
    try:
        with observed(world) as calls:
            world.rotate()  # the first key
            first = world.current()
            world.connect("acme", "prod", first)
            world.rotate()  # a full rotation, one base connection
            world.iam.create_access_key(UserName=READER_USER)  # a leftover key: room is made
            token = begin_rotation()
            world.flows.fail_explore = lambda base_id: True
            with pytest.raises(ZohoAepError):
                world.rotate(token)  # fails at testSecret, put back
        made = calls | NOT_SEEN_HERE
        kms = {("kms:Decrypt", "key:export"), ("kms:GenerateDataKey", "key:export")}
        assert sorted(granted() - made - kms) == [], "granted but never used"
        assert sorted(made - granted()) == [], "used but not granted"
    finally:
        world.close()


def test_the_rotation_role_uses_the_export_key_only_through_s3_and_lists_only_state() -> None:
    by_sid = {s["Sid"]: s for s in rotation_statements()}
    assert by_sid["ExportKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
    }
    assert by_sid["ListTheAepStates"]["Condition"] == {"StringLike": {"s3:prefix": "state/*"}}
    assert [s for s in rotation_statements() if "Condition" in s and s["Sid"] not in by_sid] == []


def _reader_policy(bucket_arn: str, key_arn: str) -> dict[str, Any]:
    """The reader user's policy from the template, its references resolved for moto."""
    (policy,) = RESOURCES["AepReaderUser"]["Properties"]["Policies"]
    text = json.dumps(policy["PolicyDocument"])
    text = text.replace(json.dumps({"Fn::Sub": "${ExportBucket.Arn}/zoho/*"}), json.dumps(f"{bucket_arn}/zoho/*"))
    text = text.replace(json.dumps({"Fn::GetAtt": ["ExportBucket", "Arn"]}), json.dumps(bucket_arn))
    text = text.replace(json.dumps({"Fn::GetAtt": ["ExportKey", "Arn"]}), json.dumps(key_arn))
    text = text.replace(
        json.dumps({"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}), json.dumps("s3.us-east-1.amazonaws.com")
    )
    assert "Fn::" not in text and "Ref" not in text, text
    document: dict[str, Any] = json.loads(text)
    return document


def test_the_reader_user_reads_the_export_folder_and_nothing_else() -> None:
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws
    from moto.core import set_initial_no_auth_action_count

    @set_initial_no_auth_action_count(5)
    def scenario() -> None:
        admin_iam = boto3.client("iam", region_name="us-east-1")
        admin_s3 = boto3.client("s3", region_name="us-east-1")
        admin_s3.create_bucket(Bucket=BUCKET)  # 1
        admin_s3.put_object(Bucket=BUCKET, Key="zoho/acme/Leads/20260101T000000Z-00001.csv.gz", Body=b"x")  # 2
        admin_s3.put_object(Bucket=BUCKET, Key="state/acme/_aep.json", Body=b"{}")  # 3
        policy = _reader_policy(f"arn:aws:s3:::{BUCKET}", "arn:aws:kms:us-east-1:123456789012:key/export")
        admin_iam.create_user(UserName=READER_USER)  # 4
        admin_iam.put_user_policy(UserName=READER_USER, PolicyName="read", PolicyDocument=json.dumps(policy))  # 5
        # From here on moto enforces IAM: the stack's admin credentials are no longer unchecked.
        # moto lets the key of a user it created sign requests (its own access key store).
        from moto.iam.models import iam_backends

        key = iam_backends["123456789012"]["global"].create_access_key(READER_USER)
        reader = boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
        )
        body = reader.get_object(Bucket=BUCKET, Key="zoho/acme/Leads/20260101T000000Z-00001.csv.gz")["Body"].read()
        assert body == b"x"
        listed = reader.list_objects_v2(Bucket=BUCKET, Prefix="zoho/acme/")
        assert [o["Key"] for o in listed["Contents"]] == ["zoho/acme/Leads/20260101T000000Z-00001.csv.gz"]
        for refused in (
            lambda: reader.get_object(Bucket=BUCKET, Key="state/acme/_aep.json"),
            lambda: reader.put_object(Bucket=BUCKET, Key="zoho/acme/x.csv.gz", Body=b"y"),
            lambda: reader.delete_object(Bucket=BUCKET, Key="zoho/acme/Leads/20260101T000000Z-00001.csv.gz"),
        ):
            with pytest.raises(ClientError) as denied:
                refused()
            assert denied.value.response["Error"]["Code"] == "AccessDenied"

    with mock_aws():
        scenario()
    # moto does not evaluate condition keys such as s3:prefix, so listing is held by the template itself.
    (listing,) = [
        s
        for p in RESOURCES["AepReaderUser"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s["Action"] == "s3:ListBucket"
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["zoho/", "zoho/*"]}}
