"""The operator's command line: ``zoho-aep <command>`` (also ``python -m zoho_aep``).

Every error is one line on stderr that says what to do, with a documented exit code:
0 success, 1 an operation failed (AWS, Zoho or Adobe refused), 2 bad usage or input,
3 configuration missing or invalid.
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

from .. import wiring
from ..adapters import aws
from ..adapters.aws import client_errors
from ..adapters.logs import pin_secret, quiet_libraries
from ..adapters.secrets import AppSecrets, ConnectionStore
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
    BadRequest,
    ConfigError,
    ConfirmationRequired,
    DataCenterUnknown,
    FunctionFailed,
    InputInvalid,
    InputMissing,
    InputUnreadable,
    InvokeFailed,
    StackNotFound,
    StoreError,
    ZohoAepError,
    ZohoUserTokensNearLimit,
)
from ..domain.links import DEFAULT_TTL_MINUTES, build_connect_link, check_zoho_org_id
from ..domain.names import check_connection_name
from ..usecases.connect import import_self_client
from ..usecases.credentials import check_adobe_credential
from ..usecases.disconnect import MAX_RECOVERY_DAYS, MIN_RECOVERY_DAYS, disconnect

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


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
def _cmd_link(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not settings.callback_url:
        raise ConfigError(
            "CALLBACK_URL is not set: pass --stack NAME or --callback-url, or export the stack's CallbackUrl output."
        )
    if args.data_center is not None and args.data_center not in settings.data_centers:
        known = ", ".join(settings.data_centers)
        raise DataCenterUnknown(f"--data-center must be one of: {known}.")
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
    expires = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(link.state.expires_at))
    bound = [f"Zoho org {org_id}"] if org_id else []
    bound += [f"data center {args.data_center}"] if args.data_center else []
    print(f"Connect link for connection '{link.state.connection}' (AEP sandbox '{link.state.sandbox}').")
    if bound:
        print(f"It connects only {' in '.join(bound)}.")
    print(f"Send it to the Zoho CRM administrator; it works once and expires at {expires}.")
    print(link.url)
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


def _cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    now = time.time()
    rows = status_rows(ConnectionStore(settings.secret_prefix), now)
    exports = export_rows(settings, [str(r["connection"]) for r in rows], now)
    if args.json:
        detailed = [{**row, "exports": [e for e in exports if e["connection"] == row["connection"]]} for row in rows]
        print(json.dumps(detailed, indent=2))
        return EXIT_OK
    if not rows:
        print(f"No connections under {settings.secret_prefix}/connections/ yet. Create one with `zoho-aep link`.")
        return EXIT_OK
    _print_table(rows, STATUS_COLUMNS)
    if exports:
        print()
        _print_table(exports, EXPORT_COLUMNS)
    return EXIT_OK


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    table = [[str(row.get(col) if row.get(col) not in (None, "") else "-") for col in columns] for row in rows]
    headers = [c.upper().replace("_", " ") for c in columns]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


EXPORT_COLUMNS = ("connection", "module", "last_export", "outcome", "records", "deleted", "files", "reason")


def _ago(epoch: int | None, now: float) -> str | None:
    if epoch is None:
        return None
    minutes = max(0, int(now - epoch) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m ago" if minutes >= 60 else f"{minutes}m ago"


def export_rows(settings: Settings, connections: Sequence[str], now: float) -> list[dict[str, Any]]:
    """Each module's last export, from the units' state objects (the S3 path; no token is read).

    Empty when no export bucket is known (``EXPORT_BUCKET``, or the stack's ``ExportBucketName``).
    """
    if not settings.export_bucket:
        return []
    from ..adapters.s3 import ExportBucket

    bucket = ExportBucket(settings.export_bucket)
    rows: list[dict[str, Any]] = []
    for connection in connections:
        for state in sorted(bucket.states(connection), key=lambda s: s.module):
            last = state.last
            running = state.run is not None and (last is None or last.outcome != "failed")
            rows.append(
                {
                    "connection": connection,
                    "module": state.module,
                    "last_export": _ago(last.at, now) if last else None,
                    "last_export_at": last.at if last else None,
                    "outcome": "running" if running else (last.outcome if last else None),
                    "records": last.records if last else None,
                    "deleted": last.deleted if last else None,
                    "files": last.files if last else None,
                    "reason": last.reason_code if last else None,
                    "watermark": state.watermark,
                }
            )
    return rows


def _cmd_import_self_client(args: argparse.Namespace) -> int:
    settings = _settings(args)
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
    print(
        f"Connection '{result.connection}' {verb}: Zoho org {org}, "
        f"data center {result.data_center}, AEP sandbox {result.sandbox}."
    )
    # Provisioning listens on the stack's own bus, where only the stack's functions may put events.
    print(f"Provision it in AEP: zoho-aep provision {result.connection} --stack STACK.")
    if not result.event_published:
        print(
            "warning: the 'Zoho connection authorized' event was not published; run `zoho-aep provision`.",
            file=sys.stderr,
        )
    if result.user_connections >= WARN_CONNECTIONS_PER_ZOHO_USER:
        print(
            f"warning: this Zoho user now holds {result.user_connections} connections; Zoho keeps "
            f"{ZOHO_REFRESH_TOKENS_PER_USER} refresh tokens per user [{ZohoUserTokensNearLimit.code}].",
            file=sys.stderr,
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


def _cmd_configure(args: argparse.Namespace) -> int:
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
        print(f"Checking the Adobe credential against {settings.adobe_ims_url} ...")
        check_adobe_credential(settings, adobe)  # raises with a code that names the fix; nothing stored
        print("Adobe credential works: IMS issued an access token.")
    if zoho is not None:
        _put(settings, "zoho-client", zoho)
        extra = (
            f" (+ own secrets for {', '.join(sorted(zoho.get('client_secrets', {})))})"
            if "client_secrets" in zoho
            else ""
        )
        print(f"Stored the Zoho client {zoho['client_id']} in {settings.secret_prefix}/zoho-client{extra}.")
    if adobe is not None:
        value = {
            "client_id": adobe.client_id,
            "client_secret": adobe.client_secret,
            "org_id": adobe.org_id,
            "scopes": adobe.scopes,
        }
        _put(settings, "adobe", value)
        print(f"Stored the Adobe credential for {adobe.org_id} in {settings.secret_prefix}/adobe.")
    return EXIT_OK


# ---- refresh / provision: invoke the deployed functions --------------------------------------------
def _function_name(args: argparse.Namespace, output: str) -> str:
    if args.function:
        return str(args.function)
    if not args.stack:
        raise InputMissing("Name the deployed function: --stack NAME (reads its outputs) or --function NAME.")
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


def _cmd_refresh(args: argparse.Namespace) -> int:
    check_connection_name(args.connection)
    name = _function_name(args, "TokenRefreshFunctionName")
    report = invoke_function(name, {"connections": [args.connection], "force": not args.if_due})
    outcomes = [c for c in report.get("connections", []) if isinstance(c, dict)]
    if report.get("status") == "error" or not outcomes:
        print(
            f"Refresh did not run for {args.connection}: {report.get('error') or report.get('status')}", file=sys.stderr
        )
        return EXIT_FAILED
    ok = True
    for item in outcomes:
        reason = f" ({item['reason']})" if item.get("reason") else ""
        expires = item.get("expires_at")
        when = (
            f", token expires {time.strftime('%H:%M:%S UTC', time.gmtime(expires))}" if isinstance(expires, int) else ""
        )
        print(f"{item.get('connection')}: {item.get('outcome')}{reason}, status {item.get('status') or '-'}{when}")
        ok = ok and item.get("outcome") in ("refreshed", "not-due", "superseded")
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_export(args: argparse.Namespace) -> int:
    check_connection_name(args.connection)
    payload: dict[str, Any] = {"connection": args.connection, "full": args.full}
    if args.module:
        payload["modules"] = list(dict.fromkeys(args.module))
    name = _function_name(args, "ZohoExportFunctionName")
    report = invoke_function(name, payload)
    exports = [e for e in report.get("exports", []) if isinstance(e, dict)]
    if report.get("status") == "error" or not exports:
        print(
            f"Export did not run for {args.connection}: {report.get('error') or report.get('status')}", file=sys.stderr
        )
        return EXIT_FAILED
    ok = True
    for item in exports:
        counts = f"{item.get('records', 0)} records, {item.get('deleted', 0)} deleted, {item.get('files', 0)} files"
        reason = f" ({item['reason']})" if item.get("reason") else ""
        later = " - it goes on by itself" if item.get("outcome") in ("pending", "continues", "deferred") else ""
        print(f"{item.get('connection')}/{item.get('module')}: {item.get('outcome')}{reason}, {counts}{later}")
        ok = ok and item.get("outcome") != "failed"
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_provision(args: argparse.Namespace) -> int:
    check_connection_name(args.connection)
    name = _function_name(args, "AdobeProvisioningFunctionName")
    result = invoke_function(name, {"connection": args.connection})
    if result.get("ok"):
        verb = "created" if result.get("created") else "updated"
        modules = result.get("modules") or []
        print(
            f"{args.connection}: AEP base connection {result.get('base_connection_id')} {verb} in sandbox "
            f"{result.get('sandbox')}; AEP sees {len(modules)} Zoho modules."
        )
        return EXIT_OK
    retry = "a retry may help" if result.get("retryable") else "see docs/reference.md, Codes"
    print(f"{args.connection}: provisioning failed: {result.get('reason_code')} ({retry}).", file=sys.stderr)
    return EXIT_FAILED


# ---- disconnect ------------------------------------------------------------------------------------
def _cmd_disconnect(args: argparse.Namespace) -> int:
    settings = _settings(args)
    check_connection_name(args.connection)
    if not MIN_RECOVERY_DAYS <= args.recovery_days <= MAX_RECOVERY_DAYS:
        raise InputInvalid(f"--recovery-days is {MIN_RECOVERY_DAYS} to {MAX_RECOVERY_DAYS}.")
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfirmationRequired("Refusing to disconnect without confirmation: pass --yes.")
        answer = input(
            f"Disconnect '{args.connection}': delete its AEP base connection, revoke its Zoho tokens and delete "
            f"its secret (recoverable for {args.recovery_days} days)? Type the connection name to confirm: "
        )
        if answer.strip() != args.connection:
            print("Not confirmed; nothing changed.", file=sys.stderr)
            return EXIT_USAGE
    logger = logging.getLogger("zoho_aep.cli")
    result = disconnect(
        wiring.provision_deps(settings, logger), args.connection, recovery_days=args.recovery_days, force=args.force
    )
    for base_id in result.base_connections_deleted:
        print(f"Deleted AEP base connection {base_id}.")
    for base_id, flows in result.base_connections_kept.items():
        used_by = ", ".join(flows) if flows else "dataflows Adobe did not name"
        print(f"AEP base connection {base_id} is still used by dataflows: {used_by}.", file=sys.stderr)
    if result.blocked and not args.force:
        print(
            "Nothing else changed. Delete or move those dataflows in AEP and run disconnect again "
            "(or pass --force to revoke and delete anyway, leaving the base connection).",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"Revoked {result.zoho_tokens_revoked} Zoho refresh token(s).")
    if result.zoho_tokens_not_revoked:
        print(
            f"warning: {result.zoho_tokens_not_revoked} token(s) could not be revoked; "
            "remove the app in Zoho's Connected Apps.",
            file=sys.stderr,
        )
    print(
        f"Secret {settings.secret_prefix}/connections/{args.connection} "
        f"scheduled for deletion on {result.deletion_date}."
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoho-aep",
        description="Connect Zoho CRM orgs to Adobe Experience Platform through a deployed zoho-aep stack.",
        epilog="Exit codes: 0 ok, 1 an operation failed, 2 bad usage or input, 3 configuration missing.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--stack", help="read CallbackUrl, SecretPrefix, ZohoScopes, EventBusName from this deployed stack"
        )
        p.add_argument("--prefix", help="secret name prefix (default: the stack's, $SECRET_PREFIX or zoho-aep)")

    link = sub.add_parser("link", help="print a signed connect link for a Zoho admin to open")
    common(link)
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
    link.set_defaults(func=_cmd_link)

    status = sub.add_parser("status", help="one row per connection, from tags only (never reads a token)")
    common(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_cmd_status)

    self_client = sub.add_parser(
        "import-self-client",
        help="store a connection from a Zoho self-client grant code (made in Zoho's API console)",
        description="Exchange a grant code generated with a Zoho self client (no redirect URI) and store the "
        "connection exactly as the callback would, events included. Pass --code - to read it from stdin.",
    )
    common(self_client)
    self_client.add_argument("--connection", required=True, help="connection name")
    self_client.add_argument("--sandbox", required=True, help="the AEP sandbox the connection feeds")
    self_client.add_argument(
        "--data-center", required=True, help=f"the org's Zoho data center: {', '.join(DataCenterTable.builtin())}"
    )
    self_client.add_argument("--code", required=True, help="the grant code (valid ~2 minutes), or - for stdin")
    self_client.set_defaults(func=_cmd_import_self_client)

    configure = sub.add_parser(
        "configure",
        help="store the Zoho client and the Adobe credential in their secrets (checks the Adobe one first)",
        description="Prompts without echo, or reads JSON from files or stdin (-): "
        '--zoho-json {"client_id","client_secret","client_secrets":{"eu":...}}; '
        '--adobe-json {"client_id","client_secret","org_id","scopes"}. '
        "With only one of the two, only that one is stored.",
    )
    common(configure)
    configure.add_argument("--zoho-json", metavar="FILE", help="the Zoho client as JSON (a file, or - for stdin)")
    configure.add_argument("--adobe-json", metavar="FILE", help="the Adobe credential as JSON (a file, or - for stdin)")
    configure.add_argument(
        "--skip-check", action="store_true", help="store the Adobe credential without minting a token"
    )
    configure.set_defaults(func=_cmd_configure)

    for command, helptext, func in (
        ("refresh", "refresh one connection's token now, through the deployed refresh function", _cmd_refresh),
        (
            "provision",
            "create or update one connection's AEP base connection through the deployed function",
            _cmd_provision,
        ),
    ):
        cmd = sub.add_parser(command, help=helptext)
        cmd.add_argument("connection", help="connection name")
        cmd.add_argument("--stack", help="the deployed stack (its outputs name the function)")
        cmd.add_argument("--function", help="the function name or ARN, instead of --stack")
        if command == "refresh":
            cmd.add_argument("--if-due", action="store_true", help="refresh only if the token is due (default: force)")
        cmd.set_defaults(func=func)

    export = sub.add_parser(
        "export",
        help="export one connection's Zoho modules to the S3 bucket now, through the deployed export function",
        description="Runs the S3 path's export of one connection now: the modules' records modified since their "
        "last export (or all of them, with --full), deleted records as tombstones. A Bulk Read job Zoho is still "
        "running is picked up on its own later.",
    )
    export.add_argument("--connection", required=True, help="connection name")
    export.add_argument("--module", action="append", help="a Zoho module API name (repeatable; default: ExportModules)")
    export.add_argument("--full", action="store_true", help="export every record again, not only the changes")
    export.add_argument("--stack", help="the deployed stack (its outputs name the function)")
    export.add_argument("--function", help="the function name or ARN, instead of --stack")
    export.set_defaults(func=_cmd_export)

    disc = sub.add_parser(
        "disconnect",
        help="delete the AEP base connection, revoke the Zoho tokens, schedule the secret's deletion",
    )
    common(disc)
    disc.add_argument("connection", help="connection name")
    disc.add_argument("--recovery-days", type=int, default=7, help="days the secret stays recoverable (7-30)")
    disc.add_argument("--force", action="store_true", help="go on even if dataflows still use the base connection")
    disc.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    disc.set_defaults(func=_cmd_disconnect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_libraries()  # botocore logs whole secret values at DEBUG, whatever the caller's logging says
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"zoho-aep: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_CONFIG
    except BadRequest as exc:
        print(f"zoho-aep: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_USAGE
    except ZohoAepError as exc:
        print(f"zoho-aep: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_FAILED
