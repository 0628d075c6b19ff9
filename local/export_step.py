"""The demo's export step: the emulated org's records exported to the emulated bucket, then a delta.

``make demo`` calls :func:`show_backfill` after provisioning: it runs the real export
(``wiring.export_deps``, on the demo's simulated clock) over the emulated org's records as direct
invokes do until each module's window is in the bucket (the emulator finishes Bulk Read jobs at
once; each run goes as far as it can without waiting), and prints the files per module. Once AEP has
read them, :func:`show_delta` makes a change and a deletion in the org and exports just those.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from typing import Any

from local.emulators.zoho import ZohoEmulator
from zoho_aep.usecases.export.deps import ExportDeps
from zoho_aep.usecases.export.tick import export_connection

DEMO_BUCKET = "zoho-aep-demo-export"
DEMO_RECORDS = {"Leads": 1200, "Contacts": 800, "Accounts": 150, "Deals": 300}
PAGE_SIZE = 500  # a Bulk Read page (Zoho's are 200,000): the demo shows a backfill of several pages


def seed_org(zoho: ZohoEmulator, org_id: str, *, before: float) -> None:
    """Records in every exported module, modified before ``before``."""
    zoho.crm.page_size = PAGE_SIZE
    for module, count in DEMO_RECORDS.items():
        zoho.crm.add_many(org_id, module, count, modified_at=before)


def export_until_done(
    deps: ExportDeps, connection: str, modules: list[str], advance: Callable[[float], None]
) -> list[dict[str, Any]]:
    """Direct invokes until every module's window completed (or failed); returns the last outcome of each."""
    done: dict[str, dict[str, Any]] = {}
    for _ in range(20):
        left = [m for m in modules if m not in done]
        if not left:
            break
        answer = export_connection(deps, connection, modules=left).as_dict()
        for item in answer["exports"]:
            if item["outcome"] in ("completed", "failed"):
                done[item["module"]] = item
        advance(60)  # a minute later, as the unit's delayed poll would come
    return [done[m] for m in modules if m in done]


def rows_of(s3: Any, key: str) -> list[dict[str, str]]:
    body = s3.get_object(Bucket=DEMO_BUCKET, Key=key)["Body"].read()
    return list(csv.DictReader(io.StringIO(gzip.decompress(body).decode("utf-8"))))


def files(s3: Any, connection: str, module: str) -> list[str]:
    answer = s3.list_objects_v2(Bucket=DEMO_BUCKET, Prefix=f"zoho/{connection}/{module}/")
    return sorted(item["Key"] for item in answer.get("Contents", []))


def show_backfill(
    deps: ExportDeps, s3: Any, connection: str, *, advance: Callable[[float], None], say: Callable[[str], None] = print
) -> bool:
    """Every module's first export (a backfill over several Bulk Read pages); True when each completed."""
    modules = list(DEMO_RECORDS)
    outcomes = export_until_done(deps, connection, modules, advance)
    for item in outcomes:
        keys = files(s3, connection, item["module"])
        say(f"{item['module']:<9} {item['outcome']}: {item['records']} records in {len(keys)} file(s)")
    return len(outcomes) == len(modules) and all(o["outcome"] == "completed" for o in outcomes)


def show_delta(
    deps: ExportDeps,
    s3: Any,
    zoho: ZohoEmulator,
    org_id: str,
    connection: str,
    *,
    advance: Callable[[float], None],
    say: Callable[[str], None] = print,
) -> bool:
    """A change and a deletion in Zoho, then the next export: True when it carried exactly those."""
    modules = list(DEMO_RECORDS)
    first = {m: files(s3, connection, m) for m in modules}
    lead = sorted(zoho.crm.module(org_id, "Leads").records)[0]
    contact = sorted(zoho.crm.module(org_id, "Contacts").records)[0]
    advance(3 * 3600)
    zoho.crm.put(org_id, "Leads", {"Last_Name": "Renamed in Zoho"}, record_id=lead)
    zoho.crm.delete(org_id, "Contacts", contact)
    say(f"In Zoho: lead {lead} renamed, contact {contact} deleted. At the next scheduled export:")
    advance(600)
    delta = export_until_done(deps, connection, modules, advance)
    for item in delta:
        new = [k for k in files(s3, connection, item["module"]) if k not in first[item["module"]]]
        rows = [r for key in new for r in rows_of(s3, key)]
        shown = ", ".join(f"{r['id']} ({'deleted' if r['zoho_deleted'] == 'true' else 'changed'})" for r in rows)
        counts = f"{item['records']} changed, {item['deleted']} deleted, {len(new)} new file(s)"
        say(f"{item['module']:<9} {counts}{': ' + shown if shown else ''}")
    changed = {item["module"]: (item["records"], item["deleted"]) for item in delta}
    return changed.get("Leads") == (1, 0) and changed.get("Contacts") == (0, 1)
