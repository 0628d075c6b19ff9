"""The operator's command line: ``python -m zoho_aep <command>`` (installed as ``zoho-aep`` too).

Every error is one line on stderr that says what to do, with a documented exit code:
0 success, 1 an operation failed (AWS, Zoho or Adobe refused), 2 bad usage or input,
3 configuration missing or invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from .config import Settings, check_callback_url, check_secret_prefix, load_settings, parse_scopes
from .errors import BadRequest, ConfigError, ZohoAepError
from .links import DEFAULT_TTL_MINUTES, build_connect_link
from .store import (
    TAG_BASE_CONNECTION_ID,
    TAG_DATA_CENTER,
    TAG_EXPIRES_AT,
    TAG_LAST_ERROR,
    TAG_ORG_ID,
    TAG_SANDBOX,
    TAG_STATUS,
    AppSecrets,
    ConnectionStore,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


# ---- where the settings come from: environment, a deployed stack, flags ---------------------------
STACK_OUTPUTS = {
    "CallbackUrl": "CALLBACK_URL",
    "SecretPrefix": "SECRET_PREFIX",
    "ZohoScopes": "ZOHO_SCOPES",
    "EventBusName": "EVENT_BUS_NAME",
}


def stack_outputs(stack: str) -> dict[str, str]:
    """The CloudFormation outputs of a deployed zoho-aep stack."""
    from botocore.exceptions import BotoCoreError, ClientError

    from . import aws

    try:
        answer = aws.client("cloudformation").describe_stacks(StackName=stack)
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(
            f"Cannot read stack {stack} ({aws.error_code(exc) or 'no answer'}); "
            "check the name, region and credentials.",
            code="stack-not-found",
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
    if args.data_center not in settings.data_centers:
        known = ", ".join(settings.data_centers)
        raise BadRequest(f"--data-center must be one of: {known}.", code="data-center-unknown")
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
        ttl_minutes=args.ttl_minutes,
        now=time.time(),
    )
    expires = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(link.state.expires_at))
    print(f"Connect link for connection '{link.state.connection}' (AEP sandbox '{link.state.sandbox}').")
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
    "status",
    "expires",
    "sandbox",
    "base_connection",
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
                "status": tags.get(TAG_STATUS),
                "expires_at": int(expires) if expires and expires.isdigit() else None,
                "expires": _expires_in(expires, now),
                "sandbox": tags.get(TAG_SANDBOX),
                "base_connection": tags.get(TAG_BASE_CONNECTION_ID),
                "last_error": tags.get(TAG_LAST_ERROR),
            }
        )
    return rows


def _cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rows = status_rows(ConnectionStore(settings.secret_prefix), time.time())
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print(f"No connections under {settings.secret_prefix}/connections/ yet. Create one with `zoho-aep link`.")
        return EXIT_OK
    table = [[str(row.get(col) or "-") for col in STATUS_COLUMNS] for row in rows]
    headers = [c.upper().replace("_", " ") for c in STATUS_COLUMNS]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _cmd_import_self_client(args: argparse.Namespace) -> int:
    from . import wiring
    from .connect import import_self_client

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
    if not result.event_published:
        print(
            "warning: the 'Zoho connection authorized' event was not published; run `zoho-aep provision`.",
            file=sys.stderr,
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
    link.add_argument("--data-center", default="us", help="the Zoho org's data center (cn starts on China's server)")
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
        "--data-center", required=True, help="the org's Zoho data center: us, eu, in, au, jp, ca, sa, cn, uk"
    )
    self_client.add_argument("--code", required=True, help="the grant code (valid ~2 minutes), or - for stdin")
    self_client.set_defaults(func=_cmd_import_self_client)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
