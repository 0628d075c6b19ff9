"""The S3 path end to end: a consented connection, its export to moto's S3, AEP (emulated) reading it.

``S3PathWorld`` is an ``ExportWorld`` (moto's S3 and Secrets Manager, the Zoho emulator, the export's
production adapters) plus the Adobe emulator and the S3 path's AEP side, wired as
``wiring.s3_source_deps`` wires it: the four Platform API clients per sandbox, the reader's key in
``{prefix}/aep-s3-reader``, the provisioning path choice. The reader is a real IAM user of moto with
the template's read-only policy (``reader_policy``), so what AEP may read is what IAM lets that key read.
"""

from __future__ import annotations

import json
from typing import Any

from local.aep_s3_step import reader_policy
from local.emulators.adobe import AdobeEmulator
from tests.support.aep import ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID, adobe_secret
from tests.support.constants import PREFIX
from tests.support.export_world import BUCKET, ExportWorld
from tests.support.reader_rotation import begin_rotation, patch_moto_for_rotation
from zoho_aep.adapters.adobe.catalog import CatalogClient
from zoho_aep.adapters.adobe.dataflows import DataflowClient
from zoho_aep.adapters.adobe.dataprep import DataPrepClient
from zoho_aep.adapters.adobe.flow import FlowServiceClient
from zoho_aep.adapters.adobe.ims import ImsTokenProvider
from zoho_aep.adapters.adobe.registry import SchemaRegistryClient
from zoho_aep.adapters.http import HttpClient, RetryPolicy
from zoho_aep.adapters.iam import ReaderUserKeys
from zoho_aep.adapters.secrets import READER_SECRET, AppSecrets, RotatingSecret
from zoho_aep.config.settings import Settings, load_settings
from zoho_aep.domain.aep import AepState, dataset_name
from zoho_aep.domain.errors import AdobeUnavailable, ZohoAepError
from zoho_aep.domain.xdm import TENANT_OBJECT
from zoho_aep.usecases.aep_path import PathDeps, provision_along
from zoho_aep.usecases.provision import ProvisionDeps, ProvisionResult
from zoho_aep.usecases.reader_key import STEPS, RotationDeps, rotate_reader_key
from zoho_aep.usecases.s3_source.deps import AepApis, S3SourceDeps
from zoho_aep.wiring import ADOBE_POLICY

READER_USER = "zoho-aep-aep-s3-reader"
MODULES = ("Leads", "Contacts")


