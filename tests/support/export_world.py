"""An export test bench: moto's S3 and Secrets Manager, the Zoho emulator over real HTTP, a fake clock.

Connections are consented and stored as the callback stores them (``RefreshWorld``); the export's
adapters are the production ones (``ExportBucket`` on moto's S3, ``ZohoCrmClient`` over HTTP).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from typing import Any

from tests.support.refresh_world import TEST_POLICY, RefreshWorld
from zoho_aep.adapters.http import HttpClient
from zoho_aep.adapters.s3 import ExportBucket
from zoho_aep.adapters.zoho.crm import ZohoCrmClient
from zoho_aep.domain.export import ExportState, ExportUnit
from zoho_aep.usecases.export.deps import ExportDeps
from zoho_aep.usecases.export.outcomes import ExportReport
from zoho_aep.usecases.export.tick import export_connection, scheduled_export

BUCKET = "zoho-aep-export-test"
US_ORG = "700001"  # the conftest's US org (admin@acme.example)


class ExportWorld(RefreshWorld):
    """A RefreshWorld with an export bucket and the export's deps."""

    def __init__(self, sm: Any, s3: Any, zoho: Any, clock: Any, tmp_path: Any) -> None:
        super().__init__(sm, zoho, clock)
        self.s3 = s3
        s3.create_bucket(Bucket=BUCKET)
        self.bucket = ExportBucket(BUCKET, s3, sleep=lambda s: None)
        self.export = ExportDeps(
            store=self.store,
            refresh=self.deps,
            crm=ZohoCrmClient(HttpClient(TEST_POLICY, sleep=lambda s: None)),
            bucket=self.bucket,
            events=self.events,
            modules=("Leads", "Contacts"),
            logger=self.logger,
            clock=clock,
            workdir=str(tmp_path),
        )

    # ---- acting ---------------------------------------------------------------------------------
    def run(self, connection: str = "acme", modules: tuple[str, ...] | None = None, full: bool = False) -> ExportReport:
        return export_connection(self.export, connection, modules=modules, full=full)

    def tick(self) -> ExportReport:
        return scheduled_export(self.export)

    # ---- looking --------------------------------------------------------------------------------
    def keys(self, prefix: str) -> list[str]:
        return sorted(o.key for o in self.bucket.objects(prefix))

    def files(self, connection: str = "acme", module: str = "Leads") -> list[str]:
        return self.keys(f"zoho/{connection}/{module}/")

    def rows(self, key: str) -> list[dict[str, str]]:
        body = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return list(csv.DictReader(io.StringIO(gzip.decompress(body).decode("utf-8"))))

    def all_rows(self, connection: str = "acme", module: str = "Leads") -> list[dict[str, str]]:
        return [row for key in self.files(connection, module) for row in self.rows(key)]

    def state(self, connection: str = "acme", module: str = "Leads") -> ExportState:
        state = self.bucket.read_state(ExportUnit(connection, module))
        assert state is not None, f"no export state for {connection}/{module}"
        return state

    def raw_state(self, connection: str = "acme", module: str = "Leads") -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=f"state/{connection}/{module}.json")["Body"].read())
