"""The demo's refresh step shows each connection's expiry before and after, and no token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from local.refresh_step import show_refresh_cycle
from tests.support.fakes import FakeClock
from tests.support.refresh_world import RefreshWorld
from zoho_aep.domain.times import iso_utc


@pytest.fixture
def world(sm: Any, app_secrets_seeded: dict[str, Any], zoho: Any, clock: FakeClock) -> Iterator[RefreshWorld]:
    bench = RefreshWorld(sm, zoho, clock)
    yield bench
    bench.close()


def test_the_demo_step_prints_expiry_before_and_after_with_tokens_masked(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    first_expiry = iso_utc(world.clock() + 3600)
    world.clock.advance(5 * 60)
    lines: list[str] = []

    report = show_refresh_cycle(world.deps, out=lines.append)

    assert report.outcome_of("acme").outcome == "refreshed"
    new_access = world.value("acme")["access_token"]
    assert lines[1] == (
        f"  acme: expires {first_expiry} -> {iso_utc(world.clock() + 3600)} [refreshed] access_token *** (replaced)"
    )
    secrets = [s for s in (tokens.access_token, tokens.refresh_token, new_access) if s]
    assert not any(secret in line for line in lines for secret in secrets)
