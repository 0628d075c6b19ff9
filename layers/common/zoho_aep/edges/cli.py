"""The operator's command line: ``zoho-aep <command>`` (also ``python -m zoho_aep``).

Every error is one line on stderr that says what to do, with a documented exit code:
0 success, 1 an operation failed (AWS, Zoho or Adobe refused), 2 bad usage or input,
3 configuration missing or invalid.

Every command that reports takes ``--json`` (one JSON object on stdout instead of the sentences) and
has a ``--help`` with its description and defaults: :func:`add_command` gives both, so a new
subcommand is one ``add_command(...)`` call and one ``_cmd_...(args, out)`` function.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import __version__, wiring
from ..adapters import aws
from ..adapters.aws import client_errors
from ..adapters.logs import pin_secret, quiet_libraries
from ..adapters.secrets import AppSecrets, ConnectionStore
from ..config import parameters as p
from ..config.parameters import DEFAULT_ADOBE_SCOPES
from ..config.settings import Settings, check_callback_url, check_secret_prefix, load_settings, parse_scopes
from ..domain.connection import (
    TAG_BASE_CONNECTION_ID,
    TAG_DATA_CENTER,
    TAG_EXPIRES_AT,
    TAG_EXPORT_ERROR,
    TAG_EXPORT_STATUS,
    TAG_LAST_ERROR,
    TAG_ORG_ID,
    TAG_ORG_NAME,
    TAG_PATH,
    TAG_SANDBOX,
    TAG_STATUS,
    WARN_CONNECTIONS_PER_ZOHO_USER,
    ZOHO_REFRESH_TOKENS_PER_USER,
)
from ..domain.credentials import AdobeCredentials
from ..domain.datacenters import DataCenterTable
from ..domain.errors import (
    AdobeError,
    AdobeSandboxNotFound,
    AwsUnreachable,
    BadRequest,
    ConfigError,
    ConfirmationRequired,
    ConnectionNotFound,
    DataCenterUnknown,
    FunctionFailed,
    InputInvalid,
    InputMissing,
    InputUnreadable,
    InvokeFailed,
    SandboxMismatch,
    StackNotFound,
    StoreError,
    ZohoAepError,
    ZohoUserTokensNearLimit,
)
from ..domain.links import DEFAULT_TTL_MINUTES, build_connect_link, check_zoho_org_id, connect_route_url
from ..domain.names import check_connection_name, check_sandbox_name
from ..usecases.aep_path import PATHS
from ..usecases.connect import import_self_client
from ..usecases.credentials import check_adobe_credential
from ..usecases.disconnect import MAX_RECOVERY_DAYS, MIN_RECOVERY_DAYS, DisconnectResult, disconnect

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


class Output:
    """What a command reports: sentences for a person, or (``--json``) one JSON object at the end."""

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.data: dict[str, Any] | list[Any] = {}

    def say(self, line: str = "") -> None:
        if not self.as_json:
            print(line)

    def warn(self, line: str) -> None:
        print(line, file=sys.stderr)

    def set(self, **fields: Any) -> None:
        if isinstance(self.data, dict):
            self.data.update(fields)

    def finish(self) -> None:
        if self.as_json:
            print(json.dumps(self.data, indent=2, sort_keys=True, default=str))


# ---- where the settings come from: environment, a deployed stack, flags ---------------------------
STACK_OUTPUTS = {
    "CallbackUrl": "CALLBACK_URL",
    "SecretPrefix": "SECRET_PREFIX",
    "ZohoScopes": "ZOHO_SCOPES",
    "EventBusName": "EVENT_BUS_NAME",
    "ExportBucketName": "EXPORT_BUCKET",
    "ZohoPkceOffDataCenters": "ZOHO_PKCE_OFF_DATA_CENTERS",
    "ZohoUserTokenEviction": "ZOHO_USER_TOKEN_EVICTION",
}


def stack_outputs(stack: str) -> dict[str, str]:
    """The CloudFormation outputs of a deployed zoho-aep stack."""
    try:
        answer = aws.client("cloudformation").describe_stacks(StackName=stack)
    except client_errors() as exc:
        raise StackNotFound(
            f"Cannot read stack {stack} ({aws.error_code(exc) or 'no answer'}); check the name, region and credentials."
        ) from exc
    outputs = answer["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


def _environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment, then the stack's outputs, then flags: later sources win."""
    env = dict(os.environ)
    if getattr(args, "stack", None):
        outputs = stack_outputs(args.stack)
        for output, var in STACK_OUTPUTS.items():
            if outputs.get(output):
                env[var] = outputs[output]
        env["_STACK_OUTPUTS"] = json.dumps(outputs)
    if getattr(args, "prefix", None):
        env["SECRET_PREFIX"] = check_secret_prefix(args.prefix, "--prefix")
    if getattr(args, "callback_url", None):
        env["CALLBACK_URL"] = check_callback_url(args.callback_url, "--callback-url")
    if getattr(args, "scopes", None):
        env["ZOHO_SCOPES"] = ",".join(parse_scopes(args.scopes, "--scopes"))
    return env


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(_environment(args))


