"""The coordinator's study dashboard in real headless Chromium: the agreement table and a plot are shown, the
report downloads through the button, and every file in it opens (HTML parses, CSVs load, JSON validates)."""
import csv
import io
import json
import zipfile
from html.parser import HTMLParser

import pytest

from studies.report import JSON_KEYS
from tests.browser.conftest import ARTIFACTS, log_in
from tests.studies.simulated_study import build_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coordinator_opens_the_dashboard_and_downloads_the_report(browser, live_server, tmp_path):
    study, _sim = build_study(n_cases=6, repeat_fraction=0.34)
    page = log_in(browser, live_server, "coord", accept_downloads=True)
    context = page.context
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
