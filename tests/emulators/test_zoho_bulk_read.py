"""The Zoho emulator's CRM export side, as Zoho documents it: field metadata, Bulk Read, deleted records.

Real HTTP against the started emulator; the export's tests trust each behaviour pinned here.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from local.emulators.zoho import ZohoEmulator

CLIENT_ID = "1000.BULKCLIENT"
SECRET = "bulk-client-secret"
ORG = "900001"
USER = "admin@bulk.example"
EXPORT = "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.bulk.READ"
TIMEOUT = 5


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def zoho(clock: Clock) -> Iterator[ZohoEmulator]:
    emulator = ZohoEmulator(data_centers=("us",), clock=clock)
    emulator.register_client(CLIENT_ID, SECRET)
    emulator.add_org("us", ORG, "Bulk Inc", USER)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def token(zoho: ZohoEmulator, scope: str = EXPORT, user: str = USER) -> str:
    code = zoho.issue_self_client_code(CLIENT_ID, "us", scope, user=user)
    answer = requests.post(
        f"{zoho.accounts_url('us')}/oauth/v2/token",
        data={"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": SECRET, "code": code},
        timeout=TIMEOUT,
    ).json()
    return str(answer["access_token"])


class Crm:
    """Calls to the emulator's CRM API with one access token."""

    def __init__(self, zoho: ZohoEmulator, access: str) -> None:
        self.base = zoho.api_domain("us")
        self.headers = {"Authorization": f"Zoho-oauthtoken {access}"}

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=self.headers, timeout=TIMEOUT)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.get(self.base + path, headers=headers, timeout=TIMEOUT, **kwargs)

    def create(self, **query: Any) -> str:
        body = {"query": {"module": {"api_name": "Leads"}, **query}, "file_type": "csv"}
        answer = self.post("/crm/bulk/v8/read", body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["data"][0]["details"]["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/crm/bulk/v8/read/{job_id}").json()["data"][0])

    def rows(self, job_id: str) -> list[list[str]]:
        answer = self.get(f"/crm/bulk/v8/read/{job_id}/result")
        assert answer.status_code == 200, answer.text
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            (name,) = archive.namelist()
            assert name == f"{job_id}.csv"
            return list(csv.reader(io.StringIO(archive.read(name).decode())))


@pytest.fixture
def crm(zoho: ZohoEmulator) -> Crm:
    return Crm(zoho, token(zoho))


def test_a_new_job_is_added_and_ends_completed_with_its_result(zoho: ZohoEmulator, crm: Crm, clock: Clock) -> None:
    zoho.crm.job_seconds = 60
    answer = crm.post("/crm/bulk/v8/read", {"query": {"module": {"api_name": "Leads"}}})

    assert answer.status_code == 201
    (item,) = answer.json()["data"]
    assert (item["status"], item["code"], item["details"]["state"]) == ("success", "ADDED_SUCCESSFULLY", "ADDED")
    job_id = item["details"]["id"]
    assert job_id.isdigit() and answer.json()["info"] == {}
    assert "result" not in crm.job(job_id)  # only once it ended
    clock.now += 30
    assert crm.job(job_id)["state"] == "IN PROGRESS"
    clock.now += 31
    done = crm.job(job_id)
    assert done["state"] == "COMPLETED"
    url = f"/crm/bulk/v8/read/{job_id}/result"
    assert done["result"] == {"page": 1, "per_page": 200000, "count": 0, "download_url": url, "more_records": False}


def test_the_csv_has_id_first_then_the_fields_asked_for_in_zohos_formats(zoho: ZohoEmulator, crm: Crm) -> None:
    record = zoho.crm.put(ORG, "Leads", {"Last_Name": "Doe", "Email_Opt_Out": True, "Interests": ["A", "B"]})

    rows = crm.rows(crm.create(fields=["Email_Opt_Out", "Last_Name", "Interests", "Modified_Time"]))

    assert rows[0] == ["id", "Email_Opt_Out", "Last_Name", "Interests", "Modified_Time"]
    assert rows[1][:4] == [record, "true", "Doe", "A;B"]
    assert rows[1][4].endswith("+05:30") and "." not in rows[1][4]


