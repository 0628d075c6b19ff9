"""The operator's command line in-process against moto's server and the Zoho emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from local.sandbox import ADMIN, CLIENT_ID, ORG_ID, ORG_NAME, Sandbox, local_world, seed_app_secrets
from zoho_aep.adapters.secrets import ConnectionStore
from zoho_aep.edges import cli

SCOPES = "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ"


@pytest.fixture
def world() -> Iterator[Sandbox]:
    with local_world() as sandbox:
        seed_app_secrets(sandbox)
        yield sandbox


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_self_client_stores_the_connection_like_the_callback(world: Sandbox, capsys: Any) -> None:
    code = world.zoho.issue_self_client_code(CLIENT_ID, "eu", SCOPES, user=ADMIN)
    calls: list[dict[str, Any]] = []
    from zoho_aep.adapters import aws

    aws.client("events").meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **kw: calls.append(params["Entries"][0])
    )
    status, out, err = run(
        capsys, "import-self-client", "--connection", "acme", "--sandbox", "prod", "--data-center", "eu", "--code", code
    )
    assert status == 0, err
    assert "Connection 'acme' stored" in out and ORG_ID in out
    (token_call,) = world.zoho.calls("/oauth/v2/token")
    assert "redirect_uri" not in token_call.form and token_call.server == world.zoho.accounts_url("eu")
    stored = ConnectionStore("zoho-aep").require("acme").connection.to_value()
    assert stored["data_center"] == "eu" and stored["zoho_org_id"] == ORG_ID and stored["adobe_sandbox"] == "prod"
    assert json.loads(calls[0]["Detail"]) == {
        "connection": "acme",
        "data_center": "eu",
        "zoho_org_id": ORG_ID,
        "zoho_org_name": ORG_NAME,
        "reauthorized": False,
        "zoho_user_id": world.zoho.user_id(ADMIN),
        "zoho_user_connections": 1,
    }
    assert code not in out + err


def test_import_self_client_with_a_spent_code_is_one_clear_line(world: Sandbox, capsys: Any) -> None:
    code = world.zoho.issue_self_client_code(CLIENT_ID, "eu", SCOPES, user=ADMIN)
    args = ("import-self-client", "--connection", "acme", "--sandbox", "prod", "--data-center", "eu", "--code", code)
    assert run(capsys, *args)[0] == 0
    status, _, err = run(capsys, *args[:-2], "--code", code)
    assert status == 1 and "zoho-code-invalid" in err and len(err.strip().splitlines()) == 1


def test_import_self_client_refuses_an_unknown_data_center_before_zoho(world: Sandbox, capsys: Any) -> None:
    status, _, err = run(
        capsys,
        "import-self-client",
        "--connection",
        "acme",
        "--sandbox",
        "prod",
        "--data-center",
        "mars",
        "--code",
        "x",
    )
    assert status == 2 and "data-center-unknown" in err
    assert "us, eu, in, au, jp, ca, sa, cn, uk" in err  # the valid ones, listed
    assert world.zoho.calls("/oauth/v2/token") == []


def test_status_lists_connections_from_tags_without_reading_tokens(world: Sandbox, capsys: Any) -> None:
    for name in ("beta", "alpha"):
        code = world.zoho.issue_self_client_code(CLIENT_ID, "eu", SCOPES, user=ADMIN)
        run(
            capsys,
            "import-self-client",
            "--connection",
            name,
            "--sandbox",
            "prod",
            "--data-center",
            "eu",
            "--code",
            code,
        )
    store = ConnectionStore("zoho-aep")
    store.set_tags("beta", {"zoho-aep:status": "needs-reauth", "zoho-aep:last-error": "zoho-consent-revoked"})
    from zoho_aep.adapters import aws

    reads: list[str] = []
    aws.client("secretsmanager").meta.events.register(
        "before-call.secrets-manager", lambda model, **kw: reads.append(model.name)
    )
    status, out, _ = run(capsys, "status")
    assert status == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["CONNECTION", "DATA", "CENTER", "ZOHO"]
    assert lines[1].startswith("alpha") and "active" in lines[1]
    assert re.search(r"in (1h00m|59m)", lines[1])
    assert lines[2].startswith("beta") and "needs-reauth" in lines[2] and "zoho-consent-revoked" in lines[2]
    assert "GetSecretValue" not in reads
    status, out, _ = run(capsys, "status", "--json")
    rows = json.loads(out)
    assert [r["connection"] for r in rows] == ["alpha", "beta"]
    assert rows[1]["status"] == "needs-reauth" and rows[0]["data_center"] == "eu" and rows[0]["zoho_org"] == ORG_ID
    assert rows[0]["zoho_org_name"] == "Acme Corp emulated", "the org is named (its tag keeps no parentheses)"
    assert "Acme Corp emulated" in lines[1]


def test_status_with_no_connections_says_how_to_start(world: Sandbox, capsys: Any) -> None:
    status, out, _ = run(capsys, "status")
    assert status == 0 and "zoho-aep link" in out


def test_link_reads_everything_from_the_deployed_stack(world: Sandbox, capsys: Any) -> None:
    from zoho_aep.adapters import aws

    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "CallbackUrl": {"Value": "https://stack.example.com/oauth/callback"},
            "SecretPrefix": {"Value": "zoho-aep"},
            "ZohoScopes": {"Value": "ZohoCRM.modules.READ,ZohoCRM.org.READ"},
        },
    }
    aws.client("cloudformation").create_stack(StackName="zoho-aep-prod", TemplateBody=json.dumps(template))
    status, out, err = run(capsys, "link", "--stack", "zoho-aep-prod", "--connection", "acme", "--sandbox", "prod")
    assert status == 0, err
    url = out.strip().splitlines()[-1]
    assert "redirect_uri=https%3A%2F%2Fstack.example.com%2Foauth%2Fcallback" in urlsplit(url).query
    assert "scope=ZohoCRM.modules.READ%2CZohoCRM.org.READ" in url


def test_link_with_an_unknown_stack_says_so(world: Sandbox, capsys: Any) -> None:
    status, _, err = run(capsys, "link", "--stack", "nope", "--connection", "acme", "--sandbox", "prod")
    assert status == 3 and "stack-not-found" in err


def test_help_is_available_for_every_command(capsys: Any) -> None:
    for command in ("link", "status", "import-self-client"):
        with pytest.raises(SystemExit) as info:
            cli.main([command, "--help"])
        assert info.value.code == 0
    assert "usage" in capsys.readouterr().out
