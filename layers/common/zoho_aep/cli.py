"""The operator's command line: ``python -m zoho_aep <command>`` (installed as ``zoho-aep`` too).

Every error is one line on stderr that says what to do, with a documented exit code:
0 success, 1 an operation failed (AWS, Zoho or Adobe refused), 2 bad usage or input,
3 configuration missing or invalid.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from .config import check_callback_url, check_secret_prefix, load_settings, parse_scopes
from .errors import BadRequest, ConfigError, ZohoAepError
from .links import DEFAULT_TTL_MINUTES, build_connect_link
from .store import AppSecrets

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 3


def _cmd_link(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.prefix:
        env["SECRET_PREFIX"] = check_secret_prefix(args.prefix, "--prefix")
    if args.callback_url:
        env["CALLBACK_URL"] = check_callback_url(args.callback_url, "--callback-url")
    if args.scopes:
        env["ZOHO_SCOPES"] = ",".join(parse_scopes(args.scopes, "--scopes"))
    settings = load_settings(env)
    if not settings.callback_url:
        raise ConfigError("CALLBACK_URL is not set: pass --callback-url or export the stack's CallbackUrl output.")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoho-aep",
        description="Connect Zoho CRM orgs to Adobe Experience Platform through a deployed zoho-aep stack.",
        epilog="Exit codes: 0 ok, 1 an operation failed, 2 bad usage or input, 3 configuration missing.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    link = sub.add_parser("link", help="print a signed connect link for a Zoho admin to open")
    link.add_argument("--connection", required=True, help="connection name: lower-case letters, digits, dashes")
    link.add_argument("--sandbox", required=True, help="the AEP sandbox the connection feeds, e.g. prod")
    link.add_argument("--data-center", default="us", help="the Zoho org's data center (cn starts on China's server)")
    link.add_argument("--ttl-minutes", type=int, default=DEFAULT_TTL_MINUTES, help="how long the link is valid")
    link.add_argument("--prefix", help="secret name prefix (default: $SECRET_PREFIX or zoho-aep)")
    link.add_argument("--callback-url", help="the redirect URI registered with Zoho (default: $CALLBACK_URL)")
    link.add_argument("--scopes", help="comma-separated Zoho scopes (default: $ZOHO_SCOPES or read-only CRM)")
    link.set_defaults(func=_cmd_link)
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
