"""The Adobe emulator's Amazon S3 source, driven through the product's own adapters, over moto's S3
server with IAM enforced: the key a base connection holds is what explore and ingestion read with."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests

from local.emulators.adobe import AdobeEmulator
from local.emulators.aep_registry import TENANT_ID
from tests.support.aep import ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, ADOBE_SCOPES, adobe_fixture  # noqa: F401
from tests.support.fakes import FakeClock
from zoho_aep.adapters.adobe.catalog import CatalogClient
from zoho_aep.adapters.adobe.dataflows import DataflowClient, FlowObject
from zoho_aep.adapters.adobe.dataprep import DataPrepClient
from zoho_aep.adapters.adobe.ims import ImsTokenProvider
from zoho_aep.adapters.adobe.registry import SchemaRegistryClient
from zoho_aep.adapters.http import HttpClient
from zoho_aep.domain.aep import CLOUD_STORAGE_FLOW_SPEC, DATA_LAKE_CONNECTION_SPEC, S3_AUTH_SPEC, S3_CONNECTION_SPEC
from zoho_aep.domain.credentials import AdobeCredentials
from zoho_aep.domain.errors import AdobeError, AdobeEtagMismatch, AdobeTitleTaken
from zoho_aep.domain.xdm import (
    BOOLEAN,
    DATE_TIME,
    NUMBER,
    STRING,
    XED_FULL,
    XdmField,
    dataset_body,
    field_group_additions,
    field_group_body,
    mapping_set_body,
    record_class_body,
    schema_body,
)
from zoho_aep.wiring import ADOBE_POLICY

BUCKET = "zoho-export-test"
FIELDS = [
    XdmField("id", STRING),
    XdmField("Email", STRING),
    XdmField("Modified_Time", DATE_TIME),
    XdmField("Annual_Revenue", NUMBER),
    XdmField("zoho_deleted", BOOLEAN),
]
HEADER = [f.column for f in FIELDS]
READER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"arn:aws:s3:::{BUCKET}/zoho/*",
        },
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{BUCKET}",
            "Condition": {"StringLike": {"s3:prefix": "zoho/*"}},
        },
        {"Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": f"arn:aws:s3:::{BUCKET}"},
    ],
}
NO_LIST_POLICY = {"Version": "2012-10-17", "Statement": [READER_POLICY["Statement"][0], READER_POLICY["Statement"][2]]}
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class World:
    url: str
    keys: dict[str, dict[str, str]]  # user -> {"s3AccessKey", "s3SecretKey"}
    iam: Any  # an IAM client signed by the admin (IAM is enforced)

    def s3(self, user: str = "admin") -> Any:
        key = self.keys[user]
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=key["s3AccessKey"],
            aws_secret_access_key=key["s3SecretKey"],
        )

    def put_csv(self, key: str, rows: list[dict[str, str]]) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, HEADER)
        writer.writeheader()
        writer.writerows(rows)
        self.s3().put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(text.getvalue().encode()))


@pytest.fixture
def world() -> Iterator[World]:
    """moto's server with a bucket, three IAM users (reader, no-list, admin); then IAM enforced."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    keys = {}
    for user, policy in (("reader", READER_POLICY), ("nolist", NO_LIST_POLICY), ("admin", ADMIN_POLICY)):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(policy))
        created = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"s3AccessKey": created["AccessKeyId"], "s3SecretKey": created["SecretAccessKey"]}
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = ActionAuthenticatorMixin.request_count  # enforced from now on
    admin = keys["admin"]
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=admin["s3AccessKey"],
        aws_secret_access_key=admin["s3SecretKey"],
    )
    try:
        yield World(url, keys, iam)
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
        server.stop()


@dataclass
class Apis:
    flows: DataflowClient
    registry: SchemaRegistryClient
    catalog: CatalogClient
    dataprep: DataPrepClient


