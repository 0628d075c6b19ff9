"""``make demo``: a whole onboarding on one machine, no account needed.

moto's server plays Secrets Manager, EventBridge, S3 and IAM; the emulators play Zoho and Adobe.
The demo creates a connect link with the real command line, has the emulated Zoho admin accept it,
runs the real callback handler on the redirect and prints the stored connection with its secrets
masked. Provisioning finds Adobe's Zoho CRM source retired and takes the Amazon S3 path: schemas,
datasets and dataflows in the emulated AEP. A scheduled token refresh follows, then the export of the
org's records to the bucket, AEP's dataflows reading them into the datasets (rows per module), and a
delta (a change, a deletion) arriving as a second run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local.functions import load_function
from local.narration import Say, logs_to_file
from local.refresh_step import show_refresh_cycle
from local.sandbox import ADMIN, ORG_ID, PREFIX, local_world, seed_app_secrets

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEYS = {"access_token", "refresh_token", "replaced_refresh_token", "revoke_pending", "state_nonces"}


def masked(value: dict[str, Any]) -> dict[str, Any]:
    """The connection secret as an operator may see it: token material replaced by its length."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in SECRET_KEYS:
            out[key] = f"<masked, {len(json.dumps(item))} chars>"
        else:
            out[key] = item
    return out


say: Say = print


def step(number: int, text: str) -> None:
    say(f"\n[{number}] {text}")


def http_event(query: str, path: str = "/oauth/callback", route: str = "ANY /oauth/callback") -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path}, "requestId": "demo"},
    }


class _Context:
    function_name = "demo-oauth-callback"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:demo"
    aws_request_id = "demo-request"


def export_deps(world: Any, settings: Any, now: dict[str, float]) -> Any:
    """The export's real adapters on the demo's simulated clock."""
    from zoho_aep import wiring
    from zoho_aep.adapters.logs import get_logger

    world.zoho.clock = lambda: now["t"]
    deps = wiring.export_deps(settings, get_logger("zoho-export"))
    deps.clock = deps.refresh.clock = lambda: now["t"]
    return deps


def main() -> int:
    global say
    with logs_to_file("demo") as (say, shout, log_path):
        say("zoho-aep demo: moto's server + the Zoho emulator on 127.0.0.1, the real handler code.")
        say(f"The functions' JSON log and metric lines go to {log_path}.")
        code = _run(shout)
    return code


