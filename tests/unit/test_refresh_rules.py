"""The refresh's pure rules: what is due from tags alone, the mint budget's window, settings."""

from __future__ import annotations

import pytest

from zoho_aep.config.settings import load_settings
from zoho_aep.domain.connection import BOOKKEEPING_FIELDS, Connection, ConnectionSummary
from zoho_aep.domain.errors import ConfigError
from zoho_aep.usecases.refresh.policy import ZOHO_WINDOW_SECONDS, DuePolicy

NOW = 1_800_000_000
WINDOW = 20 * 60
POLICY = DuePolicy(WINDOW)


def summary(name: str, **tags: str | int) -> ConnectionSummary:
    keys = {"expires": "zoho-aep:expires-at", "status": "zoho-aep:status", "retry_after": "zoho-aep:retry-after"}
    return ConnectionSummary(name, f"zoho-aep/connections/{name}", {keys[k]: str(v) for k, v in tags.items()})


def test_a_connection_expiring_within_the_window_is_due_and_one_just_outside_is_not() -> None:
    listed = [summary("inside", expires=NOW + WINDOW), summary("outside", expires=NOW + WINDOW + 1)]

    selection = POLICY.select(listed, now=NOW)

    assert [s.name for s in selection.due] == ["inside"]
    assert selection.not_due == 1 and selection.seen == 2


def test_an_already_expired_connection_is_due() -> None:
    selection = POLICY.select([summary("late", expires=NOW - 60)], now=NOW)
    assert [s.name for s in selection.due] == ["late"]


def test_a_connection_without_an_expiry_tag_is_due_so_its_value_decides() -> None:
    selection = POLICY.select([summary("untagged"), summary("garbled", expires="soon")], now=NOW)
    assert [s.name for s in selection.due] == ["untagged", "garbled"]


def test_needs_reauth_is_skipped_even_when_forced() -> None:
    listed = [summary("dead", expires=NOW, status="needs-reauth")]

    selection = POLICY.select(listed, now=NOW, force=True)

    assert selection.due == []
    assert [(o.connection, o.outcome, o.reason) for o in selection.skipped] == [("dead", "skipped", "needs-reauth")]


def test_needs_reauth_is_retried_only_when_forced_and_named() -> None:
    listed = [summary("dead", expires=NOW + 3600, status="needs-reauth")]

    named = POLICY.select(listed, now=NOW, names=["dead"])
    forced_named = POLICY.select(listed, now=NOW, force=True, names=["dead"])

    assert named.due == [] and named.skipped[0].reason == "needs-reauth"
    assert [s.name for s in forced_named.due] == ["dead"]


def test_a_connection_inside_its_back_off_is_skipped_even_when_forced() -> None:
    listed = [summary("slow", expires=NOW, retry_after=NOW + 1)]

    selection = POLICY.select(listed, now=NOW, force=True, names=["slow"])

    assert selection.due == []
    assert (selection.skipped[0].reason, selection.skipped[0].retry_after) == ("backing-off", NOW + 1)


def test_a_connection_whose_back_off_has_passed_is_due_again() -> None:
    selection = POLICY.select([summary("slow", expires=NOW, retry_after=NOW)], now=NOW)
    assert [s.name for s in selection.due] == ["slow"]


def test_force_makes_every_healthy_connection_due() -> None:
    listed = [summary("a", expires=NOW + 3600), summary("b", expires=NOW + 3000)]

    selection = POLICY.select(listed, now=NOW, force=True)

    assert [s.name for s in selection.due] == ["a", "b"]


def test_names_limit_the_cycle_and_unknown_names_are_reported() -> None:
    listed = [summary("a", expires=NOW), summary("b", expires=NOW), summary("c", expires=NOW + 3600)]

    selection = POLICY.select(listed, now=NOW, names=["b", "c", "ghost", "b"])

    assert [s.name for s in selection.due] == ["b"]
    assert selection.seen == 2
    assert {(o.connection, o.outcome) for o in selection.skipped} == {("c", "not-due"), ("ghost", "not-found")}


def test_only_mints_inside_zohos_window_count_against_the_budget() -> None:
    value = Connection.from_value(
        "a", {"token_mints": [NOW - ZOHO_WINDOW_SECONDS, NOW - ZOHO_WINDOW_SECONDS + 1, NOW, "junk"]}
    )
    assert value.recent_mints(NOW, ZOHO_WINDOW_SECONDS) == [NOW - ZOHO_WINDOW_SECONDS + 1, NOW]


def test_a_new_consent_clears_exactly_the_refresh_bookkeeping() -> None:
    bookkeeping = {"refresh_failures": 3, "throttled_until": NOW, "last_refresh_error": "zoho-throttled"}
    value = Connection.from_value("a", {**bookkeeping, "token_mints": [NOW], "scope": "s", "aep_note": "kept"})

    value.reset_bookkeeping()

    stored = value.to_value()
    assert not set(BOOKKEEPING_FIELDS) & set(stored)
    assert (stored["scope"], stored["aep_note"]) == ("s", "kept")


def test_the_refresh_window_must_be_longer_than_the_schedule() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"REFRESH_WINDOW_MINUTES": "10", "REFRESH_SCHEDULE_MINUTES": "10"})
    assert "REFRESH_WINDOW_MINUTES" in info.value.message


def test_refresh_settings_are_read_from_the_environment() -> None:
    env = {"REFRESH_WINDOW_MINUTES": "30", "REFRESH_SCHEDULE_MINUTES": "15", "REFRESH_CONCURRENCY": "3"}
    settings = load_settings(env)
    assert (settings.refresh_window_minutes, settings.schedule_minutes, settings.refresh_concurrency) == (30, 15, 3)
