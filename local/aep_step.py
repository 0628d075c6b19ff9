"""Provision a connected Zoho org in an emulated AEP on the native path (Adobe's Zoho CRM source).

Where Adobe still serves the source (the emulator's default), :func:`provision_in_emulated_aep` gives
the Adobe emulator an OAuth Server-to-Server credential, stores that credential in
``{prefix}/adobe`` the way an operator would, and runs the real provisioning use case against the
emulator. The base connection then lives in the emulated AEP, with the Zoho modules it sees.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable

from local.emulators.adobe import AdobeEmulator
from zoho_aep import wiring
from zoho_aep.adapters.events import RecordingPublisher
from zoho_aep.config.settings import Settings
from zoho_aep.usecases.provision import ProvisionResult, provision_connection

DEMO_CLIENT_ID = "demo-aep-client-id"
DEMO_CLIENT_SECRET = "p8e-demo-aep-client-secret"
DEMO_ORG_ID = "DEMO0000000000000000@AdobeOrg"


def provision_in_emulated_aep(
    settings: Settings,
    connection: str,
    adobe: AdobeEmulator,
    *,
    sandbox: str = "prod",
    say: Callable[[str], None] = print,
) -> ProvisionResult:
    """Provision ``connection`` into the running ``adobe`` emulator; print what AEP now holds."""
    adobe.register_credential(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG_ID)
    adobe.add_sandbox(sandbox)
    settings = dataclasses.replace(settings, adobe_ims_url=adobe.base_url, adobe_platform_url=adobe.base_url)
    deps = wiring.provision_deps(settings, logging.getLogger("zoho_aep.demo.provisioning"))
    credential = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "org_id": DEMO_ORG_ID}
    deps.app_secrets.client.put_secret_value(
        SecretId=f"{settings.secret_prefix}/adobe", SecretString=json.dumps(credential)
    )
    events = RecordingPublisher()
    deps.events = events  # the sandbox shows events instead of sending them to a bus

    result = provision_connection(deps, connection)

    if not result.ok:
        say(f"AEP provisioning failed: {result.reason_code} (see docs/reference.md, Codes)")
        return result
    verb = "created" if result.created else "updated"
    say(f"AEP base connection {result.base_connection_id} {verb} in sandbox '{result.sandbox}'.")
    for record in adobe.connections_in(result.sandbox or sandbox):
        params = record["auth"]["params"]
        say(f"  name '{record['name']}', Zoho API {params['endpoint']}, accounts {params['accountsUrl']}")
    say(f"AEP sees {len(result.modules)} Zoho CRM modules: {', '.join(result.modules)}")
    for detail_type, detail in events.events:
        say(f"  event '{detail_type}': {json.dumps(detail, sort_keys=True)}")
    return result