@pytest.fixture
def apis(adobe: AdobeEmulator, clock: FakeClock) -> Apis:
    http = HttpClient(ADOBE_POLICY.with_(attempts=1), sleep=lambda _s: None)
    creds = AdobeCredentials(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, ADOBE_SCOPES)
    ims = ImsTokenProvider(http, adobe.base_url, lambda: creds, clock=clock)
    args = (http, adobe.base_url, ims, lambda: creds, "prod")
    return Apis(DataflowClient(*args), SchemaRegistryClient(*args), CatalogClient(*args), DataPrepClient(*args))


def base_body(world: World, user: str = "reader") -> dict[str, Any]:
    params = {**world.keys[user], "bucketName": BUCKET, "folderPath": "zoho/acme", "serviceUrl": world.url}
    return {
        "name": f"zoho-aep acme s3 {user}",
        "auth": {"specName": S3_AUTH_SPEC, "params": params},
        "connectionSpec": {"id": S3_CONNECTION_SPEC, "version": "1.0"},
    }


def schedule(clock: FakeClock, interval: str = "15") -> dict[str, Any]:
    return {"startTime": str(int(clock()) + 300), "frequency": "minute", "interval": interval, "backfill": True}


@dataclass
class Provisioned:
    base_id: str
    flow: FlowObject
    dataset_id: str
    group_alt_id: str


def provision(apis: Apis, world: World, clock: FakeClock, user: str = "reader") -> Provisioned:
    """What the product's provisioning creates for Leads, with the product's own bodies."""
    tenant = apis.registry.tenant_id()
    cls = apis.registry.create("classes", record_class_body("Zoho CRM record (zoho-aep)"))
    group = apis.registry.create("fieldgroups", field_group_body(tenant, "Leads fields", cls.id, FIELDS))
    schema = apis.registry.create("schemas", schema_body("Zoho CRM Leads (acme)", cls.id, group.id))
    dataset_id = apis.catalog.create_dataset(dataset_body("Zoho CRM Leads (acme)", schema.id))
    base = apis.flows.create_connection(base_body(world, user))
    source = apis.flows.create(
        "sourceConnections",
        {
            "name": "zoho-aep acme Leads",
            "baseConnectionId": base.id,
            "data": {"format": "delimited", "properties": {"columnDelimiter": ",", "compressionType": "gzip"}},
            "params": {"path": f"/{BUCKET}/zoho/acme/Leads", "type": "folder", "recursive": True},
            "connectionSpec": {"id": S3_CONNECTION_SPEC, "version": "1.0"},
        },
    )
    target = apis.flows.create(
        "targetConnections",
        {
            "name": "zoho-aep acme Leads",
            "data": {"schema": {"id": schema.id, "version": XED_FULL}},
            "params": {"dataSetId": dataset_id},
            "connectionSpec": {"id": DATA_LAKE_CONNECTION_SPEC, "version": "1.0"},
        },
    )
    mapping = apis.dataprep.create_mapping_set(mapping_set_body(tenant, schema.id, FIELDS))
    flow = apis.flows.create(
        "flows",
        {
            "name": "zoho-aep acme Leads",
            "flowSpec": {"id": CLOUD_STORAGE_FLOW_SPEC, "version": "1.0"},
            "sourceConnectionIds": [source.id],
            "targetConnectionIds": [target.id],
            "transformations": [{"name": "Mapping", "params": {"mappingId": mapping.id, "mappingVersion": 0}}],
            "scheduleParams": schedule(clock),
        },
    )
    return Provisioned(base.id, apis.flows.get("flows", flow.id), dataset_id, group.alt_id)


def lead(record_id: str, modified: str = "2026-07-20T00:51:23+05:30", deleted: str = "false") -> dict[str, str]:
    return {"id": record_id, "Email": f"{record_id}@acme.example", "Modified_Time": modified,
            "Annual_Revenue": "1200.5", "zoho_deleted": deleted}  # fmt: skip


