"""The export bucket's compare-and-swap on moto's S3, when an adapter tries the version it last saw first.

Two adapters on one bucket stand for two Lambda instances: whatever one of them guesses from its own
last write, a change the other made in between must win, and a decision taken on the guess (refuse,
change nothing) must be checked against what S3 holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from zoho_aep.adapters.s3 import ExportBucket
from zoho_aep.domain.errors import ExportInProgress
from zoho_aep.domain.export import ExportState, ExportUnit, Lease

BUCKET = "zoho-aep-bucket-test"
UNIT = ExportUnit("acme", "Leads")


@pytest.fixture
def pair(s3: Any) -> tuple[ExportBucket, ExportBucket, list[str]]:
    """Two adapters on one bucket, and the S3 operations they call (by name) as they go."""
    s3.create_bucket(Bucket=BUCKET)
    calls: list[str] = []
    s3.meta.events.register("before-parameter-build.s3", lambda model, **kwargs: calls.append(model.name))
    return ExportBucket(BUCKET, s3, sleep=lambda s: None), ExportBucket(BUCKET, s3, sleep=lambda s: None), calls


def set_watermark(value: int) -> Any:
    def mutate(current: ExportState | None) -> ExportState:
        state = current or ExportState(UNIT.connection, UNIT.module)
        state.watermark = value
        return state

    return mutate


def add_column(name: str) -> Any:
    def mutate(current: ExportState | None) -> ExportState:
        state = current or ExportState(UNIT.connection, UNIT.module)
        state.columns = [*state.columns, name]
        return state

    return mutate


def test_an_adapter_that_wrote_last_writes_again_without_reading(pair: Any) -> None:
    first, _, calls = pair
    first.update_state(UNIT, set_watermark(1))
    calls.clear()

    first.update_state(UNIT, set_watermark(2))

    assert calls == ["PutObject"]
    assert first.read_state(UNIT).watermark == 2  # type: ignore[union-attr]


def test_a_change_made_by_another_instance_in_between_is_never_overwritten(pair: Any) -> None:
    first, second, calls = pair
    first.update_state(UNIT, add_column("Email"))
    second.update_state(UNIT, add_column("Phone"))  # first's guess is now stale
    calls.clear()

    saved = first.update_state(UNIT, add_column("Owner"))

    assert saved is not None and saved.columns == ["Email", "Phone", "Owner"]
    assert first.read_state(UNIT).columns == ["Email", "Phone", "Owner"]  # type: ignore[union-attr]
    assert calls[:3] == ["PutObject", "GetObject", "PutObject"]  # refused on the guess, decided on S3's


def test_a_refusal_decided_on_a_stale_guess_is_checked_against_s3(pair: Any) -> None:
    first, second, _ = pair

    def lease(owner: str) -> Any:
        def mutate(current: ExportState | None) -> ExportState:
            state = current or ExportState(UNIT.connection, UNIT.module)
            if state.lease is not None and state.lease.owner != owner:
                raise ExportInProgress("held")
            state.lease = Lease(owner, 10**10)
            return state

        return mutate

    def release(current: ExportState | None) -> ExportState | None:
        assert current is not None
        current.lease = None
        return current

    second.update_state(UNIT, lease("second"))
    first.update_state(UNIT, lambda current: current)  # first reads it: its guess shows second's lease
    second.update_state(UNIT, release)

    taken = first.update_state(UNIT, lease("first"))

    assert taken is not None and taken.lease is not None and taken.lease.owner == "first"


def test_nothing_to_change_on_a_stale_guess_is_checked_against_s3(pair: Any) -> None:
    first, second, _ = pair
    first.update_state(UNIT, set_watermark(7))
    second.update_state(UNIT, set_watermark(8))  # first still believes 7

    saved = first.update_state(UNIT, set_watermark(7))  # "already 7" on the guess; S3 says 8

    assert saved is not None and saved.watermark == 7
    assert second.read_state(UNIT).watermark == 7  # type: ignore[union-attr]


def test_a_refusal_that_holds_on_s3_still_refuses(pair: Any) -> None:
    first, second, _ = pair

    def refuse(current: ExportState | None) -> ExportState:
        raise ExportInProgress("held")

    first.update_state(UNIT, set_watermark(1))

    with pytest.raises(ExportInProgress):
        first.update_state(UNIT, refuse)
    assert second.read_state(UNIT).watermark == 1  # type: ignore[union-attr]
