"""Inter- and intra-reader agreement rows against the statistics core run on the simulation's own values."""
from __future__ import annotations

import numpy as np
import pytest

from stats.agreement import cohen_kappa, fleiss_kappa, gwet_ac1, gwet_ac1_raters, icc, krippendorff_alpha
from stats.bootstrap import bootstrap_cohen_kappa
from tests.studies.simulated_study import ACCURACY, SPECS, UNDEFINED, boot_cells, one_row, patients_of, units_of

# The package fixture builds its study in the test database, which pytest-django sets up for marked tests
# only.
pytestmark = pytest.mark.django_db

READERS = list(ACCURACY)


def test_inter_reader_rows_match_the_core(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    for name, spec in SPECS.items():
        for arm in ("unaided", "aided"):
            for level in (None, "L4/L5"):
                _check_inter_reader(dashboard, sim, name, spec, arm, level)


def _check_inter_reader(dashboard, sim, name, spec, arm, level):
    weights = "quadratic" if spec.scale == "ordinal" else None
    statistic = "cohen_quadratic" if weights else "cohen"
    units = units_of(sim["truth"], name, level)
    match = {"finding": name, "scope": "disc", "level": level or "all", "arm": arm}
    a, b, c = ([sim["reads"][(reader, arm, 1)][u] for u in units] for reader in READERS)
    # Cohen per pair (weighted for ordinal grades).
    expected = cohen_kappa(a, b, weights=weights, categories=spec.values)
    row = one_row(dashboard, "inter_reader", **match, statistic=statistic, rater_a=READERS[0], rater_b=READERS[1])
    assert row["value"] == expected.value and row["ci_low"] == expected.ci[0]
    assert row["se"] == expected.se and row["n"] == len(units) and row["band"] == expected.band
    # Gwet's AC1 (AC2 with the same weights for ordinal grades) beside the kappa, on the same units.
    ac = gwet_ac1(a, b, weights=weights, categories=spec.values)
    assert row["ac_statistic"] == ("gwet_ac2_quadratic" if weights else "gwet_ac1")
    assert (row["ac_value"], row["ac_ci_low"], row["ac_ci_high"]) == (ac.value, *ac.ci)
    ac_all = gwet_ac1_raters(np.array([a, b, c], dtype=object).T, weights=weights, categories=spec.values)
    assert one_row(dashboard, "inter_reader", **match, statistic=row["ac_statistic"])["value"] == pytest.approx(
        ac_all.value, abs=1e-12)
    # Patient bootstrap on all discs pooled only (a level has one disc per case).
    boot = (UNDEFINED, UNDEFINED) if level else bootstrap_cohen_kappa(
        a, b, patients_of(sim, units), weights=weights, categories=spec.values).ci
    assert boot_cells(row, "") == boot
    # Fleiss and Krippendorff for the three readers.
    fleiss = fleiss_kappa(np.array([a, b, c]).T, categories=spec.values)
    row = one_row(dashboard, "inter_reader", **match, statistic="fleiss")
    assert row["value"] == fleiss.value and row["se"] == fleiss.se and row["n"] == len(units)
    alpha = krippendorff_alpha(np.array([a, b, c]), level="ordinal" if weights else "nominal", categories=spec.values)
    row = one_row(dashboard, "inter_reader", **match,
                  statistic="krippendorff_ordinal" if weights else "krippendorff_nominal")
    assert row["value"] == pytest.approx(alpha.value, abs=1e-12)
    if weights:  # ICC(2,1) for ordinal grades, the grades as their position on the scale
        scores = np.array([[spec.values.index(v) for v in r] for r in (a, b, c)], float).T
        row = one_row(dashboard, "inter_reader", **match, statistic="icc2")
        assert row["value"] == pytest.approx(icc(scores, kind="ICC2").value, abs=1e-12)
        assert row["n"] == len(units)


def test_intra_reader_rows_compare_first_readings_with_repeats(dashboard_and_sim):
    """First reading against the repeat, on the repeated cases only."""
    dashboard, sim = dashboard_and_sim
    reads = sim["reads"]
    repeated = {c for (_r, _a, rep), values in reads.items() if rep == 2 for (c, _l, _n) in values}
    assert len(repeated) == 5
    grades = SPECS["pfirrmann"].values
    for reader in READERS:
        units = sorted(u for u in units_of(sim["truth"], "pfirrmann") if u[0] in repeated)
        first = [reads[(reader, "unaided", 1)][u] for u in units]
        second = [reads[(reader, "unaided", 2)][u] for u in units]
        expected = cohen_kappa(first, second, weights="quadratic", categories=grades)
        row = one_row(dashboard, "intra_reader", finding="pfirrmann", scope="disc", level="all", arm="unaided",
                      reader=reader)
        assert row["value"] == expected.value and row["n"] == len(units) == 25
        boot = bootstrap_cohen_kappa(first, second, patients_of(sim, units), weights="quadratic", categories=grades)
        assert boot_cells(row, "") == boot.ci and boot.n_clusters == len(set(patients_of(sim, units)))
