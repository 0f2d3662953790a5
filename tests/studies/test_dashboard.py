"""The dashboard as a whole (studies.dashboard.study_dashboard): which tables and figures it returns and what every
row carries. Each family of tables is checked number by number against the statistics core in
tests/studies/dashboard/, on the simulated study of tests/studies/simulated_study.py."""
from __future__ import annotations

import pytest

from studies import selectors
from studies.dashboard import TABLES, study_dashboard
from tests.studies.simulated_study import SPECS, build_study

pytestmark = pytest.mark.django_db


def test_every_table_has_its_title_columns_and_n():
    study, _sim = build_study(n_cases=6, design="both", repeat_fraction=0.34)
    dashboard = study_dashboard(selectors.study_data(study))
    assert set(dashboard) == {"study", "raters", "levels", "findings", "n_cases", "tables", "figures"}
    assert list(dashboard["tables"]) == list(TABLES) and dashboard["n_cases"] == 6
    for name, table in dashboard["tables"].items():
        if name != "detection":  # no boxes in this study
            assert table["rows"], name
        for row in table["rows"]:
            assert list(row) == table["columns"] and ("n" in row or "n_images" in row)
    assert dashboard["tables"]["detection"]["title"].startswith("Box detection per image at IoU 0.50")
    # Where a finding turns positive: the schema's rule (FindingSpec.positive_from), the study naming none.
    assert {name: f["positive_from"] for name, f in dashboard["findings"].items()} == {
        name: spec.positive_from for name, spec in SPECS.items()}
    assert [r["kind"] for r in dashboard["raters"]].count("model") == 1
    assert {"confusion", "roc", "froc"} == set(dashboard["figures"]) and dashboard["figures"]["froc"] is None


def test_without_model_findings_the_model_does_not_appear():
    study, _sim = build_study(n_cases=6, design="unaided", repeat_fraction=0, with_model=False)
    dashboard = study_dashboard(selectors.study_data(study))
    assert [r["kind"] for r in dashboard["raters"]] == ["reader"] * 3
    assert not dashboard["tables"]["reader_vs_model"]["rows"]
    assert not dashboard["tables"]["aided_vs_unaided"]["rows"]
    assert dashboard["tables"]["inter_reader"]["rows"]
