"""The local sandbox's provisioning step ends with the base connection in the emulated AEP."""

from __future__ import annotations

from local.aep_step import provision_in_emulated_aep
from local.emulators.adobe import AdobeEmulator
from tests.support.aep import Bench, adobe_fixture, bench_fixture  # noqa: F401


def test_the_demo_step_provisions_into_a_fresh_emulator_and_shows_the_modules(bench: Bench) -> None:
    bench.authorize(sandbox="demo")
    lines: list[str] = []
    aep = AdobeEmulator().start()
    try:
        result = provision_in_emulated_aep(bench.settings, "acme", aep, sandbox="demo", say=lines.append)
        stored = aep.connections_in("demo")
    finally:
        aep.stop()

    assert result.ok and [r["id"] for r in stored] == [result.base_connection_id]
    output = "\n".join(lines)
    assert f"AEP base connection {result.base_connection_id} created in sandbox 'demo'" in output
    assert "AEP sees 8 Zoho CRM modules: Leads, Contacts" in output
    assert "AEP base connection provisioned" in output
    assert bench.secret()["access_token"] not in output