# ---- the patched moto -------------------------------------------------------------------------------
def test_moto_enforces_the_prefix_condition_of_list_bucket(world: World) -> None:
    world.put_csv("zoho/acme/Leads/a.csv.gz", [lead("1")])
    world.put_csv("state/acme/secret.csv.gz", [lead("2")])
    reader = world.s3("reader")
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=BUCKET, Prefix="zoho/")["Contents"]] == [
        "zoho/acme/Leads/a.csv.gz"
    ]
    for prefix in ("state/", ""):
        with pytest.raises(reader.exceptions.ClientError, match="AccessDenied"):
            reader.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    with pytest.raises(reader.exceptions.ClientError, match="AccessDenied"):
        reader.get_object(Bucket=BUCKET, Key="state/acme/secret.csv.gz")


# ---- specs and base connections --------------------------------------------------------------------
def test_the_s3_spec_is_served_with_the_auth_spec_the_product_sends(apis: Apis) -> None:
    spec = apis.flows.get_connection_spec(S3_CONNECTION_SPEC)
    assert [a["name"] for a in spec["authSpec"]] == [S3_AUTH_SPEC]
    assert apis.flows.get_flow_spec(CLOUD_STORAGE_FLOW_SPEC)["name"] == "CloudStorageToAEP"


def test_the_zoho_spec_can_be_retired_while_s3_stays(adobe: AdobeEmulator, apis: Apis) -> None:
    adobe.zoho_spec_state = "gone"
    with pytest.raises(AdobeError) as caught:
        apis.flows.get_connection_spec("929e4450-0237-4ed2-9404-b7e1e0a00309")
    assert caught.value.code == "aep-not-found"
    assert apis.flows.get_connection_spec(S3_CONNECTION_SPEC)["id"] == S3_CONNECTION_SPEC


def test_an_s3_connection_needs_both_keys_and_never_reads_back_the_secret(apis: Apis, world: World) -> None:
    body = base_body(world)
    del body["auth"]["params"]["s3SecretKey"]
    with pytest.raises(AdobeError, match="1400-400"):
        apis.flows.create_connection(body)
    ref = apis.flows.create_connection(base_body(world))
    raw = requests.get(f"{apis.flows.base_url}/connections/{ref.id}", headers=_headers(apis), timeout=5).json()[
        "items"
    ][0]
    assert "s3SecretKey" not in raw["auth"]["params"]
    assert raw["auth"]["params"]["s3AccessKey"] == world.keys["reader"]["s3AccessKey"]


def test_patch_auth_params_needs_the_current_etag(apis: Apis, world: World) -> None:
    ref = apis.flows.create_connection(base_body(world, "nolist"))
    operations = [{"op": "replace", "path": "/auth/params", "value": base_body(world)["auth"]["params"]}]
    with pytest.raises(AdobeEtagMismatch):
        apis.flows.patch_connection(ref.id, '"stale"', operations)
    new = apis.flows.patch_connection(ref.id, ref.etag, operations)
    assert new.etag != ref.etag
    assert apis.flows.explore_folder(ref.id, f"/{BUCKET}/zoho/acme") == []


# ---- explore with the connection's key --------------------------------------------------------------
def test_explore_lists_the_folder_with_the_connections_key(apis: Apis, world: World) -> None:
    world.put_csv("zoho/acme/Leads/a.csv.gz", [lead("1")])
    ref = apis.flows.create_connection(base_body(world))
    listed = apis.flows.explore_folder(ref.id, f"/{BUCKET}/zoho/acme")
    assert listed == [{"type": "folder", "name": "Leads", "path": f"/{BUCKET}/zoho/acme/Leads/", "canPreview": False}]
    files = apis.flows.explore_folder(ref.id, f"/{BUCKET}/zoho/acme/Leads")
    assert [f["name"] for f in files] == ["a.csv.gz"]


