"""The command line as a new operator meets it: --version, --json, status NAME, --help, link's checks
before anyone consents, a disconnect that always cleans up, uninstall, and an unreachable AWS endpoint."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.emulators.adobe import AdobeEmulator
from local.sandbox import ADMIN, CLIENT_ID, PREFIX, Sandbox, local_world, seed_app_secrets
from zoho_aep import __version__
from zoho_aep.adapters import aws
from zoho_aep.adapters.secrets import ConnectionStore
from zoho_aep.edges import cli

ROOT = Path(__file__).resolve().parents[2]
SCOPES = "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ"
ADOBE = {"client_id": "hour-adobe-id", "client_secret": "hour-adobe-secret-123", "org_id": "HOUR0000000@AdobeOrg"}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, AdobeEmulator]]:
    with local_world() as sandbox, AdobeEmulator().start() as adobe:
        seed_app_secrets(sandbox)
        monkeypatch.setenv("ADOBE_IMS_URL", adobe.base_url)
        monkeypatch.setenv("ADOBE_PLATFORM_URL", adobe.base_url)
        yield sandbox, adobe


def configure_adobe(adobe: AdobeEmulator) -> None:
    adobe.register_credential(ADOBE["client_id"], ADOBE["client_secret"], ADOBE["org_id"])
    aws.client("secretsmanager").put_secret_value(SecretId=f"{PREFIX}/adobe", SecretString=json.dumps(ADOBE))


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what the arrangement printed is not this command's
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def connect(world: Sandbox, name: str = "acme", sandbox: str = "prod") -> None:
    code = world.zoho.issue_self_client_code(CLIENT_ID, "eu", SCOPES, user=ADMIN)
    args = ["import-self-client", "--connection", name, "--sandbox", sandbox, "--data-center", "eu", "--code", code]
    assert cli.main(args) == 0


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


# ---- the command itself ------------------------------------------------------------------------------
def test_the_installed_zoho_aep_command_points_at_the_cli() -> None:
    script = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["zoho-aep"]
    module, _, attribute = script.partition(":")
    assert getattr(importlib.import_module(module), attribute) is cli.main


def test_version(capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"zoho-aep {__version__}"


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_subcommand_has_a_description_and_shows_its_defaults_and_json(name: str, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        cli.main([name, "--help"])
    text = capsys.readouterr().out
    parser = subcommands()[name]
    assert parser.description and len(parser.description) > 40
    assert parser.description.split(".")[0][:30] in " ".join(text.split())
    with_defaults = [a for a in parser._actions if a.default not in (None, False, argparse.SUPPRESS) and a.help]
    assert text.count("(default:") >= len(with_defaults) > 0 or not with_defaults
    assert "--json" in text  # every subcommand reports something


# ---- --json and status NAME ----------------------------------------------------------------------------
def test_status_of_one_connection_and_as_json(world: tuple[Sandbox, AdobeEmulator], capsys: Any) -> None:
    connect(world[0], "alpha")
    connect(world[0], "beta")
    status, out, _ = run(capsys, "status", "beta")
    assert status == 0 and "beta" in out and "alpha" not in out
    status, out, _ = run(capsys, "status", "beta", "--json")
    assert status == 0 and json.loads(out)["connection"] == "beta"
    assert [r["connection"] for r in json.loads(run(capsys, "status", "--json")[1])] == ["alpha", "beta"]


def test_status_of_an_unknown_connection_is_one_clear_line(world: Any, capsys: Any) -> None:
    status, out, err = run(capsys, "status", "ghost", "--json")
    assert status == 1 and "connection-not-found" in err
    assert json.loads(out) == {"ok": False, "code": "connection-not-found", "message": json.loads(out)["message"]}


def test_link_import_and_disconnect_report_json(world: tuple[Sandbox, AdobeEmulator], capsys: Any) -> None:
    sandbox, _ = world
    status, out, _ = run(capsys, "link", "--connection", "acme", "--sandbox", "prod", "--json")
    link = json.loads(out)
    assert status == 0 and link["url"].startswith(sandbox.callback_url.replace("/callback", "/connect?"))
    code = sandbox.zoho.issue_self_client_code(CLIENT_ID, "eu", SCOPES, user=ADMIN)
    argv = ["import-self-client", "--connection", "acme", "--sandbox", "prod", "--data-center", "eu"]
    status, out, _ = run(capsys, *argv, "--code", code, "--json")
    assert status == 0 and json.loads(out)["zoho_org_id"] and code not in out
    status, out, _ = run(capsys, "disconnect", "acme", "--yes", "--json")
    report = json.loads(out)
    assert status == 0 and report["secret_deleted"] is True and report["removed"]


# ---- link checks before anyone consents -------------------------------------------------------------------
def test_link_refuses_another_sandbox_for_an_existing_connection(world: Any, capsys: Any) -> None:
    connect(world[0], "acme", sandbox="prod")
    status, out, err = run(capsys, "link", "--connection", "acme", "--sandbox", "dev")
    assert status == 2 and "connection-sandbox-mismatch" in err and "--sandbox prod" in err
    assert out == ""


def test_link_refuses_a_sandbox_aep_does_not_know_when_the_adobe_credential_is_set(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any
) -> None:
    configure_adobe(world[1])
    status, out, err = run(capsys, "link", "--connection", "acme", "--sandbox", "nosuch")
    assert status == 1 and "aep-sandbox-not-found" in err and out == ""
    world[1].add_sandbox("nosuch")
    status, out, err = run(capsys, "link", "--connection", "acme", "--sandbox", "nosuch", "--json")
    assert status == 0 and json.loads(out)["sandbox_checked"] is True


def test_link_without_an_adobe_credential_says_the_sandbox_was_not_checked(world: Any, capsys: Any) -> None:
    status, out, err = run(capsys, "link", "--connection", "acme", "--sandbox", "prod")
    assert status == 0 and "AEP sandbox not checked" in err
    assert out.strip().splitlines()[-1].startswith("http")


# ---- disconnect always cleans up ---------------------------------------------------------------------
def test_disconnect_cleans_up_a_connection_whose_sandbox_adobe_does_not_know(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any
) -> None:
    sandbox, adobe = world
    configure_adobe(adobe)
    connect(sandbox, "acme", sandbox="gone")  # a sandbox deleted in AEP since
    ConnectionStore(PREFIX).set_tags("acme", {"aep:base-connection-id": "0000-old"})
    status, out, err = run(capsys, "disconnect", "acme", "--yes")
    assert status == 0, err
    assert "removed: 1 Zoho refresh token(s), revoked" in out
    assert "left: AEP base connection 0000-old: in sandbox gone, which Adobe does not know" in out
    assert "scheduled for deletion" in out


def test_disconnect_cleans_up_a_connection_that_never_got_a_base_connection(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any
) -> None:
    connect(world[0], "acme")  # the Adobe credential was never configured
    status, out, err = run(capsys, "disconnect", "acme", "--yes")
    assert status == 0, err
    assert "removed: the connection secret" in out and "AEP was not checked" in out


# ---- uninstall -----------------------------------------------------------------------------------------
def test_uninstall_disconnects_every_connection_and_names_what_sam_delete_does_next(
    world: tuple[Sandbox, AdobeEmulator], capsys: Any
) -> None:
    connect(world[0], "alpha")
    connect(world[0], "beta")
    status, out, err = run(capsys, "uninstall", "--yes")
    assert status == 0, err
    assert out.count("removed: the connection secret") == 2 and "sam delete" in out
    assert ConnectionStore(PREFIX).list() == []


def test_uninstall_asks_for_confirmation(world: Any, capsys: Any, monkeypatch: Any) -> None:
    connect(world[0], "alpha")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    status, _, err = run(capsys, "uninstall")
    assert status == 2 and "--yes" in err
    assert [c.name for c in ConnectionStore(PREFIX).list()] == ["alpha"]


# ---- an unreachable AWS endpoint ---------------------------------------------------------------------
def test_an_unreachable_aws_endpoint_says_could_not_reach(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")  # nothing listens there
    aws.reset_clients()
    try:
        status, _, err = run(capsys, "status")
    finally:
        aws.reset_clients()
    assert status == 1
    assert "Could not reach AWS at http://127.0.0.1:9" in err and "[aws-unreachable]" in err
    assert "refused ()" not in err
