"""A complete local world for zoho-aep: moto's Secrets Manager/EventBridge server and the Zoho emulator.

Used by ``make demo`` (and by tests that need real endpoints in another process). Everything binds
to 127.0.0.1 on free ports and stops with the context manager.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from local.emulators.zoho import ZohoEmulator

PREFIX = "zoho-aep"
CLIENT_ID = "1000.LOCALSANDBOXCLIENT"
CLIENT_SECRET = "local-sandbox-client-secret-0000000000"
STATE_KEY = "local-sandbox-state-key-0123456789abcdef0123456789"
ORG_ID = "800100"
ORG_NAME = "Acme Corp (emulated)"
ADMIN = "admin@acme.example"


@dataclass
class Sandbox:
    moto_url: str
    zoho: ZohoEmulator
    callback_url: str
    env: dict[str, str]

    def secrets_client(self) -> Any:
        from zoho_aep.adapters import aws

        return aws.client("secretsmanager")


def _start_moto() -> Any:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines in the demo's output

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


@contextmanager
def local_world(callback_url: str = "http://127.0.0.1:8400/oauth/callback") -> Iterator[Sandbox]:
    """Start moto's server and the Zoho emulator, point this process's environment at them."""
    from local import moto_patches  # moto's known gaps, patched as in the tests

    moto_patches.apply()
    server = _start_moto()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    # moto's backends live in this process: start from an empty account even if a server ran before.
    import requests

    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    zoho = ZohoEmulator().start()
    zoho.register_client(CLIENT_ID, CLIENT_SECRET, [callback_url])
    zoho.add_org("eu", ORG_ID, ORG_NAME, user=ADMIN)
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
        # boto3 names the variable after the service id "EventBridge" (not the endpoint prefix "events").
        "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
        "AWS_ENDPOINT_URL_CLOUDFORMATION": moto_url,
        "AWS_ENDPOINT_URL_LAMBDA": moto_url,
        "AWS_ENDPOINT_URL_SQS": moto_url,
        "AWS_ENDPOINT_URL_S3": moto_url,
        "AWS_ENDPOINT_URL_IAM": moto_url,
        "SECRET_PREFIX": PREFIX,
        "CALLBACK_URL": callback_url,
        "EVENT_BUS_NAME": "default",
        "ZOHO_DATA_CENTERS_JSON": zoho.data_centers_json(),
        "POWERTOOLS_METRICS_NAMESPACE": "ZohoAep",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from zoho_aep.adapters import aws

    aws.reset_clients()
    try:
        yield Sandbox(moto_url=moto_url, zoho=zoho, callback_url=callback_url, env=env)
    finally:
        zoho.stop()
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        aws.reset_clients()


def seed_app_secrets(sandbox: Sandbox) -> None:
    """What `sam deploy` (state key, empty secrets) and `zoho-aep configure` (credentials) leave behind."""
    sm = sandbox.secrets_client()
    sm.create_secret(
        Name=f"{PREFIX}/zoho-client", SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    )
    sm.create_secret(Name=f"{PREFIX}/adobe", SecretString="{}")
    sm.create_secret(Name=f"{PREFIX}/state-key", SecretString=STATE_KEY)