# ---- commands ------------------------------------------------------------------------------------
def _link_prechecks(settings: Settings, args: argparse.Namespace, out: Output) -> None:
    """Before anyone consents: the connection's own sandbox, and (with an Adobe credential) that AEP knows it."""
    store = ConnectionStore(settings.secret_prefix)
    try:
        existing = store.get_tags(args.connection)
    except ConnectionNotFound:
        existing = None
    if existing is not None:
        if store.get(args.connection) is None:  # pending deletion: the store says why
            raise ConnectionNotFound(f"There is no connection named {args.connection}.")
        recorded = existing.get(TAG_SANDBOX)
        if recorded and recorded != args.sandbox:
            raise SandboxMismatch(
                f"Connection {args.connection} feeds AEP sandbox {recorded}; a link for {args.sandbox} would be "
                f"refused after the consent. Use --sandbox {recorded}, or another connection name."
            )
    try:
        AppSecrets(settings.secret_prefix).adobe()
    except ConfigError:
        out.warn("note: AEP sandbox not checked: the Adobe credential is not configured yet (zoho-aep configure).")
        out.set(sandbox_checked=False)
        return
    deps = wiring.provision_deps(settings, logging.getLogger("zoho_aep.cli"))
    try:
        deps.flow(args.sandbox).check_sandbox()
    except AdobeSandboxNotFound as exc:
        raise exc.recast(
            AdobeSandboxNotFound,
            f"AEP has no sandbox {args.sandbox} the Adobe credential can see; no link was made. "
            "Check the name, or add the sandbox to the credential's product profile.",
        ) from exc
    except AdobeError as exc:
        out.warn(f"warning: could not check AEP sandbox {args.sandbox} ({exc.code}); the link works anyway.")
        out.set(sandbox_checked=False)
        return
    out.set(sandbox_checked=True)


def _cmd_link(args: argparse.Namespace, out: Output) -> int:
    settings = _settings(args)
    if not settings.callback_url:
        raise ConfigError(
            "CALLBACK_URL is not set: pass --stack NAME or --callback-url, or export the stack's CallbackUrl output."
        )
    if args.data_center is not None and args.data_center not in settings.data_centers:
        known = ", ".join(settings.data_centers)
        raise DataCenterUnknown(f"--data-center must be one of: {known}.")
    check_connection_name(args.connection)
    check_sandbox_name(args.sandbox)
    org_id = check_zoho_org_id(args.zoho_org_id) if args.zoho_org_id is not None else None
    secrets = AppSecrets(settings.secret_prefix)
    client = secrets.zoho_client()
    link = build_connect_link(
        table=settings.data_centers,
        client_id=client.client_id,
        state_key=secrets.state_key(),
        redirect_uri=settings.callback_url,
        scopes=settings.zoho_scopes,
        connection=args.connection,
        sandbox=args.sandbox,
        data_center=args.data_center,
        zoho_org_id=org_id,
        pkce=settings.pkce_for(args.data_center or "us"),
        ttl_minutes=args.ttl_minutes,
        now=time.time(),
    )
    _link_prechecks(settings, args, out)  # after the flags are known good, before anything is handed out
    # The link opens the stack's own connect route first: it says "used" or "expired" before the
    # consent, and only then sends the person on to Zoho (docs/callback.md).
    url = connect_route_url(settings.callback_url, link)
    expires = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(link.state.expires_at))
    bound = [f"Zoho org {org_id}"] if org_id else []
    bound += [f"data center {args.data_center}"] if args.data_center else []
    out.set(
        connection=link.state.connection,
        sandbox=link.state.sandbox,
        data_center=args.data_center,
        zoho_org_id=org_id,
        expires_at=link.state.expires_at,
        url=url,
    )
    out.say(f"Connect link for connection '{link.state.connection}' (AEP sandbox '{link.state.sandbox}').")
    if bound:
        out.say(f"It connects only {' in '.join(bound)}.")
    out.say(f"Send it to the Zoho CRM administrator; it works once and expires at {expires}.")
    out.say(url)
    return EXIT_OK


def _expires_in(tag: str | None, now: float) -> str:
    if not tag or not tag.isdigit():
        return "-"
    delta = int(tag) - int(now)
    amount = abs(delta)
    text = f"{amount // 3600}h{amount % 3600 // 60:02d}m" if amount >= 3600 else f"{amount // 60}m"
    return f"in {text}" if delta >= 0 else f"expired {text} ago"


STATUS_COLUMNS = (
    "connection",
    "data_center",
    "zoho_org",
    "zoho_org_name",
    "status",
    "expires",
    "sandbox",
    "base_connection",
    "path",
    "export",
    "last_error",
)


def status_rows(store: ConnectionStore, now: float) -> list[dict[str, str | int | None]]:
    """One row per connection, from tags only (no token is read)."""
    rows: list[dict[str, str | int | None]] = []
    for item in sorted(store.list(), key=lambda s: s.name):
        tags = item.tags
        expires = tags.get(TAG_EXPIRES_AT)
        rows.append(
            {
                "connection": item.name,
                "data_center": tags.get(TAG_DATA_CENTER),
                "zoho_org": tags.get(TAG_ORG_ID),
                "zoho_org_name": tags.get(TAG_ORG_NAME),  # so a consent by the wrong org is seen at once
                "status": tags.get(TAG_STATUS),
                "expires_at": int(expires) if expires and expires.isdigit() else None,
                "expires": _expires_in(expires, now),
                "sandbox": tags.get(TAG_SANDBOX),
                "base_connection": tags.get(TAG_BASE_CONNECTION_ID),
                "path": tags.get(TAG_PATH),
                "export": tags.get(TAG_EXPORT_STATUS),
                "last_error": tags.get(TAG_LAST_ERROR) or tags.get(TAG_EXPORT_ERROR),
            }
        )
    return rows


