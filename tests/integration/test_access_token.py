"""The access-token accessor: a token that lives long enough as stored, else one refresh under the refresh's rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fakes import FakeClock
from tests.support.refresh_world import RefreshWorld
from zoho_aep.domain.connection import TAG_STATUS
from zoho_aep.domain.errors import (
    ConnectionNeedsReauth,
    ZohoApiDomainInvalid,
    ZohoConsentRevoked,
    ZohoMintBudgetExhausted,
    ZohoUnavailable,
)
from zoho_aep.usecases.access_token import valid_access_token

pytestmark = pytest.mark.usefixtures("app_secrets_seeded")


@pytest.fixture
def world(sm: Any, zoho: Any, clock: FakeClock) -> Iterator[RefreshWorld]:
    refresh_world = RefreshWorld(sm, zoho, clock)
    yield refresh_world
    refresh_world.close()


def test_a_token_that_lives_long_enough_is_returned_without_calling_zoho(world: RefreshWorld) -> None:
    tokens = world.consent("acme", dc="eu")
    world.clock.advance(10 * 60)

    grant = valid_access_token(world.deps, "acme", min_validity=15 * 60)

    assert grant.access_token == tokens.access_token
    assert grant.api_domain == world.zoho.api_domain("eu") and grant.data_center.location == "eu"
    assert world.refresh_calls() == []


def test_a_token_about_to_expire_is_refreshed_once_and_stored(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.clock.advance(50 * 60)

    grant = valid_access_token(world.deps, "acme", min_validity=15 * 60)

    assert grant.access_token != tokens.access_token and world.zoho.access_token_valid(grant.access_token)
    assert len(world.refresh_calls()) == 1
    assert world.value("acme")["access_token"] == grant.access_token
    assert world.tags("acme")["zoho-aep:expires-at"] == str(grant.expires_at)
    assert valid_access_token(world.deps, "acme").access_token == grant.access_token  # no second mint
    assert len(world.refresh_calls()) == 1


def test_a_token_another_writer_refreshed_meanwhile_is_not_minted_again(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(50 * 60)
    world.cycle()  # the scheduled refresh got there first
    calls = len(world.refresh_calls())

    grant = valid_access_token(world.deps, "acme")

    assert len(world.refresh_calls()) == calls
    assert grant.access_token == world.value("acme")["access_token"]


def test_a_revoked_consent_is_marked_needs_reauth_and_raised(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.zoho.revoke_consent(tokens.refresh_token)
    world.clock.advance(50 * 60)

    with pytest.raises(ZohoConsentRevoked):
        valid_access_token(world.deps, "acme")

    assert world.tags("acme")[TAG_STATUS] == "needs-reauth"
    assert [e["connection"] for e in world.events_of("Zoho connection needs reauthorization")] == ["acme"]
    with pytest.raises(ConnectionNeedsReauth):  # and it stays refused, without asking Zoho again
        valid_access_token(world.deps, "acme")
    assert len(world.refresh_calls()) == 1


def test_a_passing_zoho_failure_is_raised_as_retryable(world: RefreshWorld) -> None:
    from local.emulators.base import Fault

    world.consent("acme")
    world.clock.advance(50 * 60)
    world.zoho.inject(Fault("/oauth/v2/token", status=503), times=10)

    with pytest.raises(ZohoUnavailable) as info:
        valid_access_token(world.deps, "acme")
    assert info.value.retryable


def test_the_mint_budget_holds_for_the_accessor_too(world: RefreshWorld) -> None:
    world.consent("acme")
    now = int(world.clock())
    world.edit("acme", token_mints=[now - 60] * 5)
    world.clock.advance(50 * 60)
    world.edit("acme", token_mints=[int(world.clock()) - 60] * 5)

    with pytest.raises(ZohoMintBudgetExhausted) as info:
        valid_access_token(world.deps, "acme")
    assert info.value.retryable and world.refresh_calls() == []


def test_a_token_is_only_ever_sent_to_the_data_centers_own_api_host(world: RefreshWorld) -> None:
    world.consent("acme")
    world.edit("acme", api_domain="https://attacker.example")

    with pytest.raises(ZohoApiDomainInvalid):
        valid_access_token(world.deps, "acme")
