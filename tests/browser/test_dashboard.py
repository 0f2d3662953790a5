"""The coordinator's study dashboard in real headless Chromium: the agreement table and a plot are shown, the
report downloads through the button, and every file in it opens (HTML parses, CSVs load, JSON validates)."""
import csv
import io
import json
import os
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from studies.report import JSON_KEYS
from tests.studies.test_dashboard import build_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Playwright's sync API keeps an event loop on this thread; the ORM calls here happen before and after it runs.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield browser
        browser.close()


def test_coordinator_opens_the_dashboard_and_downloads_the_report(browser, live_server, tmp_path):
    study, _sim = build_study(n_cases=6, repeat_fraction=0.34)
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "coord")
    page.fill("input[name=password]", "pw-coord")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/**")
    page.click("text=Studies")
    page.click(f"text={study.name}")
    page.wait_for_selector("table[data-table='inter_reader']")
    rows = page.locator("table[data-table='inter_reader'] tbody tr")
    assert rows.count() > 10
    header = page.locator("table[data-table='inter_reader'] thead th").all_inner_texts()
    assert {"rater_a", "rater_b", "value", "ci_low", "ci_high", "n"} <= set(header)
    plot = page.locator("#figure-agreement img")
    assert plot.evaluate("img => img.complete && img.naturalWidth > 200")
    assert page.locator("#figure-roc img").evaluate("img => img.naturalWidth > 200")
    page.screenshot(path=str(ARTIFACTS / "study_dashboard.png"), full_page=False)

    with page.expect_download() as download_info:
        page.click("#download-report")
    path = tmp_path / "report.zip"
    download_info.value.save_as(path)
    archive = zipfile.ZipFile(path)
    names = archive.namelist()
    root = f"study-{study.pk}/"

    class Parser(HTMLParser):
        tables = 0

        def handle_starttag(self, tag, attrs):
            Parser.tables += tag == "table"

    Parser().feed(archive.read(root + "report.html").decode())
    assert Parser.tables >= 10
    csvs = [n for n in names if n.endswith(".csv")]
    assert root + "long.csv" in csvs and root + "tables/inter_reader.csv" in csvs
    for name in csvs:
        rows = list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        assert rows is not None
    assert len(list(csv.DictReader(io.StringIO(archive.read(root + "tables/inter_reader.csv").decode())))) > 10
    dashboard = json.loads(archive.read(root + "dashboard.json"))
    assert set(JSON_KEYS) <= set(dashboard)
    assert dashboard["study"]["id"] == study.pk and dashboard["n_cases"] == 6
    for table in dashboard["tables"].values():
        assert {"title", "columns", "rows"} <= set(table)
        assert all(set(row) == set(table["columns"]) for row in table["rows"])
    assert any(n.endswith(".imrmc") for n in names)
    context.close()