def _cmd_status(args: argparse.Namespace, out: Output) -> int:
    settings = _settings(args)
    store = ConnectionStore(settings.secret_prefix)
    if args.connection:
        check_connection_name(args.connection)
        store.get_tags(args.connection)  # connection-not-found when there is none
    now = time.time()
    rows = status_rows(store, now)
    if args.connection:
        rows = [row for row in rows if row["connection"] == args.connection]
        if not rows:
            raise ConnectionNotFound(f"There is no connection named {args.connection}.")
    exports = export_rows(settings, [str(r["connection"]) for r in rows], now)
    detailed = [{**row, "exports": [e for e in exports if e["connection"] == row["connection"]]} for row in rows]
    out.data = detailed[0] if args.connection and detailed else detailed
    if not rows:
        out.say(f"No connections under {settings.secret_prefix}/connections/ yet. Create one with `zoho-aep link`.")
        return EXIT_OK
    _print_table(rows, STATUS_COLUMNS, out)
    if exports:
        out.say()
        _print_table(exports, EXPORT_COLUMNS, out)
    return EXIT_OK


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: Output) -> None:
    table = [[str(row.get(col) if row.get(col) not in (None, "") else "-") for col in columns] for row in rows]
    headers = [c.upper().replace("_", " ") for c in columns]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    out.say("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in table:
        out.say("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


EXPORT_COLUMNS = (
    "connection",
    "module",
    "last_export",
    "outcome",
    "records",
    "deleted",
    "files",
    "reason",
    "dataset",
    "last_aep_run",
    "aep_verdict",
    "aep_rows",
    "aep_failed",
)


def _ago(epoch: int | None, now: float) -> str | None:
    if epoch is None:
        return None
    minutes = max(0, int(now - epoch) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m ago" if minutes >= 60 else f"{minutes}m ago"


def export_rows(settings: Settings, connections: Sequence[str], now: float) -> list[dict[str, Any]]:
    """Each module's last export and last AEP run, from the bucket's state objects (no token is read).

    Empty when no export bucket is known (``EXPORT_BUCKET``, or the stack's ``ExportBucketName``).
    """
    if not settings.export_bucket:
        return []
    from ..adapters.s3 import ExportBucket

    bucket = ExportBucket(settings.export_bucket)
    rows: list[dict[str, Any]] = []
    for connection in connections:
        units = {state.module: state for state in bucket.states(connection)}
        try:
            aep = bucket.read_aep_state(connection)
        except ZohoAepError:
            aep = None  # unreadable: status still shows the exports; provisioning reports the state
        in_aep = aep.modules if aep else {}
        for module in sorted(set(units) | set(in_aep)):
            rows.append({"connection": connection, "module": module, **_export_fields(units.get(module), now)})
            rows[-1].update(_aep_fields(in_aep.get(module), now))
    return rows


def _export_fields(state: Any, now: float) -> dict[str, Any]:
    last = state.last if state else None
    running = state is not None and state.run is not None and (last is None or last.outcome != "failed")
    return {
        "last_export": _ago(last.at, now) if last else None,
        "last_export_at": last.at if last else None,
        "outcome": "running" if running else (last.outcome if last else None),
        "records": last.records if last else None,
        "deleted": last.deleted if last else None,
        "files": last.files if last else None,
        "reason": last.reason_code if last else None,
        "watermark": state.watermark if state else None,
    }


def _aep_fields(item: Any, now: float) -> dict[str, Any]:
    run = item.last_run if item else None
    return {
        "dataset": item.dataset_id if item else None,
        "dataflow": item.flow_id if item else None,
        "last_aep_run": _ago(run.at, now) if run else None,
        "last_aep_run_at": run.at if run else None,
        "aep_verdict": (run.reason_code or run.verdict) if run else None,
        "aep_rows": run.records_out if run else None,
        "aep_failed": run.records_failed if run else None,
    }


def _cmd_import_self_client(args: argparse.Namespace, out: Output) -> int:
    settings = _settings(args)
    if args.data_center not in settings.data_centers:
        raise DataCenterUnknown(f"--data-center must be one of: {', '.join(settings.data_centers)}.")
    code = args.code
    if code == "-":
        code = sys.stdin.readline().strip()
    result = import_self_client(
        wiring.connect_deps(settings),
        connection=args.connection,
        sandbox=args.sandbox,
        location=args.data_center,
        code=code,
    )
    verb = "re-authorized" if result.reauthorized else "stored"
    org = f"{result.zoho_org_name} ({result.zoho_org_id})" if result.zoho_org_name else result.zoho_org_id
    out.set(
        connection=result.connection,
        reauthorized=result.reauthorized,
        zoho_org_id=result.zoho_org_id,
        zoho_org_name=result.zoho_org_name,
        data_center=result.data_center,
        sandbox=result.sandbox,
        event_published=result.event_published,
    )
    out.say(
        f"Connection '{result.connection}' {verb}: Zoho org {org}, "
        f"data center {result.data_center}, AEP sandbox {result.sandbox}."
    )
    # Provisioning listens on the stack's own bus, where only the stack's functions may put events.
    out.say(f"Provision it in AEP: zoho-aep provision {result.connection} --stack STACK.")
    if not result.event_published:
        out.warn("warning: the 'Zoho connection authorized' event was not published; run `zoho-aep provision`.")
    if result.user_connections >= WARN_CONNECTIONS_PER_ZOHO_USER:
        out.warn(
            f"warning: this Zoho user now holds {result.user_connections} connections; Zoho keeps "
            f"{ZOHO_REFRESH_TOKENS_PER_USER} refresh tokens per user [{ZohoUserTokensNearLimit.code}]."
        )
    return EXIT_OK


# ---- configure -------------------------------------------------------------------------------------
def _read_json(source: str, what: str) -> dict[str, Any]:
    """A JSON object from a file path or ``-`` (stdin)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputUnreadable(f"Cannot read {what} from {source}.") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputInvalid(f"{what} is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise InputInvalid(f"{what} must be a JSON object.")
    return data


def _ask(prompt: str, *, secret: bool = False, default: str = "") -> str:
    if not sys.stdin.isatty():
        raise InputMissing("No terminal to prompt on: pass --zoho-json/--adobe-json (a file or -).")
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    answer = getpass.getpass(shown) if secret else input(shown)
    return answer.strip() or default


def zoho_client_value(data: dict[str, Any], table: Iterable[str]) -> dict[str, Any]:
    """Validate the ``{prefix}/zoho-client`` value: client id, secret, optional per-DC secrets."""
    client_id, secret = data.get("client_id"), data.get("client_secret")
    if not isinstance(client_id, str) or not client_id.strip():
        raise InputInvalid("The Zoho client needs a client_id (from Zoho's API console).")
    if not isinstance(secret, str) or not secret.strip():
        raise InputInvalid("The Zoho client needs a client_secret.")
    per_dc = data.get("client_secrets") or {}
    known = set(table)
    if not isinstance(per_dc, dict) or not all(isinstance(v, str) and v.strip() for v in per_dc.values()):
        raise InputInvalid("client_secrets must map data centers to non-empty secrets.")
    unknown = sorted(set(per_dc) - known)
    if unknown:
        raise DataCenterUnknown(f"Unknown data centers in client_secrets: {', '.join(unknown)}.")
    value: dict[str, Any] = {"client_id": client_id.strip(), "client_secret": secret.strip()}
    if per_dc:
        value["client_secrets"] = {k: v.strip() for k, v in per_dc.items()}
    return value


def adobe_value(data: dict[str, Any]) -> AdobeCredentials:
    """Validate the ``{prefix}/adobe`` value (an OAuth Server-to-Server credential)."""
    fields = {k: data.get(k) for k in ("client_id", "client_secret", "org_id")}
    missing = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
    if missing:
        raise InputInvalid(f"The Adobe credential needs {', '.join(missing)}.")
    org_id = str(fields["org_id"]).strip()
    if not org_id.endswith("@AdobeOrg"):
        raise InputInvalid("The Adobe org_id ends with @AdobeOrg (Developer Console, credential page).")
    scopes = data.get("scopes") or DEFAULT_ADOBE_SCOPES
    if not isinstance(scopes, str):
        raise InputInvalid("The Adobe scopes are one comma-separated string.")
    return AdobeCredentials(str(fields["client_id"]).strip(), str(fields["client_secret"]).strip(), org_id, scopes)


def _put(settings: Settings, suffix: str, value: dict[str, Any]) -> None:
    name = f"{settings.secret_prefix}/{suffix}"
    try:
        aws.client("secretsmanager").put_secret_value(SecretId=name, SecretString=json.dumps(value))
    except client_errors() as exc:
        code = aws.error_code(exc)
        hint = "deploy the stack first" if code == "ResourceNotFoundException" else "check your AWS credentials"
        raise StoreError(f"Cannot write {name} ({code or 'no answer'}): {hint}.") from exc


def _cmd_configure(args: argparse.Namespace, out: Output) -> int:
    settings = _settings(args)
    zoho: dict[str, Any] | None = None
    adobe: AdobeCredentials | None = None
    if args.zoho_json or not args.adobe_json:
        if args.zoho_json:
            raw = _read_json(args.zoho_json, "the Zoho client JSON")
        else:
            raw = {"client_id": _ask("Zoho client id"), "client_secret": _ask("Zoho client secret", secret=True)}
            extra = _ask("Data centers with their own client secret (e.g. eu,in; empty for none)")
            raw["client_secrets"] = {
                dc.strip(): _ask(f"Zoho client secret for {dc.strip()}", secret=True)
                for dc in extra.split(",")
                if dc.strip()
            }
        zoho = zoho_client_value(raw, settings.data_centers)
    if args.adobe_json or not args.zoho_json:
        if args.adobe_json:
            raw = _read_json(args.adobe_json, "the Adobe credential JSON")
        else:
            raw = {
                "client_id": _ask("Adobe client id (OAuth Server-to-Server)"),
                "client_secret": _ask("Adobe client secret", secret=True),
                "org_id": _ask("Adobe organization id (...@AdobeOrg)"),
                "scopes": _ask("Adobe scopes", default=DEFAULT_ADOBE_SCOPES),
            }
        adobe = adobe_value(raw)
    if zoho is not None:
        pin_secret(zoho["client_secret"], *zoho.get("client_secrets", {}).values())
    if adobe is not None:
        pin_secret(adobe.client_secret)

    if adobe is not None and not args.skip_check:
        out.say(f"Checking the Adobe credential against {settings.adobe_ims_url} ...")
        check_adobe_credential(settings, adobe)  # raises with a code that names the fix; nothing stored
        out.say("Adobe credential works: IMS issued an access token.")
        out.set(adobe_checked=True)
    if zoho is not None:
        _put(settings, "zoho-client", zoho)
        extra = (
            f" (+ own secrets for {', '.join(sorted(zoho.get('client_secrets', {})))})"
            if "client_secrets" in zoho
            else ""
        )
        out.say(f"Stored the Zoho client {zoho['client_id']} in {settings.secret_prefix}/zoho-client{extra}.")
        out.set(zoho_client_id=zoho["client_id"], zoho_data_centers=sorted(zoho.get("client_secrets", {})))
    if adobe is not None:
        value = {
            "client_id": adobe.client_id,
            "client_secret": adobe.client_secret,
            "org_id": adobe.org_id,
            "scopes": adobe.scopes,
        }
        _put(settings, "adobe", value)
        out.say(f"Stored the Adobe credential for {adobe.org_id} in {settings.secret_prefix}/adobe.")
        out.set(adobe_org_id=adobe.org_id)
    return EXIT_OK


# ---- refresh / provision: invoke the deployed functions --------------------------------------------
# The stack output that names each function, and the variable that can name it instead (a local
# sandbox's env file sets them; see `make local`).
FUNCTION_VARIABLES = {
    "TokenRefreshFunctionName": str(p.REFRESH_FUNCTION.env),
    "AdobeProvisioningFunctionName": str(p.PROVISIONING_FUNCTION.env),
    "ZohoExportFunctionName": str(p.EXPORT_FUNCTION.env),
}


def _function_name(args: argparse.Namespace, output: str) -> str:
    if args.function:
        return str(args.function)
    variable = FUNCTION_VARIABLES.get(output, "")
    if not args.stack and os.environ.get(variable, "").strip():
        return os.environ[variable].strip()
    if not args.stack:
        raise InputMissing(
            f"Name the deployed function: --stack NAME (reads its outputs), --function NAME, or ${variable}."
        )
    name = stack_outputs(args.stack).get(output)
    if not name:
        raise StackNotFound(f"Stack {args.stack} has no output {output}; is it a zoho-aep stack?")
    return name


def invoke_function(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke a deployed function synchronously and return its JSON answer."""
    try:
        answer = aws.client("lambda").invoke(
            FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
        )
    except client_errors() as exc:
        raise InvokeFailed(
            f"Cannot invoke {name} ({aws.error_code(exc) or 'no answer'}); check the name and your AWS credentials."
        ) from exc
    body = answer["Payload"].read()
    try:
        result = json.loads(body) if body else {}
    except ValueError:
        result = {}
    if answer.get("FunctionError"):
        kind = result.get("errorType", "error") if isinstance(result, dict) else "error"
        raise FunctionFailed(f"{name} failed ({kind}); a retry may help, see its log.")
    return result if isinstance(result, dict) else {"result": result}


def _cmd_refresh(args: argparse.Namespace, out: Output) -> int:
    check_connection_name(args.connection)
    name = _function_name(args, "TokenRefreshFunctionName")
    report = invoke_function(name, {"connections": [args.connection], "force": not args.if_due})
    outcomes = [c for c in report.get("connections", []) if isinstance(c, dict)]
    out.set(function=name, connection=args.connection, report=report)
    if report.get("status") == "error" or not outcomes:
        out.warn(f"Refresh did not run for {args.connection}: {report.get('error') or report.get('status')}")
        out.set(ok=False)
        return EXIT_FAILED
    ok = True
    for item in outcomes:
        reason = f" ({item['reason']})" if item.get("reason") else ""
        expires = item.get("expires_at")
        when = (
            f", token expires {time.strftime('%H:%M:%S UTC', time.gmtime(expires))}" if isinstance(expires, int) else ""
        )
        out.say(f"{item.get('connection')}: {item.get('outcome')}{reason}, status {item.get('status') or '-'}{when}")
        ok = ok and item.get("outcome") in ("refreshed", "not-due", "superseded")
    out.set(ok=ok)
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_export(args: argparse.Namespace, out: Output) -> int:
    check_connection_name(args.connection)
    payload: dict[str, Any] = {"connection": args.connection, "full": args.full}
    if args.module:
        payload["modules"] = list(dict.fromkeys(args.module))
    name = _function_name(args, "ZohoExportFunctionName")
    report = invoke_function(name, payload)
    exports = [e for e in report.get("exports", []) if isinstance(e, dict)]
    out.data = report
    if report.get("status") == "error" or not exports:
        out.warn(f"Export did not run for {args.connection}: {report.get('error') or report.get('status')}")
        return EXIT_FAILED
    ok = True
    for item in exports:
        counts = f"{item.get('records', 0)} records, {item.get('deleted', 0)} deleted, {item.get('files', 0)} files"
        reason = f" ({item['reason']})" if item.get("reason") else ""
        later = " - it goes on by itself" if item.get("outcome") in ("pending", "continues", "deferred") else ""
        out.say(f"{item.get('connection')}/{item.get('module')}: {item.get('outcome')}{reason}, {counts}{later}")
        ok = ok and item.get("outcome") != "failed"
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_provision(args: argparse.Namespace, out: Output) -> int:
    check_connection_name(args.connection)
    name = _function_name(args, "AdobeProvisioningFunctionName")
    payload = {"connection": args.connection, **({"path": args.path} if args.path else {})}
    result = invoke_function(name, payload)
    out.set(function=name, **result)
    if result.get("ok"):
        verb = "created" if result.get("created") else "updated"
        modules = result.get("modules") or []
        path = result.get("path") or "zoho-crm"
        sees = (
            f"{len(modules)} Zoho modules, each a dataset fed from the export"
            if path == "amazon-s3"
            else (f"AEP sees {len(modules)} Zoho modules")
        )
        out.say(
            f"{args.connection} ({path}): AEP base connection {result.get('base_connection_id')} {verb} in sandbox "
            f"{result.get('sandbox')}; {sees}."
        )
        for kept in result.get("superseded_base_connection_ids") or [] if path == "amazon-s3" else []:
            out.warn(f"  kept: the native base connection {kept}: dataflows still use it (move or delete them in AEP)")
        return EXIT_OK
    retry = "a retry may help" if result.get("retryable") else "see docs/reference.md, Codes"
    out.warn(f"{args.connection}: provisioning failed: {result.get('reason_code')} ({retry}).")
    return EXIT_FAILED


# ---- disconnect, uninstall ---------------------------------------------------------------------------
def _confirm(args: argparse.Namespace, question: str, expected: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise ConfirmationRequired("Refusing to go on without confirmation: pass --yes.")
    return input(f"{question} Type {expected} to confirm: ").strip() == expected


def _s3_deps(settings: Settings, logger: Any, native: Any) -> Any:
    """The S3 path's adapters where the stack has an export bucket (its AEP objects go too), else None."""
    return wiring.s3_source_deps(settings, logger, native) if settings.export_bucket else None


def _report_disconnect(result: DisconnectResult, out: Output) -> None:
    for line in result.removed():
        out.say(f"  removed: {line}")
    for line in result.left():
        (out.warn if result.blocked or not result.secret_deleted else out.say)(f"  left: {line}")


def _cmd_disconnect(args: argparse.Namespace, out: Output) -> int:
    settings = _settings(args)
    check_connection_name(args.connection)
    if not MIN_RECOVERY_DAYS <= args.recovery_days <= MAX_RECOVERY_DAYS:
        raise InputInvalid(f"--recovery-days is {MIN_RECOVERY_DAYS} to {MAX_RECOVERY_DAYS}.")
    question = (
        f"Disconnect '{args.connection}': delete its AEP base connection, revoke its Zoho tokens and delete "
        f"its secret (recoverable for {args.recovery_days} days)?"
    )
    if not _confirm(args, question, args.connection):
        out.warn("Not confirmed; nothing changed.")
        return EXIT_USAGE
    logger = logging.getLogger("zoho_aep.cli")
    native = wiring.provision_deps(settings, logger)
    result = disconnect(
        native,
        args.connection,
        recovery_days=args.recovery_days,
        force=args.force,
        s3=_s3_deps(settings, logger, native),
        delete_datasets=args.delete_datasets,
    )
    out.data = result.as_dict()
    out.say(f"Disconnect {args.connection}:")
    _report_disconnect(result, out)
    if result.blocked and not args.force:
        out.warn(
            "Nothing changed: dataflows still use the base connection. Delete or move those dataflows in AEP and "
            "run disconnect again (or pass --force to revoke and delete anyway, leaving the base connection)."
        )
        return EXIT_FAILED
    name = f"{settings.secret_prefix}/connections/{args.connection}"
    out.say(f"Secret {name} scheduled for deletion on {result.deletion_date}.")
    return EXIT_OK


def _cmd_uninstall(args: argparse.Namespace, out: Output) -> int:
    """Disconnect every connection: what ``sam delete`` leaves (the connection secrets, AEP, Zoho's tokens)."""
    settings = _settings(args)
    if not MIN_RECOVERY_DAYS <= args.recovery_days <= MAX_RECOVERY_DAYS:
        raise InputInvalid(f"--recovery-days is {MIN_RECOVERY_DAYS} to {MAX_RECOVERY_DAYS}.")
    names = [summary.name for summary in ConnectionStore(settings.secret_prefix).list()]
    question = (
        f"Uninstall: disconnect all {len(names)} connection(s) under {settings.secret_prefix}/connections/ "
        "(AEP base connections deleted, Zoho tokens revoked, secrets scheduled for deletion)?"
    )
    if names and not _confirm(args, question, settings.secret_prefix):
        out.warn("Not confirmed; nothing changed.")
        return EXIT_USAGE
    logger = logging.getLogger("zoho_aep.cli")
    deps = wiring.provision_deps(settings, logger)
    s3 = _s3_deps(settings, logger, deps)
    results: dict[str, Any] = {}
    failed = []
    for name in names:
        out.say(f"Disconnect {name}:")
        try:
            result = disconnect(
                deps,
                name,
                recovery_days=args.recovery_days,
                force=args.force,
                s3=s3,
                delete_datasets=args.delete_datasets,
            )
        except ZohoAepError as exc:
            out.warn(f"  {name}: {exc.message} [{exc.code}]")
            results[name] = {"error": exc.code}
            failed.append(name)
            continue
        results[name] = result.as_dict()
        _report_disconnect(result, out)
        if not result.secret_deleted:
            failed.append(name)
    out.data = {"connections": results, "failed": failed, "prefix": settings.secret_prefix}
    if failed:
        out.warn(f"Not every connection was removed ({', '.join(failed)}): fix what is said above, then run again.")
        return EXIT_FAILED
    out.say(f"No connection secrets are left under {settings.secret_prefix}/connections/.")
    out.say("Now remove the stack itself: sam delete --stack-name STACK (docs/operations.md, Teardown).")
    return EXIT_OK


def add_command(
    sub: Any, name: str, func: Any, summary: str, description: str = "", *, reports: bool = True
) -> argparse.ArgumentParser:
    """A subcommand with a description, its defaults in ``--help``, and ``--json`` when it reports."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}. {description}".strip(),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    if reports:
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of sentences")
    parser.set_defaults(func=func)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack", help="read CallbackUrl, SecretPrefix, ZohoScopes, EventBusName from this deployed stack"
    )
    parser.add_argument("--prefix", help="secret name prefix (default: the stack's, $SECRET_PREFIX or zoho-aep)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoho-aep",
        description="Connect Zoho CRM orgs to Adobe Experience Platform through a deployed zoho-aep stack.",
        epilog="Exit codes: 0 ok, 1 an operation failed, 2 bad usage or input, 3 configuration missing. "
        "Every command has --help; those that report take --json.",
    )
    parser.add_argument("--version", action="version", version=f"zoho-aep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    link = add_command(
        sub,
        "link",
        _cmd_link,
        "print a signed connect link for a Zoho admin to open",
        "The link opens the stack's connect route, which says at once if the link is used or expired, then "
        "sends the admin to Zoho's consent page. Before making it, the command checks that an existing "
        "connection keeps its AEP sandbox and, when the Adobe credential is configured, that AEP knows the sandbox.",
    )
    _common(link)
    link.add_argument("--connection", required=True, help="connection name: lower-case letters, digits, dashes")
    link.add_argument("--sandbox", required=True, help="the AEP sandbox the connection feeds, e.g. prod")
    link.add_argument(
        "--data-center",
        help="the Zoho org's data center: the link then connects only that one (cn starts on China's server)",
    )
    link.add_argument("--zoho-org-id", help="the Zoho org id expected: the link then connects only that org")
    link.add_argument("--ttl-minutes", type=int, default=DEFAULT_TTL_MINUTES, help="how long the link is valid")
    link.add_argument("--callback-url", help="the redirect URI registered with Zoho (default: $CALLBACK_URL)")
    link.add_argument("--scopes", help="comma-separated Zoho scopes (default: $ZOHO_SCOPES or read-only CRM)")

    status = add_command(
        sub,
        "status",
        _cmd_status,
        "one row per connection, from tags only (never reads a token)",
        "Name a connection for its row alone.",
    )
    _common(status)
    status.add_argument("connection", nargs="?", help="one connection (default: all)")

    self_client = add_command(
        sub,
        "import-self-client",
        _cmd_import_self_client,
        "store a connection from a Zoho self-client grant code (made in Zoho's API console)",
        "Exchange a grant code generated with a Zoho self client (no redirect URI) and store the "
        "connection exactly as the callback would, events included. Pass --code - to read it from stdin.",
    )
    _common(self_client)
    self_client.add_argument("--connection", required=True, help="connection name")
    self_client.add_argument("--sandbox", required=True, help="the AEP sandbox the connection feeds")
    self_client.add_argument(
        "--data-center", required=True, help=f"the org's Zoho data center: {', '.join(DataCenterTable.builtin())}"
    )
    self_client.add_argument("--code", required=True, help="the grant code (valid 3 minutes), or - for stdin")

    configure = add_command(
        sub,
        "configure",
        _cmd_configure,
        "store the Zoho client and the Adobe credential in their secrets (checks the Adobe one first)",
        "Prompts without echo, or reads JSON from files or stdin (-): "
        '--zoho-json {"client_id","client_secret","client_secrets":{"eu":...}}; '
        '--adobe-json {"client_id","client_secret","org_id","scopes"}. '
        "With only one of the two, only that one is stored.",
    )
    _common(configure)
    configure.add_argument("--zoho-json", metavar="FILE", help="the Zoho client as JSON (a file, or - for stdin)")
    configure.add_argument("--adobe-json", metavar="FILE", help="the Adobe credential as JSON (a file, or - for stdin)")
    configure.add_argument(
        "--skip-check", action="store_true", help="store the Adobe credential without minting a token"
    )

    for command, summary, func, variable in (
        (
            "refresh",
            "refresh one connection's token now, through the deployed refresh function",
            _cmd_refresh,
            p.REFRESH_FUNCTION.env,
        ),
        (
            "provision",
            "create or update one connection's AEP objects (on the S3 path its datasets and dataflows too) "
            "through the deployed function",
            _cmd_provision,
            p.PROVISIONING_FUNCTION.env,
        ),
    ):
        cmd = add_command(
            sub,
            command,
            func,
            summary,
            f"The function is named by --function, by the stack's outputs (--stack), or by ${variable} "
            "(a local sandbox sets it).",
        )
        cmd.add_argument("connection", nargs="?", help="connection name (or --connection NAME)")
        cmd.add_argument("--connection", dest="connection_option", metavar="NAME", help="the same, as an option")
        cmd.add_argument("--stack", help="the deployed stack (its outputs name the function)")
        cmd.add_argument("--function", help="the function name or ARN, instead of --stack")
        if command == "refresh":
            cmd.add_argument("--if-due", action="store_true", help="refresh only if the token is due (default: force)")
        if command == "provision":
            cmd.add_argument(
                "--path",
                choices=PATHS,
                help="move the connection to this path to AEP (recorded in its aep:path tag; default: as recorded)",
            )

    export = add_command(
        sub,
        "export",
        _cmd_export,
        "export one connection's Zoho modules to the S3 bucket now, through the deployed export function",
        "The S3 path's export of one connection: the modules' records modified since their last export (or all "
        "of them, with --full), deleted records as tombstones. A Bulk Read job Zoho is still running is picked up "
        "on its own later.",
    )
    export.add_argument("--connection", required=True, help="connection name")
    export.add_argument("--module", action="append", help="a Zoho module API name (repeatable; default: ExportModules)")
    export.add_argument("--full", action="store_true", help="export every record again, not only the changes")
    export.add_argument("--stack", help="the deployed stack (its outputs name the function)")
    export.add_argument("--function", help="the function name or ARN, instead of --stack")

    disc = add_command(
        sub,
        "disconnect",
        _cmd_disconnect,
        "delete the AEP base connection, revoke the Zoho tokens, schedule the secret's deletion",
        "Says what it removed and what it left. If dataflows still use the base connection it names them and "
        "changes nothing, unless --force.",
    )
    _common(disc)
    disc.add_argument("connection", help="connection name")
    disc.add_argument("--recovery-days", type=int, default=7, help="days the secret stays recoverable (7-30)")
    disc.add_argument("--force", action="store_true", help="go on even if dataflows still use the base connection")
    disc.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    disc.add_argument(
        "--delete-datasets",
        action="store_true",
        help="the S3 path: also delete the AEP datasets, schemas and field groups (their rows go with them)",
    )

    uninstall = add_command(
        sub,
        "uninstall",
        _cmd_uninstall,
        "disconnect every connection: what `sam delete` leaves behind",
        "Run it before `sam delete`: it needs the stack's Adobe and Zoho secrets to clean up AEP and revoke "
        "the Zoho tokens. The connection secrets are scheduled for deletion (recoverable).",
    )
    _common(uninstall)
    uninstall.add_argument("--recovery-days", type=int, default=7, help="days the secrets stay recoverable (7-30)")
    uninstall.add_argument("--force", action="store_true", help="go on even if dataflows still use a base connection")
    uninstall.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    uninstall.add_argument(
        "--delete-datasets", action="store_true", help="the S3 path: also delete the AEP datasets and their schemas"
    )
    return parser


def _fail(out: Output, exc: ZohoAepError, exit_code: int) -> int:
    print(f"zoho-aep: {exc.message} [{exc.code}]", file=sys.stderr)
    if out.as_json:
        print(json.dumps({"ok": False, "code": exc.code, "message": exc.message}, indent=2, sort_keys=True))
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "connection_option"):  # refresh, provision: NAME or --connection NAME, once
        if args.connection and args.connection_option and args.connection != args.connection_option:
            parser.error("name the connection once: NAME or --connection NAME")
        args.connection = args.connection or args.connection_option
        if not args.connection:
            parser.error(f"{args.command}: the connection is required (NAME or --connection NAME)")
    quiet_libraries()  # botocore logs whole secret values at DEBUG, whatever the caller's logging says
    out = Output(bool(getattr(args, "json", False)))
    try:
        with aws.interactive():  # a person is waiting: an endpoint that does not answer fails in seconds
            code = int(args.func(args, out))
    except ZohoAepError as exc:
        endpoint = aws.unreachable_endpoint(exc)
        if endpoint is not None:
            unreachable = AwsUnreachable(
                f"Could not reach AWS at {endpoint}: check the region, the network and any AWS_ENDPOINT_URL_* "
                "variable (a local sandbox must be running)."
            )
            return _fail(out, unreachable, EXIT_FAILED)
        if isinstance(exc, ConfigError):
            return _fail(out, exc, EXIT_CONFIG)
        if isinstance(exc, BadRequest):
            return _fail(out, exc, EXIT_USAGE)
        return _fail(out, exc, EXIT_FAILED)
    out.finish()
    return code