@pytest.mark.parametrize("breakage", ["no-list", "deleted-key"])
def test_explore_fails_as_aep_does_when_s3_refuses_the_key(apis: Apis, world: World, breakage: str) -> None:
    user = "nolist" if breakage == "no-list" else "reader"
    ref = apis.flows.create_connection(base_body(world, user))
    if breakage == "deleted-key":
        world.iam.delete_access_key(UserName="reader", AccessKeyId=world.keys["reader"]["s3AccessKey"])
    with pytest.raises(AdobeError) as caught:
        apis.flows.explore_folder(ref.id, f"/{BUCKET}/zoho/acme")
    assert caught.value.status == 400 and caught.value.adobe_code == "2203-400"
    assert not caught.value.retryable


# ---- Schema Registry ----------------------------------------------------------------------------------
def test_titles_are_unique_per_kind_and_lookups_find_them(apis: Apis) -> None:
    assert apis.registry.tenant_id() == TENANT_ID
    cls = apis.registry.create("classes", record_class_body("Zoho CRM record (zoho-aep)"))
    with pytest.raises(AdobeTitleTaken):
        apis.registry.create("classes", record_class_body("Zoho CRM record (zoho-aep)"))
    assert [r.id for r in apis.registry.find("classes", "Zoho CRM record (zoho-aep)")] == [cls.id]
    assert apis.registry.get("classes", cls.id).alt_id == apis.registry.get("classes", cls.alt_id).alt_id


def test_field_groups_change_additively_only(apis: Apis) -> None:
    cls = apis.registry.create("classes", record_class_body("c"))
    group = apis.registry.create("fieldgroups", field_group_body(TENANT_ID, "g", cls.id, FIELDS[:2]))
    added = apis.registry.patch(
        "fieldgroups", group.alt_id, field_group_additions(TENANT_ID, [XdmField("Phone", STRING)])
    )
    assert "Phone" in added.properties(TENANT_ID, "zohoCrm") and added.version == "1.1"
    retype = field_group_additions(TENANT_ID, [XdmField("Email", NUMBER)])
    remove = [{"op": "remove", "path": retype[0]["path"]}]
    for operations in (retype, remove):
        with pytest.raises(AdobeError) as caught:
            apis.registry.patch("fieldgroups", group.alt_id, operations)
        assert caught.value.adobe_code == "XDM-1022-400"


# ---- flows --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [{"interval": "14"}, {"startTime": "1795000000000"}, {"frequency": "hourly"}, {"frequency": "once"}],
)
def test_schedules_are_validated_as_the_flow_spec_says(
    apis: Apis, world: World, clock: FakeClock, change: dict[str, str]
) -> None:
    made = provision(apis, world, clock)
    operations = [{"op": "replace", "path": "/scheduleParams", "value": {**schedule(clock), **change}}]
    with pytest.raises(AdobeError, match="1400-400"):
        apis.flows.patch_flow(made.flow.id, str(made.flow.etag), operations)


def test_flow_patch_needs_if_match_and_moves_the_mapping(apis: Apis, world: World, clock: FakeClock) -> None:
    made = provision(apis, world, clock)
    step = made.flow.record["transformations"][0]
    body = mapping_set_body(TENANT_ID, _schema_of(apis, made), FIELDS)
    mapping = apis.dataprep.update_mapping_set(step["params"]["mappingId"], body)
    assert mapping.version == 1
    operations = [{"op": "replace", "path": "/transformations/0",
                   "value": {"name": "Mapping", "params": {"mappingId": mapping.id, "mappingVersion": 1}}}]  # fmt: skip
    with pytest.raises(AdobeEtagMismatch):
        apis.flows.patch_flow(made.flow.id, '"old"', operations)
    apis.flows.patch_flow(made.flow.id, str(made.flow.etag), operations)
    assert apis.flows.get("flows", made.flow.id).record["transformations"][0]["params"]["mappingVersion"] == 1
    apis.flows.set_flow_state(made.flow.id, False)
    assert apis.flows.get("flows", made.flow.id).record["state"] == "disabled"
    assert apis.flows.find("flows", "zoho-aep acme Leads")[0].id == made.flow.id


