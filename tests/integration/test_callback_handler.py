"""The deployed shape: functions/oauth_callback/app.py loaded as Lambda would, events to moto's bus."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from local.functions import load_function
from tests.support.constants import CALLBACK_URL, CLIENT_SECRET, EU_SECRET, PREFIX, STATE_KEY
from tests.support.fakes import LambdaContext, http_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def handler(zoho: Any, sm: Any, app_secrets_seeded: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("SECRET_PREFIX", PREFIX)
    monkeypatch.setenv("CALLBACK_URL", CALLBACK_URL)
    monkeypatch.setenv("ZOHO_DATA_CENTERS_JSON", zoho.data_centers_json())
    monkeypatch.setenv("EVENT_BUS_NAME", "default")
    yield load_function("oauth_callback")


def _link(zoho: Any, connection: str = "acme") -> str:
    from zoho_aep.config.settings import load_settings
    from zoho_aep.domain.links import build_connect_link

    settings = load_settings()
    import time

    return build_connect_link(
        table=settings.data_centers,
        client_id="1000.TESTCLIENT0001",
        state_key=STATE_KEY,
        redirect_uri=CALLBACK_URL,
        scopes=settings.zoho_scopes,
        connection=connection,
        sandbox="prod",
        now=time.time(),
    ).url


def test_lambda_handler_connects_and_publishes_to_eventbridge(
    handler: ModuleType, zoho: Any, sm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    zoho.clock = time.time  # the handler uses the real clock
    events = []
    from zoho_aep.adapters import aws

    aws.client("events").meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **kw: events.append(params["Entries"][0])
    )
    redirect = zoho.consent(_link(zoho))
    query = urlsplit(redirect).query
    answer = handler.lambda_handler(http_event(query), LambdaContext())
    assert answer["statusCode"] == 200, answer["body"]
    assert events[0]["DetailType"] == "Zoho connection authorized" and events[0]["Source"] == "zoho-aep"
    assert json.loads(events[0]["Detail"])["connection"] == "acme"
    out = capsys.readouterr()
    logged = out.out + out.err
    assert '"outcome":"connected"' in logged
    secret = json.loads(sm.get_secret_value(SecretId=f"{PREFIX}/connections/acme")["SecretString"])
    params = dict(parse_qsl(query))
    for value in (
        secret["access_token"],
        secret["refresh_token"],
        params["code"],
        params["state"],
        CLIENT_SECRET,
        EU_SECRET,
        STATE_KEY,
    ):
        assert value not in logged


def test_cold_start_with_a_bad_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_URL", "http://not-loopback.example/cb")
    from zoho_aep.domain.errors import ConfigError

    with pytest.raises(ConfigError, match="CALLBACK_URL"):
        load_function("oauth_callback")


def test_cold_start_without_callback_url_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLBACK_URL", raising=False)
    from zoho_aep.domain.errors import ConfigError

    with pytest.raises(ConfigError, match="CALLBACK_URL"):
        load_function("oauth_callback")


def test_handler_module_is_cheap_to_import() -> None:
    """boto3 and requests are imported only when the first real request needs them."""
    code = (
        "import sys, os; os.environ['CALLBACK_URL']='https://x.example/oauth/callback';"
        f"sys.path[:0]=[{str(ROOT / 'layers/common')!r}];"
        "import importlib.util as u;"
        f"s=u.spec_from_file_location('h', {str(ROOT / 'functions/oauth_callback/app.py')!r});"
        "m=u.module_from_spec(s); s.loader.exec_module(m);"
        "print(sorted(x for x in ('boto3','requests','botocore.client','botocore.session') if x in sys.modules))"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)  # noqa: S603
    assert result.stdout.strip() == "[]"
