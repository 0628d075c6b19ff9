"""`python -m zoho_aep link` against moto's server, as an operator runs it; and `make demo`'s script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from local.sandbox import CLIENT_ID, STATE_KEY, Sandbox, local_world, seed_app_secrets
from zoho_aep.domain.links import verify_state

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world() -> Iterator[Sandbox]:
    with local_world() as sandbox:
        seed_app_secrets(sandbox)
        yield sandbox


def run_cli(world: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **world.env, "PYTHONPATH": str(ROOT / "layers/common"), **env}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "zoho_aep", *args], capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=60
    )


def test_link_prints_the_stacks_connect_route_alone_on_the_last_line(world: Sandbox) -> None:
    result = run_cli(world, "link", "--connection", "acme", "--sandbox", "prod")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().splitlines()[-1]
    parts = urlsplit(url)
    # The stack's own route beside the callback: it checks the link, then sends the person to Zoho.
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == world.callback_url.replace("/callback", "/connect")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["dc"] == "us"
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == world.callback_url
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    state = verify_state(STATE_KEY, query["state"], __import__("time").time())
    assert (state.connection, state.sandbox) == ("acme", "prod")
    assert STATE_KEY not in result.stdout + result.stderr


def _state_and_query(result: subprocess.CompletedProcess[str]) -> tuple[Any, dict[str, str]]:
    query = {k: v[0] for k, v in parse_qs(urlsplit(result.stdout.strip().splitlines()[-1]).query).items()}
    return verify_state(STATE_KEY, query["state"], __import__("time").time()), query


def test_link_carries_a_pkce_challenge_and_binds_the_org_and_data_center_it_is_told(world: Sandbox) -> None:
    result = run_cli(
        world, "link", "--connection", "acme", "--sandbox", "prod", "--zoho-org-id", "800100", "--data-center", "eu"
    )
    assert result.returncode == 0, result.stderr
    state, query = _state_and_query(result)
    assert (state.zoho_org_id, state.data_center, state.pkce) == ("800100", "eu", True)
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert "It connects only Zoho org 800100 in data center eu." in result.stdout


def test_link_without_flags_binds_nothing(world: Sandbox) -> None:
    state, _ = _state_and_query(run_cli(world, "link", "--connection", "acme", "--sandbox", "prod"))
    assert (state.zoho_org_id, state.data_center, state.pkce) == (None, None, True)


@pytest.mark.parametrize(("setting", "pkce"), [("eu", False), ("all", False), ("cn,jp", True), ("none", True)])
def test_the_pkce_setting_turns_the_challenge_off_for_the_data_centers_it_names(
    world: Sandbox, setting: str, pkce: bool
) -> None:
    result = run_cli(
        world, "link", "--connection", "acme", "--sandbox", "prod", "--data-center", "eu",
        ZOHO_PKCE_OFF_DATA_CENTERS=setting,
    )  # fmt: skip
    state, query = _state_and_query(result)
    assert state.pkce is pkce and ("code_challenge" in query) is pkce


def test_link_honours_secret_prefix_from_the_environment(world: Sandbox) -> None:
    result = run_cli(world, "link", "--connection", "acme", "--sandbox", "prod", SECRET_PREFIX="other-prefix")
    assert result.returncode == 3
    assert "other-prefix/zoho-client" in result.stderr


def test_link_flags_override_the_environment(world: Sandbox) -> None:
    result = run_cli(
        world,
        "link", "--connection", "acme", "--sandbox", "prod", "--ttl-minutes", "5",
        "--scopes", "ZohoCRM.modules.READ,ZohoCRM.org.READ", "--callback-url", "https://cb.example.com/oauth/callback",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    query = {k: v[0] for k, v in parse_qs(urlsplit(result.stdout.strip().splitlines()[-1]).query).items()}
    assert query["scope"] == "ZohoCRM.modules.READ,ZohoCRM.org.READ"
    assert query["redirect_uri"] == "https://cb.example.com/oauth/callback"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--connection", "Bad Name", "--sandbox", "prod"], 2, "connection-name-invalid"),
        (["--connection", "acme", "--sandbox", "Prod!"], 2, "sandbox-name-invalid"),
        (["--connection", "acme", "--sandbox", "prod", "--data-center", "mars"], 2, "data-center-unknown"),
        (["--connection", "acme", "--sandbox", "prod", "--ttl-minutes", "0"], 2, "link-ttl-invalid"),
        (["--connection", "acme", "--sandbox", "prod", "--zoho-org-id", "80 01"], 2, "zoho-org-id-invalid"),
        (["--connection", "acme", "--sandbox", "prod", "--scopes", "not a scope"], 3, "--scopes"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_documented_exit_code(
    world: Sandbox, args: list[str], code: int, needle: str
) -> None:
    result = run_cli(world, "link", *args)
    assert result.returncode == code
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_link_without_callback_url_says_what_to_do(world: Sandbox) -> None:
    result = run_cli(world, "link", "--connection", "acme", "--sandbox", "prod", CALLBACK_URL="")
    assert result.returncode == 3 and "--callback-url" in result.stderr


@pytest.mark.slow
def test_make_demo_script_runs_the_whole_onboarding() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "local.demo"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "HTTP 200: Zoho CRM connected" in result.stdout
    assert '"zoho-aep:status": "active"' in result.stdout
    assert "Path: amazon-s3 (AepSourcePath auto; Adobe no longer serves its Zoho CRM source)" in result.stdout
    assert "Leads     schema + dataset 'Zoho CRM Leads (acme)'" in result.stdout
    assert "1 of 1 connection(s) refreshed" in result.stdout
    assert "Leads     completed: 1200 records in 3 file(s)" in result.stdout
    # The records as rows in the emulated AEP datasets, then the delta as a second run.
    assert "Leads     run success: 1200 rows read, 0 failed; dataset 'Zoho CRM Leads (acme)' has 1200 rows" in (
        result.stdout
    )
    assert "The run watch looked at 4 dataflows of 1 connection(s): failing none." in result.stdout
    assert "Contacts  0 changed, 1 deleted, 1 new file(s)" in result.stdout
    assert "Contacts  run success: 1 rows read, 0 failed; dataset 'Zoho CRM Contacts (acme)' has 801 rows" in (
        result.stdout
    )
    assert "Demo complete." in result.stdout
    # A story on the terminal: the functions' JSON log and metric lines are in the log file it names.
    assert [line for line in result.stdout.splitlines() if line.lstrip().startswith('{"')] == []
    log_file = ROOT / ".local-sandbox" / "demo.log"
    assert f"go to {log_file}" in result.stdout
    logged = log_file.read_text()
    assert '"message":"callback outcome"' in logged and '"CloudWatchMetrics"' in logged