# ---- ingestion ----------------------------------------------------------------------------------------
def test_runs_ingest_new_files_only_with_row_errors_and_tombstones(
    adobe: AdobeEmulator, apis: Apis, world: World, clock: FakeClock
) -> None:
    made = provision(apis, world, clock)
    world.put_csv("zoho/acme/Leads/20260720T000000Z-00001.csv.gz", [lead("1"), lead("2", modified="20 July 2026")])
    [first] = adobe.run_dataflows("prod")
    assert first["metrics"]["statusSummary"]["status"] == "partialSuccess"
    run = apis.flows.runs(made.flow.id)[0]
    assert (run.records_in, run.records_out, run.records_failed, run.files) == (2, 1, 1, 1)
    assert "MAPPER-3700-400" in run.error_codes
    [row] = adobe.dataset_rows(made.dataset_id)
    assert row[f"_{TENANT_ID}"]["zohoCrm"] == {
        "id": "1", "Email": "1@acme.example", "Modified_Time": "2026-07-19T19:21:23Z", "Annual_Revenue": 1200.5,
        "zoho_deleted": False,
    }  # fmt: skip

    clock.advance(900)
    world.put_csv("zoho/acme/Leads/20260720T003000Z-00001.csv.gz", [lead("1", deleted="true")])
    adobe.run_dataflows()
    runs = apis.flows.runs(made.flow.id)
    assert [r.status for r in runs] == ["success", "partialSuccess"]
    assert (runs[0].records_in, runs[0].files) == (1, 1)
    rows = adobe.dataset_rows(adobe.dataset_id_named("prod", "Zoho CRM Leads (acme)"))
    assert [r[f"_{TENANT_ID}"]["zohoCrm"]["zoho_deleted"] for r in rows] == [False, True]
    assert adobe.runs_of(made.flow.id)[0]["id"] == runs[0].id


def test_a_broken_key_fails_the_run_and_the_files_wait(
    adobe: AdobeEmulator, apis: Apis, world: World, clock: FakeClock
) -> None:
    made = provision(apis, world, clock)
    world.put_csv("zoho/acme/Leads/a.csv.gz", [lead("1")])
    world.iam.delete_access_key(UserName="reader", AccessKeyId=world.keys["reader"]["s3AccessKey"])
    adobe.run_dataflows()
    [run] = apis.flows.runs(made.flow.id)
    assert run.status == "failed" and run.error_codes == ("CONNECTOR-1001-500",)
    assert adobe.dataset_rows(made.dataset_id) == []
    operations = [{"op": "replace", "path": "/auth/params", "value": base_body(world, "admin")["auth"]["params"]}]
    apis.flows.patch_connection(made.base_id, apis.flows.get_connection(made.base_id).etag, operations)
    clock.advance(900)
    adobe.run_dataflows()
    assert apis.flows.runs(made.flow.id)[0].status == "success"
    assert len(adobe.dataset_rows(made.dataset_id)) == 1


def test_a_key_without_list_bucket_fails_the_run(
    adobe: AdobeEmulator, apis: Apis, world: World, clock: FakeClock
) -> None:
    made = provision(apis, world, clock, user="nolist")
    world.put_csv("zoho/acme/Leads/a.csv.gz", [lead("1")])
    adobe.run_dataflows()
    assert apis.flows.runs(made.flow.id)[0].status == "failed"


# ---- helpers ------------------------------------------------------------------------------------------
def _schema_of(apis: Apis, made: Provisioned) -> str:
    schema = apis.catalog.get_dataset(made.dataset_id).schema_id
    assert schema is not None
    return schema


def _headers(apis: Apis) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {apis.flows.ims.token()}",
        "x-api-key": ADOBE_CLIENT_ID,
        "x-gw-ims-org-id": ADOBE_ORG_ID,
        "x-sandbox-name": "prod",
    }