def test_pages_past_the_page_size_need_the_previous_pages_token_alone(zoho: ZohoEmulator, crm: Crm) -> None:
    zoho.crm.page_size = 3
    ids = zoho.crm.add_many(ORG, "Leads", 7)

    first = crm.job(crm.create(fields=["Last_Name"]))
    assert first["result"]["more_records"] is True and first["result"]["next_page_token"]
    second = crm.job(crm.create(page_token=first["result"]["next_page_token"]))
    third = crm.job(crm.create(page_token=second["result"]["next_page_token"]))

    assert (second["result"]["count"], third["result"]["count"]) == (3, 1)
    assert "next_page_token" not in third["result"] and third["result"]["more_records"] is False
    seen = [row[0] for job in (first, second, third) for row in crm.rows(job["id"])[1:]]
    assert seen == sorted(ids)


def test_a_page_token_is_another_users_to_nobody(zoho: ZohoEmulator, crm: Crm) -> None:
    zoho.crm.page_size = 1
    zoho.crm.add_many(ORG, "Leads", 2)
    first = crm.job(crm.create())
    zoho.add_org("us", ORG, "Bulk Inc", "other@bulk.example")
    other = token(zoho, user="other@bulk.example")

    answer = Crm(zoho, other).post("/crm/bulk/v8/read", {"query": {"page_token": first["result"]["next_page_token"]}})

    assert answer.status_code == 400


def test_modified_time_criteria_select_records_and_refuse_milliseconds(
    zoho: ZohoEmulator, crm: Crm, clock: Clock
) -> None:
    old = zoho.crm.put(ORG, "Leads", {"Last_Name": "Old"})
    clock.now += 100
    new = zoho.crm.put(ORG, "Leads", {"Last_Name": "New"})
    since = {
        "field": {"api_name": "Modified_Time"},
        "comparator": "greater_equal",
        "value": "2026-11-18T11:07:00+00:00",
    }

    rows = crm.rows(crm.create(criteria=since))
    milliseconds = {**since, "value": "2026-11-18T11:07:00.000+00:00"}
    refused = crm.post("/crm/bulk/v8/read", {"query": {"module": {"api_name": "Leads"}, "criteria": milliseconds}})

    assert [r[0] for r in rows[1:]] == [new] and old != new
    assert refused.status_code == 400 and refused.json()["code"] == "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE"


def test_ten_downloads_a_minute_then_429_for_a_minute(zoho: ZohoEmulator, crm: Crm, clock: Clock) -> None:
    job_id = crm.create()
    crm.job(job_id)
    for _ in range(10):
        assert crm.get(f"/crm/bulk/v8/read/{job_id}/result").status_code == 200

    refused = crm.get(f"/crm/bulk/v8/read/{job_id}/result")

    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"
    clock.now += 59
    assert crm.get(f"/crm/bulk/v8/read/{job_id}/result").status_code == 429
    clock.now += 2
    assert crm.get(f"/crm/bulk/v8/read/{job_id}/result").status_code == 200


def test_a_result_expires_a_day_after_the_job_completed(zoho: ZohoEmulator, crm: Crm, clock: Clock) -> None:
    job_id = crm.create()
    crm.job(job_id)
    clock.now += 24 * 3600 + 1

    answer = Crm(zoho, token(zoho)).get(f"/crm/bulk/v8/read/{job_id}/result")  # a token of the day after

    assert answer.status_code == 404 and answer.json()["code"] == "RESOURCE_NOT_FOUND"


def test_a_failed_job_says_failure_with_an_error(zoho: ZohoEmulator, crm: Crm) -> None:
    zoho.crm.fail_next_jobs()

    job = crm.job(crm.create())

    assert job["state"] == "FAILURE" and job["result"]["error_message"]["code"] == "INTERNAL_SERVER_ERROR"