def _run(shout: Say) -> int:
    with local_world() as world:
        step(1, f"Local AWS (moto) at {world.moto_url}; Zoho data centers emulated on their own ports.")
        seed_app_secrets(world)
        say(f"    Secrets {PREFIX}/zoho-client, {PREFIX}/adobe and {PREFIX}/state-key created.")

        step(2, "Operator: python -m zoho_aep link --connection acme --sandbox prod")
        env = {**world.env, "PYTHONPATH": str(ROOT / "layers/common"), "PATH": "/usr/bin:/bin"}
        link_run = subprocess.run(
            [sys.executable, "-m", "zoho_aep", "link", "--connection", "acme", "--sandbox", "prod"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        if link_run.returncode != 0:
            shout(link_run.stderr)
            return 1
        lines = link_run.stdout.strip().splitlines()
        for line in lines[:-1]:
            say(f"    {line}")
        link = lines[-1]
        say(f"    {link[:110]}...")

        step(3, f"Zoho admin ({ADMIN}, an EU org) opens the link and clicks Accept.")
        handler = load_function("oauth_callback")
        opened = handler.lambda_handler(
            http_event(urlsplit(link).query, "/oauth/connect", "GET /oauth/connect"), _Context()
        )
        if opened["statusCode"] != 302:
            shout(f"the connect route refused the link: HTTP {opened['statusCode']}")
            return 1
        say("    The stack's connect route checks the link (not used, not expired) and sends the admin to Zoho.")
        redirect = world.zoho.consent(opened["headers"]["Location"])
        say(f"    Zoho redirects to {redirect.split('?')[0]}?state=...&code=...&location=eu&accounts-server=...")

        step(4, "The OAuth callback function handles the redirect.")
        answer = handler.lambda_handler(http_event(urlsplit(redirect).query), _Context())
        title = answer["body"].split("<h1", 1)[1].split(">", 1)[1].split("<", 1)[0]
        say(f"    HTTP {answer['statusCode']}: {title}")
        if answer["statusCode"] != 200:
            return 1

        step(5, f"Stored connection secret {PREFIX}/connections/acme (secrets masked):")
        from zoho_aep.adapters.secrets import ConnectionStore

        store = ConnectionStore(PREFIX)
        stored = store.require("acme")
        say("    " + json.dumps(masked(stored.connection.to_value()), indent=2, sort_keys=True).replace("\n", "\n    "))
        say("    tags: " + json.dumps(store.get_tags("acme"), sort_keys=True))

        step(6, "The 'Zoho connection authorized' event triggers AEP provisioning (Adobe emulated).")
        from local.aep_s3_step import path_deps, prepare_s3_path, provision_along_the_path, show_ingestion, show_watch
        from local.emulators.adobe import AdobeEmulator
        from local.export_step import DEMO_BUCKET, seed_org, show_backfill, show_delta
        from zoho_aep.adapters import aws
        from zoho_aep.adapters.events import RecordingPublisher
        from zoho_aep.config.settings import load_settings

        adobe = AdobeEmulator().start()
        try:
            settings = prepare_s3_path(load_settings(), adobe, bucket=DEMO_BUCKET, s3_url=world.moto_url)
            say(f"    The stack's export bucket {DEMO_BUCKET} and AEP's read-only key to it are in place.")
            events = RecordingPublisher()
            aep = path_deps(settings, events)
            result = provision_along_the_path(aep, events, "acme", adobe, lambda line: say(f"    {line}"))
            if not result.ok:
                return 1
            say("    tags: " + json.dumps(store.get_tags("acme"), sort_keys=True))

            step(7, "45 minutes later (simulated clock): the scheduled token refresh finds acme due.")
            later = time.time() + 45 * 60
            world.zoho.clock = lambda: later
            from zoho_aep import wiring
            from zoho_aep.adapters.logs import get_logger

            deps = wiring.refresh_deps(load_settings(), logger=get_logger("token-refresh"))
            deps.clock = lambda: later
            report = show_refresh_cycle(deps, force=False, out=lambda line: say(f"    {line}"))
            if report.count("refreshed") != 1:
                return 1

            step(8, "The export: acme's CRM records to the stack's bucket (Zoho's Bulk Read), gzip CSV per page.")
            now = {"t": later}

            def advance(seconds: float) -> None:
                now["t"] += seconds

            seed_org(world.zoho, ORG_ID, before=later - 3600)
            exporting = export_deps(world, settings, now)
            if not show_backfill(exporting, aws.client("s3"), "acme", advance=advance, say=lambda x: say(f"    {x}")):
                return 1

            step(9, "AEP's dataflows run (emulated): its S3 source reads the new files with the reader's key.")
            assert aep.s3 is not None  # nosec B101  # prepare_s3_path set the bucket
            bucket = aep.s3().bucket
            first = show_ingestion(adobe, bucket, "acme", lambda line: say(f"    {line}"))
            if not first or not all(first.values()) or not show_watch(aep, lambda line: say(f"    {line}")):
                return 1

            step(10, "The delta: a change and a deletion in Zoho, the next export, AEP's next run.")
            shown = lambda x: say(f"    {x}")  # noqa: E731
            if not show_delta(exporting, aws.client("s3"), world.zoho, ORG_ID, "acme", advance=advance, say=shown):
                return 1
            second = show_ingestion(adobe, bucket, "acme", shown)
            if second.get("Leads") != first["Leads"] + 1 or second.get("Contacts") != first["Contacts"] + 1:
                return 1
            say("    AEP's datasets keep every version: the renamed lead is a new row, the deleted contact a row")
            say("    with zoho_deleted = true (take the newest row per id, drop the deleted ones).")
        finally:
            adobe.stop()
    say("\nDemo complete.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
