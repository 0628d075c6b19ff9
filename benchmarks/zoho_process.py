"""The Zoho emulator in its own process, driven by one-line JSON commands on stdin.

``python -m benchmarks.zoho_process`` starts the emulator (every data center on its own port on
127.0.0.1), registers the benchmark's client and answers each command line with one JSON line:

- ``{"cmd": "hello"}`` -> ``{"data_centers": <ZOHO_DATA_CENTERS_JSON>}``
- ``{"cmd": "codes", "dc": "us", "first": 0, "count": 100}`` -> ``{"codes": [[org_id, code], ...]}``:
  one org and admin per index (Zoho keeps at most 20 refresh tokens per user, so every connection
  gets its own user) and a self-client grant code for each, to exchange over HTTP;
- ``{"cmd": "delay", "seconds": 0.1}`` -> a fixed delay before every answer;
- ``{"cmd": "count", "path": "/oauth/v2/token"}`` -> ``{"count": n}`` requests seen on that path;
- ``{"cmd": "records", "org": "9000000000", "module": "Leads", "count": 20000, "age": 86400}`` ->
  ``{"records": n}``: synthetic CRM records in that org's module, last modified ``age`` seconds ago;
- ``{"cmd": "churn", "org": ..., "module": ..., "changed": 100, "deleted": 10}`` -> ``{"changed", "deleted"}``:
  that many of the module's records modified now, that many deleted (the next export's delta);
- ``{"cmd": "crm", "page_size": 200000, "job_seconds": 0}`` -> the Bulk Read knobs as they now are.
It stops when its stdin closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from local.emulators.zoho import ZohoEmulator

# The product's default ZOHO_SCOPES: what the refresh and the export both need.
SCOPES = (
    "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ,"
    "ZohoCRM.settings.fields.READ,ZohoCRM.bulk.READ"
)
CRM_KNOBS = ("page_size", "job_seconds", "downloads_per_minute")


def _answer(emulator: ZohoEmulator, command: dict[str, Any], client_id: str) -> dict[str, Any]:
    cmd = command.get("cmd")
    if cmd == "hello":
        return {"data_centers": emulator.data_centers_json()}
    if cmd == "codes":
        dc, first, count = str(command["dc"]), int(command["first"]), int(command["count"])
        codes = []
        for index in range(first, first + count):
            org_id, user = f"9{index:09d}", f"admin{index}@org{index}.example"
            emulator.add_org(dc, org_id, f"Bench org {index}", user=user)
            codes.append([org_id, emulator.issue_self_client_code(client_id, dc, SCOPES, user=user)])
        return {"codes": codes}
    if cmd == "delay":
        emulator.delay_seconds = float(command["seconds"])
        return {"delay": emulator.delay_seconds}
    if cmd == "count":
        return {"count": len(emulator.calls(str(command["path"])))}
    if cmd == "records":
        modified_at = emulator.clock() - float(command.get("age", 0))
        ids = emulator.crm.add_many(
            str(command["org"]), str(command["module"]), int(command["count"]), modified_at=modified_at
        )
        return {"records": len(ids)}
    if cmd == "churn":
        return _churn(
            emulator, str(command["org"]), str(command["module"]), int(command["changed"]), int(command["deleted"])
        )
    if cmd == "crm":
        for knob in CRM_KNOBS:
            if knob in command:
                setattr(emulator.crm, knob, type(getattr(emulator.crm, knob))(command[knob]))
        return {knob: getattr(emulator.crm, knob) for knob in CRM_KNOBS}
    return {"error": f"unknown command {cmd!r}"}


def _churn(emulator: ZohoEmulator, org: str, module: str, changed: int, deleted: int) -> dict[str, Any]:
    """Touch the first ``changed`` records (by id: their ``Modified_Time`` is now) and delete the next ``deleted``."""
    ids = sorted(emulator.crm.module(org, module).records)
    for record_id in ids[:changed]:
        emulator.crm.put(org, module, {}, record_id)
    for record_id in ids[changed : changed + deleted]:
        emulator.crm.delete(org, module, record_id)
    return {"changed": min(changed, len(ids)), "deleted": max(0, min(deleted, len(ids) - changed))}


def main() -> None:
    client_id, client_secret, redirect_uri = sys.argv[1:4]
    emulator = ZohoEmulator().start()
    emulator.register_client(client_id, client_secret, [redirect_uri])
    try:
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(_answer(emulator, json.loads(line), client_id)), flush=True)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
