"""The Zoho emulator in its own process, driven by one-line JSON commands on stdin.

``python -m benchmarks.zoho_process`` starts the emulator (every data center on its own port on
127.0.0.1), registers the benchmark's client and answers each command line with one JSON line:

- ``{"cmd": "hello"}`` -> ``{"data_centers": <ZOHO_DATA_CENTERS_JSON>}``
- ``{"cmd": "codes", "dc": "us", "first": 0, "count": 100}`` -> ``{"codes": [[org_id, code], ...]}``:
  one org and admin per index (Zoho keeps at most 20 refresh tokens per user, so every connection
  gets its own user) and a self-client grant code for each, to exchange over HTTP;
- ``{"cmd": "delay", "seconds": 0.1}`` -> a fixed delay before every answer;
- ``{"cmd": "count", "path": "/oauth/v2/token"}`` -> ``{"count": n}`` requests seen on that path.
It stops when its stdin closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from local.emulators.zoho import ZohoEmulator

SCOPES = "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ"


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
    return {"error": f"unknown command {cmd!r}"}


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
