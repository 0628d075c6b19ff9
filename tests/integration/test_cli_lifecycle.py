"""configure, refresh, provision and disconnect, as an operator runs them against a (local) stack."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from local.aep_step import provision_in_emulated_aep
from local.emulators.adobe import AdobeEmulator
from local.sandbox import ADMIN, CLIENT_ID, Sandbox, local_world, seed_app_secrets
from zoho_aep.adapters import aws
from zoho_aep.adapters.secrets import AppSecrets, ConnectionStore
from zoho_aep.config.settings import load_settings
from zoho_aep.edges import cli

SCOPES = "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ"
ADOBE = {"client_id": "ops-adobe-id", "client_secret": "ops-adobe-secret-123", "org_id": "OPS00000000@AdobeOrg"}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, AdobeEmulator]]:
    with local_world() as sandbox, AdobeEmulator().start() as adobe:
        seed_app_secrets(sandbox)
        monkeypatch.setenv("ADOBE_IMS_URL", adobe.base_url)
        monkeypatch.setenv("ADOBE_PLATFORM_URL", adobe.base_url)
        yield sandbox, adobe


def run(capsys: Any, *argv: str, stdin: str | None = None, monkeypatch: Any = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def connect(world: Sandbox, name: str = "acme") -> None:
    code = world.zoho.issue_self_client_code(CLIENT_ID, "eu", SCOPES, user=ADMIN)
    args = ["import-self-client", "--connection", name, "--sandbox", "prod", "--data-center", "eu", "--code", code]
    assert cli.main(args) == 0


# ---- configure ------------------------------------------------------------------------------------
def test_configure_checks_the_adobe_credential_then_stores_both(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    _, adobe = world
    adobe.register_credential(ADOBE["client_id"], ADOBE["client_secret"], ADOBE["org_id"])
    zoho_file = tmp_path / "zoho.json"
    zoho_file.write_text(
        json.dumps({"client_id": "1000.NEW", "client_secret": "new-secret-1", "client_secrets": {"eu": "eu-2"}})
    )
    status, out, err = run(
        capsys,
        "configure",
        "--zoho-json",
        str(zoho_file),
        "--adobe-json",
        "-",
        stdin=json.dumps(ADOBE),
        monkeypatch=monkeypatch,
    )
    assert status == 0, err
    assert "Adobe credential works" in out and adobe.tokens_minted == 1
    secrets = AppSecrets("zoho-aep")
    assert secrets.zoho_client().secret_for("eu") == "eu-2" and secrets.zoho_client().client_id == "1000.NEW"
    assert secrets.adobe().org_id == ADOBE["org_id"]
    assert "new-secret-1" not in out + err and ADOBE["client_secret"] not in out + err


def test_configure_with_a_bad_adobe_credential_stores_nothing(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any, monkeypatch: Any
) -> None:
    status, _, err = run(capsys, "configure", "--adobe-json", "-", stdin=json.dumps(ADOBE), monkeypatch=monkeypatch)
    assert status == 1 and "aep-credential-invalid" in err and len(err.strip().splitlines()) == 1
    assert AppSecrets("zoho-aep")._json("adobe") == {}


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ("not json", "input-invalid"),
        ('["a"]', "input-invalid"),
        ('{"client_id": "1000.X"}', "client_secret"),
        ('{"client_id": "1000.X", "client_secret": "s", "client_secrets": {"mars": "x"}}', "data-center-unknown"),
    ],
)
def test_configure_refuses_bad_zoho_json_with_one_line(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any, monkeypatch: Any, payload: str, needle: str
) -> None:
    before = AppSecrets("zoho-aep").zoho_client()
    status, _, err = run(capsys, "configure", "--zoho-json", "-", stdin=payload, monkeypatch=monkeypatch)
    assert status == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert AppSecrets("zoho-aep").zoho_client() == before


def test_configure_without_a_terminal_or_json_says_how(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any, monkeypatch: Any
) -> None:
    status, _, err = run(capsys, "configure", stdin="", monkeypatch=monkeypatch)
    assert status == 2 and "--zoho-json" in err


# ---- refresh / provision through the deployed functions -------------------------------------------
def _stub_invoke(payload: dict[str, Any], function_error: str | None = None) -> Stubber:
    client = aws.client("lambda")
    stubber = Stubber(client)
    raw = json.dumps(payload).encode()
    answer: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(raw), len(raw))}
    if function_error:
        answer["FunctionError"] = function_error
    stubber.add_response(
        "invoke",
        answer,
        {
            "FunctionName": "fn-x",
            "InvocationType": "RequestResponse",
            "Payload": ANY,
        },
    )
    stubber.activate()
    return stubber


def test_refresh_invokes_the_function_with_a_forced_manual_payload(world: Any, capsys: Any) -> None:
    report = {
        "status": "ok",
        "connections": [{"connection": "acme", "outcome": "refreshed", "status": "active", "expires_at": 1795370000}],
    }
    sent: list[bytes] = []
    aws.client("lambda").meta.events.register(
        "provide-client-params.lambda.Invoke", lambda params, **kw: sent.append(params["Payload"])
    )
    with _stub_invoke(report):
        status, out, _ = run(capsys, "refresh", "acme", "--function", "fn-x")
    assert status == 0 and "acme: refreshed, status active" in out
    assert json.loads(sent[0]) == {"connections": ["acme"], "force": True}


def test_refresh_reports_a_needs_reauth_outcome_as_a_failure(world: Any, capsys: Any) -> None:
    report = {
        "status": "ok",
        "connections": [
            {
                "connection": "acme",
                "outcome": "needs-reauth",
                "reason": "zoho-consent-revoked",
                "status": "needs-reauth",
            }
        ],
    }
    with _stub_invoke(report):
        status, out, _ = run(capsys, "refresh", "acme", "--function", "fn-x")
    assert status == 1 and "needs-reauth (zoho-consent-revoked)" in out


def test_provision_prints_the_base_connection_or_the_reason(world: Any, capsys: Any) -> None:
    with _stub_invoke(
        {"ok": True, "base_connection_id": "bc-1", "created": True, "sandbox": "prod", "modules": ["Leads"]}
    ):
        status, out, _ = run(capsys, "provision", "acme", "--function", "fn-x")
    assert status == 0 and "bc-1 created in sandbox prod; AEP sees 1 Zoho modules" in out
    with _stub_invoke({"ok": False, "reason_code": "aep-zoho-source-retired", "retryable": False}):
        status, _, err = run(capsys, "provision", "acme", "--function", "fn-x")
    assert status == 1 and "aep-zoho-source-retired" in err


def test_a_function_error_is_one_clear_line(world: Any, capsys: Any) -> None:
    with _stub_invoke({"errorType": "AdobeUnavailable", "errorMessage": "x"}, function_error="Unhandled"):
        status, _, err = run(capsys, "provision", "acme", "--function", "fn-x")
    assert status == 1 and "function-failed" in err


def test_refresh_needs_a_stack_or_a_function(world: Any, capsys: Any) -> None:
    status, _, err = run(capsys, "refresh", "acme")
    assert status == 2 and "--stack" in err


# ---- disconnect -------------------------------------------------------------------------------------
def _provisioned(world: tuple[Sandbox, AdobeEmulator]) -> tuple[str, str]:
    sandbox, adobe = world
    connect(sandbox)
    result = provision_in_emulated_aep(load_settings(), "acme", adobe, say=lambda line: None)
    assert result.ok and result.base_connection_id
    refresh_token = ConnectionStore("zoho-aep").require("acme").connection.refresh_token
    assert refresh_token is not None
    return result.base_connection_id, refresh_token


def test_disconnect_deletes_aep_revokes_zoho_and_schedules_the_secret_deletion(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any
) -> None:
    base_id, refresh_token = _provisioned(world)
    sandbox, adobe = world
    status, out, err = run(capsys, "disconnect", "acme", "--yes", "--recovery-days", "10")
    assert status == 0, err
    assert f"removed: AEP base connection {base_id} (sandbox prod)" in out
    assert "removed: 1 Zoho refresh token(s), revoked" in out and "left:" not in out + err
    assert adobe.connections_in("prod") == []
    assert sandbox.zoho.refresh_token_info(refresh_token)["revoked"] is True
    described = aws.client("secretsmanager").describe_secret(SecretId="zoho-aep/connections/acme")
    assert "DeletedDate" in described
    assert refresh_token not in out + err


def test_disconnect_stops_and_names_the_dataflows_when_aep_still_uses_the_connection(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any
) -> None:
    base_id, refresh_token = _provisioned(world)
    sandbox, adobe = world
    flow_id = "11111111-2222-3333-4444-555555555555"
    adobe.set_in_use(base_id, [flow_id])
    status, _, err = run(capsys, "disconnect", "acme", "--yes")
    assert status == 1 and flow_id in err and "Nothing changed" in err
    assert sandbox.zoho.refresh_token_info(refresh_token)["revoked"] is False
    assert ConnectionStore("zoho-aep").get("acme") is not None
    status, out, _ = run(capsys, "disconnect", "acme", "--yes", "--force")
    assert status == 0 and "scheduled for deletion" in out
    assert len(adobe.connections_in("prod")) == 1


def test_disconnect_asks_for_confirmation(world: tuple[Sandbox, AdobeEmulator], capsys: Any, monkeypatch: Any) -> None:
    connect(world[0])
    status, _, err = run(capsys, "disconnect", "acme", stdin="", monkeypatch=monkeypatch)
    assert status == 2 and "--yes" in err
    assert ConnectionStore("zoho-aep").get("acme") is not None


def test_disconnect_of_an_unknown_connection_is_one_clear_line(world: Any, capsys: Any) -> None:
    status, _, err = run(capsys, "disconnect", "ghost", "--yes")
    assert status == 1 and "connection-not-found" in err


def test_disconnect_also_finds_an_untracked_base_connection_by_name(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any
) -> None:
    base_id, _ = _provisioned(world)
    store = ConnectionStore("zoho-aep")
    store.set_tags("acme", {}, remove=("aep:base-connection-id",))  # as if the run crashed before recording
    status, out, err = run(capsys, "disconnect", "acme", "--yes")
    assert status == 0, err
    assert f"removed: AEP base connection {base_id}" in out
    assert world[1].connections_in("prod") == []
