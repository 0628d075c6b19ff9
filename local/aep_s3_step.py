"""``make demo``'s AEP steps on the Amazon S3 path: provisioning, then AEP's dataflows reading the bucket.

:func:`prepare_s3_path` does what ``sam deploy`` and the operator do once: the export bucket, the
reader (an IAM user of moto with the stack's read-only policy, its key in ``{prefix}/aep-s3-reader``)
and the Adobe credential in ``{prefix}/adobe``. :func:`provision_along_the_path` runs the real
provisioning with ``AepSourcePath`` ``auto``: the emulated Adobe no longer serves its Zoho CRM source,
so the connection takes the S3 path, and its schemas, datasets and dataflows are printed.
:func:`show_ingestion` runs AEP's dataflows (the emulator reads the bucket with the key the base
connection holds) and prints the rows each module's dataset now has; :func:`show_watch` is one look
of the run watch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from local.aep_step import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG_ID
from local.emulators.adobe import AdobeEmulator
from local.functions import ROOT
from zoho_aep import wiring
from zoho_aep.adapters import aws
from zoho_aep.adapters.events import RecordingPublisher
from zoho_aep.adapters.s3 import ExportBucket
from zoho_aep.config.settings import Settings
from zoho_aep.domain.aep import dataset_name
from zoho_aep.usecases.aep_path import PathDeps, provision_along
from zoho_aep.usecases.provision import ProvisionResult
from zoho_aep.usecases.s3_source.watch import watch_runs

READER_USER = "zoho-aep-demo-aep-s3-reader"


def reader_policy(bucket: str) -> dict[str, Any]:
    """The template's ``AepReaderUser`` policy for ``bucket``, as moto enforces it: its S3 statements
    (moto plays no KMS here, so the export key's statement is left out)."""
    from cfnlint.decode import decode_str

    template, _ = decode_str((ROOT / "template.yaml").read_text())
    assert template is not None  # nosec B101  # the repository's own template
    (policy,) = json.loads(json.dumps(template["Resources"]["AepReaderUser"]["Properties"]["Policies"]))
    statements = []
    for statement in policy["PolicyDocument"]["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        arns = [_bucket_arn(resource, bucket) for resource in resources]
        if None in arns:
            continue
        statements.append({**statement, "Resource": arns})
    return {"Version": policy["PolicyDocument"]["Version"], "Statement": statements}


def _bucket_arn(resource: Any, bucket: str) -> str | None:
    """``!GetAtt ExportBucket.Arn`` and ``!Sub "${ExportBucket.Arn}/..."`` for ``bucket``; None otherwise."""
    if resource == {"Fn::GetAtt": ["ExportBucket", "Arn"]}:
        return f"arn:aws:s3:::{bucket}"
    sub = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    if isinstance(sub, str) and sub.startswith("${ExportBucket.Arn}"):
        return sub.replace("${ExportBucket.Arn}", f"arn:aws:s3:::{bucket}")
    return None


def prepare_s3_path(
    settings: Settings, adobe: AdobeEmulator, *, bucket: str, s3_url: str, sandbox: str = "prod"
) -> Settings:
    """The stack's S3-path resources and the operator's Adobe credential; the settings to use them."""
    adobe.register_credential(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG_ID)
    adobe.add_sandbox(sandbox)
    adobe.zoho_spec_state = "gone"  # as in AEP today: Adobe retired its Zoho CRM source
    secrets = aws.client("secretsmanager")
    credential = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "org_id": DEMO_ORG_ID}
    secrets.put_secret_value(SecretId=f"{settings.secret_prefix}/adobe", SecretString=json.dumps(credential))
    aws.client("s3").create_bucket(Bucket=bucket)
    iam = aws.client("iam")
    iam.create_user(UserName=READER_USER)
    iam.put_user_policy(
        UserName=READER_USER, PolicyName="read-export", PolicyDocument=json.dumps(reader_policy(bucket))
    )
    key = iam.create_access_key(UserName=READER_USER)["AccessKey"]
    reader = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    secrets.create_secret(Name=f"{settings.secret_prefix}/aep-s3-reader", SecretString=json.dumps(reader))
    return dataclasses.replace(
        settings,
        adobe_ims_url=adobe.base_url,
        adobe_platform_url=adobe.base_url,
        export_bucket=bucket,
        aep_s3_service_url=s3_url,
    )


def make_bucket_and_reader(prefix: str, bucket: str) -> None:
    """What ``sam deploy`` and the reader's first rotation leave: the bucket, the user, its key's secret."""
    aws.client("s3").create_bucket(Bucket=bucket)
    iam = aws.client("iam")
    iam.create_user(UserName=READER_USER)
    policy = json.dumps(reader_policy(bucket))
    iam.put_user_policy(UserName=READER_USER, PolicyName="read-export", PolicyDocument=policy)
    key = iam.create_access_key(UserName=READER_USER)["AccessKey"]
    reader = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
    aws.client("secretsmanager").create_secret(Name=f"{prefix}/aep-s3-reader", SecretString=json.dumps(reader))


def path_deps(settings: Settings, events: RecordingPublisher) -> PathDeps:
    deps = wiring.path_deps(settings, logging.getLogger("zoho_aep.demo.provisioning"))
    deps.native.events = events  # the demo shows events instead of sending them to a bus
    return deps


def provision_along_the_path(
    deps: PathDeps, events: RecordingPublisher, connection: str, adobe: AdobeEmulator, say: Callable[[str], None]
) -> ProvisionResult:
    """Provisioning as the event's rule starts it; what AEP now holds, module by module."""
    result = provision_along(deps, connection)
    if not result.ok:
        say(f"AEP provisioning failed: {result.reason_code} (see docs/reference.md, Codes)")
        return result
    say(f"Path: {result.path} (AepSourcePath auto; Adobe no longer serves its Zoho CRM source).")
    say(f"S3 base connection {result.base_connection_id} in sandbox '{result.sandbox}', read with the stack's key.")
    assert deps.s3 is not None  # nosec B101  # the demo deploys the export bucket
    state = deps.s3().bucket.read_aep_state(connection)
    for module in result.modules:
        item = state.module(module) if state else None
        fields = len(item.fields) if item else 0
        say(f"  {module:<9} schema + dataset '{dataset_name(connection, module)}' ({fields} fields), dataflow ok")
    for detail_type, detail in events.events:
        say(f"  event '{detail_type}': {json.dumps(detail, sort_keys=True)}")
    events.events.clear()
    return result


def show_ingestion(
    adobe: AdobeEmulator, bucket: ExportBucket, connection: str, say: Callable[[str], None], sandbox: str = "prod"
) -> dict[str, int]:
    """AEP's dataflows run now; each module's run and its dataset's rows. Returns rows per module."""
    runs = {run["flowId"]: run for run in adobe.run_dataflows(sandbox)}
    state = bucket.read_aep_state(connection)
    counts: dict[str, int] = {}
    for module, item in sorted(state.modules.items() if state else []):
        run = runs.get(str(item.flow_id), {})
        summary = run.get("metrics", {}).get("recordSummary", {})
        rows = adobe.dataset_rows(str(item.dataset_id))
        counts[module] = len(rows)
        say(
            f"{module:<9} run {run.get('metrics', {}).get('statusSummary', {}).get('status', '-')}: "
            f"{summary.get('inputRecordCount', 0)} rows read, {summary.get('failedRecordCount', 0)} failed; "
            f"dataset '{dataset_name(connection, module)}' has {len(rows)} rows"
        )
    return counts


def show_watch(deps: PathDeps, say: Callable[[str], None]) -> bool:
    """One look of the run watch (what AepWatchSchedule starts every AepWatchMinutes)."""
    assert deps.s3 is not None  # nosec B101
    outcome = watch_runs(deps.s3())
    failing = ", ".join(outcome.failed) or "none"
    say(f"The run watch looked at {outcome.flows} dataflows of {outcome.connections} connection(s): failing {failing}.")
    return not outcome.failed and not outcome.skipped
