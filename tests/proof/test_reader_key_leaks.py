"""The S3 path never shows AEP's reader key: not in a log record (raw, at DEBUG), an event, an answer,
the command line's output, or an error, through provisioning, the export, the watch, a rotation (good
and failed) and a disconnect. The autouse leak hunt (``conftest.py``) searches logs and output; this
scenario adds what only it sees, and the reader's secret access keys (old and new) as needles.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from local.emulators.adobe import AdobeEmulator
from tests.support.aep import adobe_fixture  # noqa: F401
from tests.support.constants import PREFIX
from tests.support.export_world import BUCKET, US_ORG
from tests.support.fakes import FakeClock
from tests.support.leaks import LeakHunt
from tests.support.s3_path_world import READER_USER, S3PathWorld, rotate
from zoho_aep.edges import cli
from zoho_aep.usecases.disconnect import disconnect
from zoho_aep.usecases.s3_source.watch import watch_runs

pytestmark = pytest.mark.usefixtures("app_secrets_seeded")


def cli_output(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        cli.main(list(argv))
    return out.getvalue() + err.getvalue()


def test_the_reader_key_is_never_shown_on_the_s3_path(
    sm: Any,
    s3: Any,
    zoho: Any,
    adobe: AdobeEmulator,
    clock: FakeClock,
    tmp_path: Any,
    hunt: LeakHunt,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = S3PathWorld(sm, s3, zoho, adobe, clock, tmp_path)
    hunt.secret(world.reader_key["secret_access_key"])
    world.consent("acme")
    zoho.crm.add_many(US_ORG, "Leads", 5, modified_at=clock() - 3600)
    adobe.zoho_spec_state = "gone"
    answers: list[Any] = []
    try:
        answers.append(world.provision().as_dict())
        world.export_all()
        answers.append(world.ingest())
        answers.append(watch_runs(world.source).as_dict())
        _, error = rotate(world)
        assert error is None
        _, failed = rotate(world, fail_explore=True)
        assert failed is not None
        answers.append(str(failed))
        for version in sm.list_secret_version_ids(SecretId=f"{PREFIX}/aep-s3-reader")["Versions"]:
            value = sm.get_secret_value(SecretId=f"{PREFIX}/aep-s3-reader", VersionId=version["VersionId"])
            hunt.secret(json.loads(value["SecretString"]).get("secret_access_key"))
        monkeypatch.setenv("SECRET_PREFIX", PREFIX)
        monkeypatch.setenv("EXPORT_BUCKET", BUCKET)
        answers.append(cli_output("status", "--json"))
        answers.append(cli_output("status"))
        answers.append(disconnect(world.path.native, "acme", s3=world.source).as_dict())
        assert world.iam.list_access_keys(UserName=READER_USER)["AccessKeyMetadata"]
    finally:
        world.close()
    hunt.look_in("answer", *answers)
    hunt.look_in("event", *world.events.events)
    hunt.look_in("log line", *world.log.lines)
    hunt.look_in("AEP state", *[o.key for o in world.bucket.objects("state/")])
    assert len(hunt.all_needles()) >= 4
