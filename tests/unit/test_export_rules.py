"""The export's pure rules: columns, windows, scopes, state, file names, callback tokens, unit messages, files."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path

import pytest

from zoho_aep.adapters.files import convert_page, write_tombstones
from zoho_aep.domain.callbacks import callback_url, verify_callback
from zoho_aep.domain.errors import BulkCallbackInvalid, ExportRequestInvalid, ExportStateInvalid, ZohoResponseInvalid
from zoho_aep.domain.export import (
    ExportRun,
    ExportState,
    ExportUnit,
    LastExport,
    Lease,
    StagedFile,
    ZohoField,
    evolve_columns,
    missing_scopes,
    next_window,
    requested_fields,
    zoho_time,
)
from zoho_aep.usecases.export.messages import UnitMessage

KEY = "state-key-for-tests-0123456789abcdef"
UNIT = ExportUnit("acme", "Leads")
FIELDS = [ZohoField("Last_Name", "text"), ZohoField("Email", "email"), ZohoField("Photo", "profileimage"),
          ZohoField("Items", "subform"), ZohoField("Score", "formula", return_type="double"),
          ZohoField("Blob", "formula", return_type="subform"), ZohoField("bad name", "text")]  # fmt: skip


# ---- columns ---------------------------------------------------------------------------------------
def test_columns_start_with_id_and_take_only_fields_that_are_one_csv_value() -> None:
    assert evolve_columns([], FIELDS) == ["id", "Last_Name", "Email", "Score"]


def test_new_fields_are_appended_and_removed_ones_stay() -> None:
    recorded = ["id", "Email", "Gone"]
    assert evolve_columns(recorded, [ZohoField("New", "text"), *FIELDS]) == [
        "id",
        "Email",
        "Gone",
        "New",
        "Last_Name",
        "Score",
    ]


def test_the_fields_asked_for_are_the_columns_zoho_still_has_without_refused_ones() -> None:
    columns = ["id", "Email", "Gone", "Last_Name", "Score"]
    assert requested_fields(columns, FIELDS, skipped=["Score"]) == ["Email", "Last_Name"]


# ---- windows ---------------------------------------------------------------------------------------
def test_the_first_window_is_a_backfill_without_tombstones() -> None:
    assert next_window(ExportState("acme", "Leads"), now=1000, full=False, overlap=60) == ("full", None, 1000, None)


def test_a_delta_reaches_back_by_the_overlap_and_ends_after_the_last_window() -> None:
    state = ExportState("acme", "Leads", watermark=1000)
    assert next_window(state, now=5000, full=False, overlap=60) == ("delta", 940, 5000, 940)
    assert next_window(state, now=1000, full=False, overlap=60)[2] == 1001  # never the same file names twice
    assert next_window(state, now=5000, full=True, overlap=60)[0] == "full"


def test_zoho_times_have_seconds_and_an_explicit_offset() -> None:
    assert zoho_time(1795000005) == "2026-11-18T11:06:45+00:00"


# ---- scopes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ("ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.bulk.READ", []),
        ("ZohoCRM.modules.ALL ZohoCRM.settings.fields.read ZohoCRM.bulk.ALL", []),
        ("ZohoCRM.modules.leads.READ,ZohoCRM.settings.ALL,ZohoCRM.bulk.READ", []),
        ("ZohoCRM.modules.READ,ZohoCRM.settings.READ", ["ZohoCRM.bulk.READ"]),
        ("ZohoCRM.modules.contacts.READ,ZohoCRM.settings.modules.READ,ZohoCRM.bulk.READ",
         ["ZohoCRM.settings.fields.READ", "ZohoCRM.modules.Leads.READ"]),
        ("", []),  # unknown: Zoho's answer tells
    ],
)  # fmt: skip
def test_the_scopes_an_export_needs(granted: str, missing: list[str]) -> None:
    assert missing_scopes(granted, "Leads") == missing


# ---- state ---------------------------------------------------------------------------------------------
def test_a_state_round_trips_and_keeps_what_a_newer_version_added() -> None:
    run = ExportRun("r1", "delta", 2000, 1000, 1000, 1500, "bulk", ["Email"], "job", 1490, "tok", 2, 1, 0, 3,
                    [StagedFile(1, "staging/k", 10)], ["zoho/acme/Leads/x"], 20, 1, None)  # fmt: skip
    state = ExportState(
        "acme", "Leads", ["id", "Email"], ["Photo"], 1000, run, Lease("me", 9), LastExport("completed", 5)
    )
    value = {**state.to_value(), "future": {"x": 1}}

    again = ExportState.from_value(UNIT, value)

    assert again.to_value() == value
    assert again.run == run


@pytest.mark.parametrize(
    "value",
    [None, [], {"schema": 99, "connection": "acme", "module": "Leads"},
     {"schema": 1, "connection": "other", "module": "Leads"},
     {"schema": 1, "connection": "acme", "module": "Leads", "columns": "id"},
     {"schema": 1, "connection": "acme", "module": "Leads", "run": {"id": "x"}}],
)  # fmt: skip
def test_a_state_that_cannot_be_read_is_refused_not_guessed_at(value: object) -> None:
    with pytest.raises(ExportStateInvalid):
        ExportState.from_value(UNIT, value)


def test_file_names_follow_the_contract() -> None:
    assert UNIT.file_key(1795000005, 7) == "zoho/acme/Leads/20261118T110645Z-00007.csv.gz"
    assert UNIT.state_key == "state/acme/Leads.json" and not UNIT.state_key.startswith("zoho/")
    assert UNIT.staging_key("run", 1).startswith("staging/")


# ---- callback tokens -------------------------------------------------------------------------------------
def test_a_callback_url_names_the_unit_and_only_this_stack_can_make_one() -> None:
    url = callback_url("https://api.example/zoho/bulk-callback", KEY, UNIT, "run-1", now=1000)
    token = url.split("unit=", 1)[1]

    assert verify_callback(KEY, token, now=2000).unit == UNIT
    with pytest.raises(BulkCallbackInvalid):
        verify_callback("another-key-0123456789abcdefgh", token, now=2000)
    with pytest.raises(BulkCallbackInvalid):
        verify_callback(KEY, token, now=1000 + 3 * 24 * 3600)


@pytest.mark.parametrize("token", [None, "", "x", "a.b.c", "%%%.***", "e30.AAAA"])
def test_a_garbled_callback_token_is_refused(token: str | None) -> None:
    with pytest.raises(BulkCallbackInvalid):
        verify_callback(KEY, token, now=0)


# ---- unit messages ---------------------------------------------------------------------------------------
def test_a_unit_message_round_trips() -> None:
    message = UnitMessage(UNIT, full=True, attempt=2)
    assert UnitMessage.from_message(message.to_message()) == message


def _unit(**changes: object) -> str:
    import json

    body = {"kind": "zoho-aep/export-unit", "connection": "acme", "module": "Leads", "full": False, "attempt": 0}
    return json.dumps({**body, **changes})


@pytest.mark.parametrize(
    "body",
    [
        "nope",
        '{"kind":"other"}',
        _unit(connection="../x"),
        _unit(module="Notes"),
        _unit(module="Leads,Deals"),
        _unit(full="yes"),
        _unit(attempt=-1),
    ],
)
def test_a_unit_message_that_is_not_ours_is_refused(body: str) -> None:
    with pytest.raises(ExportRequestInvalid):
        UnitMessage.from_message(body)


# ---- files ---------------------------------------------------------------------------------------------
def zipped(tmp_path: Path, text: str) -> str:
    path = tmp_path / "result.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("123.csv", text)
    return str(path)


def read_gz(path: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(Path(path).read_bytes()).decode())))


def test_a_result_page_becomes_gzip_csv_in_the_units_column_order(tmp_path: Path) -> None:
    source = zipped(tmp_path, 'Id,Email,Last_Name\n1,"a@x, b",Doe\n2,,"Quote ""q"""\n')
    out = str(tmp_path / "out.csv.gz")

    count = convert_page(source, ["id", "Last_Name", "Email", "Gone"], out)

    assert count == 2
    assert read_gz(out) == [
        ["id", "Last_Name", "Email", "Gone", "zoho_deleted"],
        ["1", "Doe", "a@x, b", "", "false"],
        ["2", 'Quote "q"', "", "", "false"],
    ]


def test_a_result_that_is_not_one_csv_in_a_zip_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b'{"code":"INTERNAL_ERROR"}')
    with pytest.raises(ZohoResponseInvalid):
        convert_page(str(bad), ["id"], str(tmp_path / "o.gz"))


def test_tombstones_carry_the_id_the_deletion_time_and_zoho_deleted_true(tmp_path: Path) -> None:
    out = str(tmp_path / "t.csv.gz")

    assert write_tombstones([("7", "2026-11-18T16:36:45+05:30")], ["id", "Last_Name", "Modified_Time"], out) == 1

    assert read_gz(out) == [
        ["id", "Last_Name", "Modified_Time", "zoho_deleted"],
        ["7", "", "2026-11-18T16:36:45+05:30", "true"],
    ]
