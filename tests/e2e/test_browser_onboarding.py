"""A person's onboarding in a real headless Chromium against `make local`'s sandbox.

Open the connect link, click Accept on the emulated Zoho page, see the success page; then
`zoho-aep status` shows the connection active and provisioned on the Amazon S3 path, and after the
export and AEP's dataflow runs, each module's rows in its dataset. Click Reject on a second link and
see the declined page with nothing stored.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.run import LocalStack
from zoho_aep.edges import cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _browser_available() -> bool:
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not _browser_available():
        if os.environ.get("CI"):
            pytest.fail("Chromium and chromedriver are required in CI: `make browser` installs them")
        pytest.skip("Chromium/chromedriver missing: run `make browser` (Debian's chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="zoho-aep-chromium-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0, refresh_every=0, export_every=0, ingest_every=0) as local:  # the test drives them
        yield local


def status_rows() -> list[dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["status", "--json"]) == 0
    # The sandbox's functions run in threads of this process: their one-line JSON log and metric
    # lines may land in the same stdout; the command's own answer is the indented document.
    own = [line for line in out.getvalue().splitlines() if not line.startswith(('{"_aws"', '{"level"'))]
    return json.loads("\n".join(own))


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def click_and_land(driver: Any, label: str, landing: str) -> str:
    """Click the button labelled ``label`` and wait until the browser is on ``landing``; the page's h1."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    buttons = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == label]
    assert buttons, f"no '{label}' button on {driver.current_url}"
    buttons[0].click()
    WebDriverWait(driver, 20).until(lambda d: d.current_url.startswith(landing))
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def test_accept_connects_and_provisions_reject_stores_nothing(stack: LocalStack, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    link = stack.link("acme")
    browser.get(link)
    assert "Accept" in browser.page_source and "Reject" in browser.page_source
    callback = stack.api.base_url + "/oauth/callback"
    assert click_and_land(browser, "Accept", callback) == "Zoho CRM connected"
    assert "acme" in browser.page_source and "Acme Corp" in browser.page_source

    row = wait_for(lambda: next((r for r in status_rows() if r["connection"] == "acme" and r["base_connection"]), None))
    assert row is not None, f"not provisioned: {status_rows()} {stack.errors}"
    assert row["status"] == "active" and row["sandbox"] == "prod" and row["data_center"] == "eu"
    assert row["path"] == "amazon-s3"  # the emulated Adobe, like AEP today, no longer serves its Zoho source
    assert len(stack.adobe.connections_in("prod")) == 1
    # The export schedule's tick, AEP's dataflow runs and the run watch: status shows the rows in AEP.
    stack.run_export()
    watched = stack.run_ingestion()
    assert watched["flows"] == 4 and watched["failing"] == [], watched
    (acme,) = [r for r in status_rows() if r["connection"] == "acme"]
    leads = next(e for e in acme["exports"] if e["module"] == "Leads")
    assert (leads["outcome"], leads["records"], leads["aep_verdict"], leads["aep_rows"]) == (
        "completed",
        120,
        "ok",
        120,
    )
    assert leads["dataset"] and not stack.errors

    # The same link again: the stack says so before Zoho asks anything.
    zoho_pages = len(stack.world.zoho.calls("/oauth/v2/auth"))
    browser.get(link)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Link already used"
    assert len(stack.world.zoho.calls("/oauth/v2/auth")) == zoho_pages

    browser.get(stack.link("declined"))
    assert click_and_land(browser, "Reject", callback) == "Consent declined"
    assert [r["connection"] for r in status_rows()] == ["acme"]
