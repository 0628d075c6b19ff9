"""Shared test setup: offline AWS (moto), emulators on 127.0.0.1, the product's settings."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

# Offline and deterministic before anything imports boto3.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "ZohoAep",
        "POWERTOOLS_DEV": "false",
        "SAM_CLI_TELEMETRY": "0",
    }
)
for _var in (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_EVENTS",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
):
    os.environ.pop(_var, None)

from local import moto_patches  # noqa: E402
from tests.support.constants import CALLBACK_URL, CLIENT_ID, CLIENT_SECRET, EU_SECRET, PREFIX, STATE_KEY  # noqa: E402
from tests.support.fakes import FakeClock  # noqa: E402

moto_patches.apply()
# Powertools keeps one logger per service for the process, whose handler holds the sys.stdout of the
# test that made it; pytest closes that capture afterwards. A later line to it must not print
# logging's traceback (source lines, test inputs) into another test's captured output.
logging.raiseExceptions = False


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process for Secrets Manager and EventBridge; fresh clients per test."""
    from moto import mock_aws

    from zoho_aep.adapters import aws as aws_clients

    aws_clients.reset_clients()
    with mock_aws():
        yield
    aws_clients.reset_clients()


@pytest.fixture
def sm(aws: None) -> Any:
    from zoho_aep.adapters import aws as aws_clients

    return aws_clients.client("secretsmanager")


@pytest.fixture
def s3(aws: None) -> Any:
    from zoho_aep.adapters import aws as aws_clients

    return aws_clients.client("s3")


@pytest.fixture
def app_secrets_seeded(sm: Any) -> dict[str, Any]:
    """The three app secrets as an operator would have configured them."""
    zoho_client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "client_secrets": {"eu": EU_SECRET}}
    sm.create_secret(Name=f"{PREFIX}/zoho-client", SecretString=json.dumps(zoho_client))
    sm.create_secret(Name=f"{PREFIX}/adobe", SecretString="{}")
    sm.create_secret(Name=f"{PREFIX}/state-key", SecretString=STATE_KEY)
    return zoho_client


@pytest.fixture
def zoho(clock: FakeClock) -> Iterator[Any]:
    """The Zoho emulator (every data center on its own port), with this suite's client registered."""
    from local.emulators.zoho import ZohoEmulator

    emulator = ZohoEmulator(clock=clock).start()
    emulator.register_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK_URL], secrets_by_dc={"eu": EU_SECRET})
    emulator.add_org("us", "700001", "Acme US", user="admin@acme.example")
    emulator.add_org("eu", "700002", "Acme EU", user="admin@acme-eu.example")
    try:
        yield emulator
    finally:
        emulator.stop()
