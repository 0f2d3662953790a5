"""The study report (command, page download, API): every file opens and agrees with the dashboard; access."""
import csv
import io
import json
import zipfile
from html.parser import HTMLParser

import pytest
from django.db.models import Count
from django.core.management import CommandError, call_command

from studies.report import JSON_KEYS, LONG_COLUMNS
from tests.studies.simulated_study import build_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study_and_sim(db):
    return build_study(n_cases=6, repeat_fraction=0.34)


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images = 0, 0

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        self.images += tag == "img" and dict(attrs).get("src", "").startswith("data:image/png;base64,")


def test_study_report_command_writes_every_file(study_and_sim, tmp_path):
    study, sim = study_and_sim
    call_command("study_report", str(study.pk), "--out", str(tmp_path / "r"))
    out = tmp_path / "r"
    parser = _Tables()
    parser.feed((out / "report.html").read_text())
    assert parser.tables >= 10 and parser.images >= 3
    dashboard = json.loads((out / "dashboard.json").read_text())
    assert set(JSON_KEYS) <= set(dashboard)
    for name, table in dashboard["tables"].items():
        rows = list(csv.DictReader((out / "tables" / f"{name}.csv").open()))
        assert len(rows) == len(table["rows"])
    # The patient-bootstrap intervals of pooled discs reach the CSV, the JSON and the HTML alike.
    for name, column in (("accuracy", "kappa_boot_ci_low"), ("inter_reader", "boot_ci_high")):
        csv_rows = list(csv.DictReader((out / "tables" / f"{name}.csv").open()))
        json_rows = dashboard["tables"][name]["rows"]
        pooled = [i for i, row in enumerate(json_rows)
                  if row["scope"] == "disc" and row["level"] == "all" and row[column] is not None]
        assert pooled and all(float(csv_rows[i][column]) == json_rows[i][column] for i in pooled)
    html = (out / "report.html").read_text()
    assert all(f"<th>{c}</th>" in html for c in ("sensitivity_boot_ci_low", "auc_boot_ci_high", "ac_value"))
    accuracy = list(csv.DictReader((out / "tables" / "accuracy.csv").open()))
    per_level = [row for row in accuracy if row["scope"] == "disc" and row["level"] not in ("all", "")]
    assert per_level and any(row["f1_boot_ci_low"] for row in per_level)
    long_rows = list(csv.DictReader((out / "long.csv").open()))
    assert list(long_rows[0]) == LONG_COLUMNS
    # 3 readers x (2 arms x 6 cases + 2 arms x 3 repeats) x 5 levels x 5 findings + the model's 2 findings
    # (herniation, hiz) and its implied negatives for schmorl and listhesis: 6 cases x 5 levels x 4 findings.
    assert len(long_rows) == 3 * (12 + 6) * 25 + 6 * 5 * 4
    imrmc = (out / "imrmc" / "hiz.imrmc").read_text().splitlines()
    begin = imrmc.index("BEGIN DATA:")
    header = dict(line.split(": ", 1) for line in imrmc[1:begin] if ": " in line)
    assert header["NR"] == "4" and int(header["N0"]) + int(header["N1"]) == 30 and header["NM"] == "3"
    data = [line.split(",") for line in imrmc[begin + 1:]]
    assert sum(1 for row in data if row[0] == "-1") == 30 and all(len(row) == 4 for row in data)
    assert (out / "figures" / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_study_is_a_command_error(db, tmp_path):
    with pytest.raises(CommandError, match="no reader study"):
        call_command("study_report", "4242", "--out", str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_dashboard_and_report_are_for_coordinators_only(client, study_and_sim):
    study, sim = study_and_sim
    client.force_login(sim["readers"][0])
    # 404 as for a study that does not exist: a reader cannot tell which studies there are.
    assert client.get(f"/api/studies/{study.pk}/dashboard/").status_code == 404
    assert client.get(f"/studies/{study.pk}/").status_code == 404
    assert client.get(f"/studies/{study.pk}/report.zip").status_code == 404
    client.force_login(sim["coordinator"])
    assert client.get("/api/studies/999999/dashboard/").status_code == 404
    assert client.get("/studies/999999/").status_code == 404
    response = client.get(f"/api/studies/{study.pk}/dashboard/")
    assert response.status_code == 200 and set(JSON_KEYS) - {"generated_at"} <= set(response.json())
    page = client.get(f"/studies/{study.pk}/?level=L4/L5")
    assert page.status_code == 200 and b"Inter-reader agreement" in page.content and b"figure-roc" in page.content
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/studies/{study.pk}/report.zip").content))
    assert f"study-{study.pk}/report.html" in archive.namelist()
    assert client.get("/api/studies/").json()[0]["id"] == study.pk


def test_report_shows_the_flow_of_cases_and_reads_and_the_stard_items_it_covers(study_and_sim, tmp_path):
    from annotation.models import GroundTruthItem, Read
    from studies.stard import STARD_ITEMS

    study, _sim = study_and_sim
    case_ids = list(study.study_cases.order_by("case_id").values_list("case_id", flat=True))
    truth = GroundTruthItem.objects.filter(case_id__in=case_ids)
    truth.filter(case_id=case_ids[0]).update(provenance=GroundTruthItem.Provenance.READER_B)
    truth.filter(case_id=case_ids[1]).update(provenance=GroundTruthItem.Provenance.AGREEMENT)
    truth.filter(case_id=case_ids[2]).delete()
    unread = Read.objects.filter(case_id=case_ids[3], context__startswith=f"study:{study.pk}:")
    removed = dict(unread.values_list("context").annotate(n=Count("id")))
    unread.delete()

    call_command("study_report", str(study.pk), "--out", str(tmp_path / "r"))
    flow = json.loads((tmp_path / "r" / "dashboard.json").read_text())["flow"]
    assert flow["cases"] == 6
    assert flow["reference_standard"] == {"agreement": 1, "adjudicated": 1, "imported": 3, "none": 1}
    assert flow["included"] == 4
    assert flow["excluded"] == [{"reason": "no reference standard yet", "cases": 1},
                                {"reason": "no submitted reading", "cases": 1}]
    by_arm = {(row["arm"], row["repetition"]): row for row in flow["sessions"]}
    assert {key: row["planned"] for key, row in by_arm.items()} == {
        ("aided", 1): 18, ("aided", 2): 9, ("unaided", 1): 18, ("unaided", 2): 9}
    for (arm, repetition), row in by_arm.items():
        assert row["not_submitted"] == removed.get(f"study:{study.pk}:{arm}:{repetition}", 0)
        assert row["submitted"] == row["planned"] - row["not_submitted"]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Flow of cases and reads" in html and "Excluded: no reference standard yet" in html
    stard = json.loads((tmp_path / "r" / "dashboard.json").read_text())["stard"]
    assert [row["item"] for row in stard] == [item for item, _, _ in STARD_ITEMS]
    assert {row["item"] for row in stard if row["covered"]} >= {"10a", "10b", "12a", "16", "19", "23", "24"}
    assert html.count("authors to report") == sum(not row["covered"] for row in stard)
