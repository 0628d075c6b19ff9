"""The stack's alarms and dashboard watch metrics the functions really emit, with the same dimensions."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from local.emulators.adobe import AdobeEmulator
from local.functions import load_function
from tests.support.aep import adobe_fixture  # noqa: F401
from tests.support.constants import PREFIX
from tests.support.export_world import BUCKET, US_ORG
from tests.support.fakes import FakeClock, LambdaContext
from tests.support.refresh_world import RefreshWorld
from tests.support.s3_path_world import S3PathWorld

ROOT = Path(__file__).resolve().parents[2]


def template() -> dict[str, Any]:
    parsed, matches = decode_str((ROOT / "template.yaml").read_text())
    assert not matches and parsed is not None
    return dict(parsed)


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template()["Resources"].items() if r["Type"] == kind}


def emitted(stdout: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """(metric name, dimensions) pairs in the EMF lines a handler printed."""
    found = set()
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                values = frozenset((d, str(record[d])) for d in dims)
                for metric in directive["Metrics"]:
                    found.add((metric["Name"], values))
    return found


@pytest.fixture
def world(sm: Any, app_secrets_seeded: Any, zoho: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RefreshWorld]:
    monkeypatch.setenv("SECRET_PREFIX", PREFIX)
    monkeypatch.setenv("ZOHO_DATA_CENTERS_JSON", zoho.data_centers_json())
    bench = RefreshWorld(sm, zoho, FakeClock(time.time()))
    yield bench
    bench.close()


def failing_s3_path_run(
    sm: Any, s3: Any, zoho: Any, adobe: AdobeEmulator, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection on the S3 path whose last AEP run refused most of its rows (for the watch to find)."""
    s3_path = S3PathWorld(sm, s3, zoho, adobe, FakeClock(time.time()), tmp_path)
    s3_path.consent("ingesting")
    adobe.zoho_spec_state = "gone"
    assert s3_path.provision("ingesting").ok
    for _ in range(3):
        zoho.crm.put(US_ORG, "Leads", {"Last_Name": "Undated", "Created_Time": "31/13/2026 25:61"})
    s3_path.clock.advance(600)
    s3_path.export_all("ingesting")
    s3_path.ingest()
    s3_path.close()
    for name, value in (
        ("EXPORT_BUCKET", BUCKET),
        ("ADOBE_IMS_URL", adobe.base_url),
        ("ADOBE_PLATFORM_URL", adobe.base_url),
    ):
        monkeypatch.setenv(name, value)


def test_every_service_alarm_watches_a_metric_its_function_emits(
    world: RefreshWorld,
    capsys: Any,
    sm: Any,
    s3: Any,
    zoho: Any,
    adobe: AdobeEmulator,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world.zoho.override_next_token_response(expires_in=600)
    world.consent("acme")
    world.zoho.revoke_consent(world.value("acme")["refresh_token"])  # so the cycle fails and needs re-auth
    load_function("token_refresh").lambda_handler({}, LambdaContext())
    load_function("adobe_provisioning").lambda_handler({"connection": "ghost"}, LambdaContext())
    # An export that needs a new consent: a lasting failure.
    world.consent("narrow", scopes="ZohoCRM.modules.READ,ZohoCRM.org.READ,ZohoCRM.users.READ")
    s3.create_bucket(Bucket="zoho-aep-observed")
    monkeypatch.setenv("EXPORT_BUCKET", "zoho-aep-observed")
    load_function("zoho_export").lambda_handler({"connection": "narrow", "modules": ["Leads"]}, LambdaContext())
    # The run watch finds an AEP run that refused its rows (AepRunsFailed).
    failing_s3_path_run(sm, s3, zoho, adobe, tmp_path, monkeypatch)
    answer = load_function("adobe_provisioning").lambda_handler({"watch": "dataflow-runs"}, LambdaContext())
    assert answer["failing"] == ["ingesting/Leads"], answer
    out = emitted(capsys.readouterr().out)

    alarms = resources("AWS::CloudWatch::Alarm")
    checked = 0
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        if props.get("Namespace") != "ZohoAep":
            continue
        dims = frozenset((d["Name"], d["Value"]) for d in props.get("Dimensions", []))
        assert (props["MetricName"], dims) in out, f"{name} watches {props['MetricName']} {sorted(dims)}, never emitted"
        checked += 1
    assert checked >= 3


def test_alarms_notify_the_topic_and_the_email_subscription_is_optional() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    assert {"RefreshFailuresAlarm", "NeedsReauthorizationAlarm", "ProvisioningFailuresAlarm",
            "ProvisioningDeadLettersAlarm", "RefreshDeadLettersAlarm"} <= set(alarms)  # fmt: skip
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    subscription = resources("AWS::SNS::Subscription")["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    rule = resources("AWS::Events::Rule")["AttentionEventsRule"]["Properties"]
    branches = rule["EventPattern"]["$or"]
    assert {"detail-type": ["Zoho connection needs reauthorization"]} in branches
    assert {"detail-type": ["AEP provisioning failed"], "detail": {"retryable": [False]}} in branches


def test_dashboard_body_is_json_and_shows_what_operators_need() -> None:
    body_template, _ = resources("AWS::CloudWatch::Dashboard")["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", body_template))
    titles = " | ".join(w["properties"]["title"] for w in body["widgets"])
    for needle in ("refreshes", "failures by class", "re-authorization", "Provisioning outcomes",
                   "Dead-letter", "Callback outcomes by code"):  # fmt: skip
        assert needle.lower() in titles.lower()
