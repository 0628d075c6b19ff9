"""`make local` for an operator's first hour: the env file makes every command work against the
sandbox, refresh and provision reach its functions, nothing falls back to a real host, a busy port
names the variable to set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from local.run import ENV_FILE, ENV_KEYS, LocalStack, PortBusy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, refresh_every=0, export_every=0, ingest_every=0) as running:
        running.write_env_file()
        yield running
    ENV_FILE.unlink(missing_ok=True)


def zoho_aep(*args: str, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The command in a fresh shell that has sourced the env file (nothing else of this process's AWS set-up)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ADOBE_", "ZOHO_", "SECRET_"))}
    env["PYTHONPATH"] = str(ROOT / "layers/common")
    unsets = "".join(f"unset {name}; " for name in unset)
    command = f"source {ENV_FILE} && {unsets}exec {sys.executable} -m zoho_aep " + " ".join(args)
    return subprocess.run(  # noqa: S603 - our own command line
        ["/bin/bash", "-c", command], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False
    )


def test_the_env_file_holds_every_variable_the_sandbox_uses(stack: LocalStack) -> None:
    text = ENV_FILE.read_text()
    assert [k for k in ENV_KEYS if f"export {k}=" not in text] == []
    for key in ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_LAMBDA", "ADOBE_PLATFORM_URL", "CALLBACK_URL"):
        assert "127.0.0.1" in stack.world.env[key]


def test_link_status_refresh_provision_and_disconnect_work_against_the_sandbox(stack: LocalStack) -> None:
    link = zoho_aep("link", "--connection", "acme", "--sandbox", "prod")
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip().splitlines()[-1]
    opened = requests.get(url, allow_redirects=False, timeout=10)  # the stack's connect route
    assert opened.status_code == 302
    redirect = stack.world.zoho.consent(opened.headers["Location"])
    assert requests.get(redirect, timeout=30).status_code == 200  # the callback, through the local API

    for _ in range(100):  # the authorized event reaches provisioning through SQS (bounded wait)
        row = json.loads(zoho_aep("status", "acme", "--json").stdout)
        if row.get("base_connection"):
            break
        time.sleep(0.2)
    assert row["status"] == "active" and row["base_connection"]

    refreshed = zoho_aep("refresh", "acme")
    assert refreshed.returncode == 0 and "acme: refreshed" in refreshed.stdout, refreshed.stderr
    provisioned = zoho_aep("provision", "acme", "--json")
    assert provisioned.returncode == 0 and json.loads(provisioned.stdout)["ok"] is True, provisioned.stderr
    gone = zoho_aep("disconnect", "acme", "--yes")
    assert gone.returncode == 0 and "removed: AEP base connection" in gone.stdout, gone.stderr
    assert stack.adobe.connections_in("prod") == []


@pytest.mark.parametrize("variable", ["ADOBE_IMS_URL", "ZOHO_DATA_CENTERS_JSON", "AWS_ENDPOINT_URL_SECRETS_MANAGER"])
def test_while_the_sandbox_is_active_nothing_falls_back_to_a_real_host(stack: LocalStack, variable: str) -> None:
    result = zoho_aep("status", unset=(variable,))
    assert result.returncode == 3
    assert variable in result.stderr and "real" in result.stderr


def test_a_busy_port_names_the_variable_to_set() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortBusy) as info, LocalStack(port=port, refresh_every=0, export_every=0, ingest_every=0):
            pass
    assert f"Port {port}" in str(info.value) and "LOCAL_PORT" in str(info.value)


def test_the_local_lambda_endpoint_answers_an_unknown_function_as_lambda_does(stack: LocalStack) -> None:
    answer = requests.post(f"{stack.lambdas.base_url}/2015-03-31/functions/nope/invocations", data=b"{}", timeout=5)
    assert answer.status_code == 404 and answer.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert urlsplit(stack.lambdas.base_url).hostname == "127.0.0.1"