def test_fields_bulk_read_cannot_export_are_listed_but_refused(zoho: ZohoEmulator, crm: Crm) -> None:
    fields = crm.get("/crm/v8/settings/fields", params={"module": "Leads"}).json()["fields"]
    kinds = {f["api_name"]: f["data_type"] for f in fields}

    answer = crm.post("/crm/bulk/v8/read", {"query": {"module": {"api_name": "Leads"}, "fields": ["Record_Image"]}})

    assert kinds["Record_Image"] == "profileimage" and kinds["Modified_Time"] == "datetime"
    assert answer.status_code == 400 and answer.json()["details"]["api_name"] == "Record_Image"


@pytest.mark.parametrize(
    ("scope", "path"),
    [
        ("ZohoCRM.modules.READ,ZohoCRM.settings.READ", "POST /crm/bulk/v8/read"),
        ("ZohoCRM.bulk.READ,ZohoCRM.settings.READ", "POST /crm/bulk/v8/read"),
        ("ZohoCRM.bulk.READ,ZohoCRM.modules.READ", "GET /crm/v8/settings/fields?module=Leads"),
        ("ZohoCRM.settings.READ,ZohoCRM.bulk.READ", "GET /crm/v8/Leads/deleted"),
    ],
)
def test_a_missing_scope_is_401_oauth_scope_mismatch(zoho: ZohoEmulator, scope: str, path: str) -> None:
    crm = Crm(zoho, token(zoho, scope))
    method, url = path.split(" ")

    answer = crm.post(url, {"query": {"module": {"api_name": "Leads"}}}) if method == "POST" else crm.get(url)

    assert answer.status_code == 401 and answer.json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_notes_cannot_be_bulk_read(crm: Crm) -> None:
    answer = crm.post("/crm/bulk/v8/read", {"query": {"module": {"api_name": "Notes"}}})
    assert answer.status_code == 400 and answer.json()["code"] == "MODULE_NOT_SUPPORTED"


def test_deleted_records_since_a_time_with_nulls_for_permanent_deletions(
    zoho: ZohoEmulator, crm: Crm, clock: Clock
) -> None:
    a, b, c = zoho.crm.add_many(ORG, "Leads", 3)
    zoho.crm.delete(ORG, "Leads", a)
    clock.now += 100
    zoho.crm.delete(ORG, "Leads", b, permanent=True)
    zoho.crm.delete(ORG, "Leads", c)

    since = crm.get("/crm/v8/Leads/deleted", headers={"If-Modified-Since": "2026-11-18T11:08:00+00:00"}).json()

    assert [d["id"] for d in since["data"]] == [b, c]
    permanent = since["data"][0]
    assert (permanent["type"], permanent["deleted_by"], permanent["display_name"]) == ("permanent", None, None)
    assert since["info"] == {"per_page": 200, "count": 2, "page": 1, "more_records": False}


def test_deleted_records_page_200_at_most_and_204_when_there_are_none(zoho: ZohoEmulator, crm: Crm) -> None:
    assert crm.get("/crm/v8/Leads/deleted").status_code == 204
    for record in zoho.crm.add_many(ORG, "Leads", 201):
        zoho.crm.delete(ORG, "Leads", record)

    first = crm.get("/crm/v8/Leads/deleted", params={"per_page": "500"}).json()
    second = crm.get("/crm/v8/Leads/deleted", params={"page": "2"}).json()

    assert (len(first["data"]), first["info"]["more_records"]) == (200, True)
    assert (len(second["data"]), second["info"]["more_records"]) == (1, False)


def test_a_job_with_a_callback_posts_it_when_it_ends(zoho: ZohoEmulator, crm: Crm, clock: Clock) -> None:
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        zoho.crm.job_seconds = 10
        url = f"http://127.0.0.1:{server.server_address[1]}/zoho/bulk-callback?unit=t"
        body = {"query": {"module": {"api_name": "Leads"}}, "callback": {"url": url, "method": "post"}}
        job_id = crm.post("/crm/bulk/v8/read", body).json()["data"][0]["details"]["id"]
        assert zoho.crm.complete_jobs() == []
        clock.now += 11
        (done,) = zoho.crm.complete_jobs()
    finally:
        server.shutdown()
    assert done.id == job_id
    (posted,) = [json.loads(b) for b in received]
    assert (posted["job_id"], posted["state"]) == (job_id, "COMPLETED")