class S3PathWorld(ExportWorld):
    """An ExportWorld whose connection ``acme`` is provisioned on the S3 path in the emulated AEP."""

    def __init__(
        self,
        sm: Any,
        s3: Any,
        zoho: Any,
        adobe: AdobeEmulator,
        clock: Any,
        tmp_path: Any,
        *,
        env: dict[str, str] | None = None,
        adobe_policy: RetryPolicy = ADOBE_POLICY,
    ) -> None:
        super().__init__(sm, s3, zoho, clock, tmp_path)
        self.adobe = adobe
        self.adobe_policy = adobe_policy  # the fault matrix shortens its waits
        adobe.register_credential(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID)
        sm.put_secret_value(SecretId=f"{PREFIX}/adobe", SecretString=adobe_secret())
        self.iam = _iam_client(s3)
        self.runs_counted: list[tuple[str, bool]] = []  # what the watch judged (the AepRuns metric)
        self.reader_key = self.make_reader()
        self.aep_settings = self.settings_with(env or {})
        self.aep_secrets = AppSecrets(PREFIX, sm, max_age=0)
        self.source = self.s3_deps(self.aep_settings)
        self.path = PathDeps(self.native_deps(self.aep_settings), lambda: self.source)
        self.export.modules = self.aep_settings.export_modules

    # ---- wiring ---------------------------------------------------------------------------------
    def settings_with(self, env: dict[str, str]) -> Settings:
        return load_settings(
            {
                "SECRET_PREFIX": PREFIX,
                "ZOHO_DATA_CENTERS_JSON": self.zoho.data_centers_json(),
                "ADOBE_IMS_URL": self.adobe.base_url,
                "ADOBE_PLATFORM_URL": self.adobe.base_url,
                "EXPORT_BUCKET": BUCKET,
                "EXPORT_MODULES": ",".join(MODULES),
                "AEP_SOURCE_PATH": "auto",
                **env,
            }
        )

    def apis(self, sandbox: str) -> AepApis:
        http = HttpClient(self.adobe_policy, sleep=lambda _s: None, rng=lambda: 1.0)
        ims = ImsTokenProvider(http, self.aep_settings.adobe_ims_url, self.aep_secrets.adobe, clock=self.clock)
        parts = (http, self.aep_settings.adobe_platform_url, ims, self.aep_secrets.adobe, sandbox)
        return AepApis(
            DataflowClient(*parts), SchemaRegistryClient(*parts), CatalogClient(*parts), DataPrepClient(*parts)
        )

    def s3_deps(self, settings: Settings) -> S3SourceDeps:
        return S3SourceDeps(
            settings=settings,
            store=self.store,
            app_secrets=self.aep_secrets,
            refresh=self.deps,
            crm=self.export.crm,
            bucket=self.bucket,
            aep=self.apis,
            events=self.events,
            logger=self.logger,
            clock=self.clock,
            on_run=lambda outcome, failed: self.runs_counted.append((outcome, failed)),
        )

    def native_deps(self, settings: Settings) -> ProvisionDeps:
        http = HttpClient(self.adobe_policy, sleep=lambda _s: None, rng=lambda: 1.0)
        ims = ImsTokenProvider(http, settings.adobe_ims_url, self.aep_secrets.adobe, clock=self.clock)

        def flow(sandbox: str) -> FlowServiceClient:
            return FlowServiceClient(http, settings.adobe_platform_url, ims, self.aep_secrets.adobe, sandbox)

        return ProvisionDeps(
            settings=settings,
            app_secrets=self.aep_secrets,
            store=self.store,
            zoho=self.oauth,
            flow=flow,
            events=self.events,
            logger=self.logger,
            clock=self.clock,
        )

    # ---- the reader -----------------------------------------------------------------------------
    def make_reader(self, policy: dict[str, Any] | None = None) -> dict[str, str]:
        """The stack's reader user with a key, stored in ``{prefix}/aep-s3-reader``."""
        self.iam.create_user(UserName=READER_USER)
        self.iam.put_user_policy(
            UserName=READER_USER, PolicyName="read-export", PolicyDocument=json.dumps(policy or reader_policy(BUCKET))
        )
        return self.new_reader_key()

    def new_reader_key(self) -> dict[str, str]:
        key = self.iam.create_access_key(UserName=READER_USER)["AccessKey"]
        value = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
        name = f"{PREFIX}/{READER_SECRET}"
        try:
            self.sm.put_secret_value(SecretId=name, SecretString=json.dumps(value))
        except self.sm.exceptions.ResourceNotFoundException:
            self.sm.create_secret(Name=name, SecretString=json.dumps(value))
        return value

    # ---- acting ---------------------------------------------------------------------------------
    def provision(self, connection: str = "acme", path: str | None = None) -> ProvisionResult:
        return provision_along(self.path, connection, path)

    def export_all(self, connection: str = "acme", runs: int = 10) -> None:
        """Export every module until each window is done (the clock moves a minute per pass)."""
        for _ in range(runs):
            report = self.run(connection)
            if all(o.outcome in ("completed", "not-due") for o in report.outcomes):
                return
            self.clock.advance(60)
        raise AssertionError("the export did not finish")

    def ingest(self, sandbox: str = "prod") -> list[dict[str, Any]]:
        """AEP's dataflows run now (the emulator reads the bucket with the base connection's key)."""
        return self.adobe.run_dataflows(sandbox)

    # ---- looking --------------------------------------------------------------------------------
    def dataset_rows(self, module: str, connection: str = "acme", sandbox: str = "prod") -> list[dict[str, Any]]:
        """The module's rows in its AEP dataset, as the Zoho fields under the tenant's object."""
        dataset = self.adobe.dataset_id_named(sandbox, dataset_name(connection, module))
        tenant = f"_{self.aep_state(connection).tenant_id}"
        return [row[tenant][TENANT_OBJECT] for row in self.adobe.dataset_rows(dataset)]

    def runs(self, module: str, connection: str = "acme") -> list[dict[str, Any]]:
        flow = self.aep_state(connection).module(module).flow_id
        assert flow, f"no dataflow for {connection}/{module}"
        return self.adobe.runs_of(flow)

    def aep_state(self, connection: str = "acme") -> AepState:
        state = self.bucket.read_aep_state(connection)
        assert state is not None, f"no AEP state for {connection}"
        return state


def _iam_client(s3: Any) -> Any:
    import boto3

    return boto3.client("iam", region_name=s3.meta.region_name)


# ---- the reader's key, rotated --------------------------------------------------------------------
def aep_down(*_: Any) -> Any:
    raise AdobeUnavailable("AEP is down.")


def rotate(world: S3PathWorld, fail_explore: bool = False) -> tuple[str, Any]:
    """Secrets Manager's four steps on the reader secret, against the emulated AEP (its real explore)."""
    patch_moto_for_rotation()
    secret_id = f"{PREFIX}/{READER_SECRET}"
    token = begin_rotation(secret_id)

    def flows(sandbox: str) -> Any:
        client = world.apis(sandbox).flows
        if fail_explore:
            client.explore_folder = aep_down  # type: ignore[method-assign,assignment]
        return client

    deps = RotationDeps(
        secret=RotatingSecret(world.sm),
        user=ReaderUserKeys(READER_USER, world.iam),
        states=world.bucket,
        flows=flows,
        bucket=BUCKET,
        service_url="https://s3.us-east-1.amazonaws.com",
        events=world.events,
        logger=world.logger,
        sleep=lambda _s: None,
        test_attempts=2,
    )
    error = None
    for step in STEPS:
        try:
            rotate_reader_key(deps, secret_id, token, step)
        except ZohoAepError as exc:
            error = exc
            break
    return token, error
