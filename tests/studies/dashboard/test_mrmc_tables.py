"""The MRMC table: each row is stats.mrmc's Obuchowski-Rockette analysis of the simulation's own values."""
from __future__ import annotations

import numpy as np
import pytest

from stats.mrmc import mrmc_analysis
from tests.studies.simulated_study import ACCURACY, MODEL_FINDINGS, POSITIVE_FROM, SPECS, one_row, units_of

pytestmark = pytest.mark.django_db

READERS = sorted(ACCURACY)


def _codes(name: str, values: dict, units: list) -> list:
    return [float(SPECS[name].values.index(values[u])) for u in units]


def _long(units: list, blocks: list) -> tuple:
    """Long-format arrays of ``blocks`` (one list of per-reader score lists per modality)."""
    reader, modality, case, score = [], [], [], []
    for m, per_reader in enumerate(blocks):
        for r, scores in enumerate(per_reader):
            reader += [r] * len(units)
            modality += [m] * len(units)
            case += list(range(len(units)))
            score += scores
    return reader, modality, case, score


@pytest.mark.parametrize("name", ["herniation", "pfirrmann", "hiz"])
def test_aided_against_unaided_is_the_or_analysis_of_the_readings(dashboard_and_sim, name):
    dashboard, sim = dashboard_and_sim
    units = units_of(sim["truth"], name)
    positive = [SPECS[name].values.index(sim["truth"][u]) >= SPECS[name].values.index(POSITIVE_FROM[name])
                for u in units]
    blocks = [[_codes(name, sim["reads"][(reader, arm, 1)], units) for reader in READERS]
              for arm in ("unaided", "aided")]
    reader, modality, case, score = _long(units, blocks)
    expected = mrmc_analysis(reader, modality, case, positive * (2 * len(READERS)), score, modality_order=[0, 1])
    row = one_row(dashboard, "mrmc", finding=name, scope="disc", level="all", comparison="aided_vs_unaided")
    assert (row["modality_a"], row["modality_b"], row["readers"], row["n"]) == ("unaided", "aided", 3, len(units))
    assert row["auc_a"] == pytest.approx(expected.fom_mean[0], abs=1e-12)
    assert row["auc_b"] == pytest.approx(expected.fom_mean[1], abs=1e-12)
    assert row["difference"] == pytest.approx(expected.difference, abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(expected.ci, abs=1e-12)
    assert (row["F"], row["ddf"], row["p_value"]) == pytest.approx((expected.F, expected.ddf, expected.p_value))
    assert row["var_error"] == pytest.approx(expected.var_components.var_error)
    assert row["n_positive"] == sum(positive)
    # The simulation's readers are 10 points more accurate aided: the aided AUC is the higher one.
    assert row["auc_b"] > row["auc_a"] and row["difference"] < 0


def test_readers_against_the_model_take_its_scores_for_every_reader(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    for name in MODEL_FINDINGS:
        units = units_of(sim["truth"], name)
        cut = SPECS[name].values.index(POSITIVE_FROM[name])
        positive = [SPECS[name].values.index(sim["truth"][u]) >= cut for u in units]
        model = [sim["scores"][u] if SPECS[name].values.index(sim["model"][u]) >= cut else 1 - sim["scores"][u]
                 for u in units]
        blocks = [[_codes(name, sim["reads"][(reader, "unaided", 1)], units) for reader in READERS],
                  [model] * len(READERS)]
        reader, modality, case, score = _long(units, blocks)
        expected = mrmc_analysis(reader, modality, case, positive * (2 * len(READERS)), score,
                                 modality_order=[0, 1])
        row = one_row(dashboard, "mrmc", finding=name, scope="disc", level="all", comparison="readers_vs_model",
                      arm="unaided")
        assert (row["modality_a"], row["modality_b"]) == ("unaided", "model")
        assert row["auc_b"] == pytest.approx(expected.fom_mean[1], abs=1e-12)
        assert row["difference"] == pytest.approx(expected.difference, abs=1e-12)
        assert row["p_value"] == pytest.approx(expected.p_value)
        assert np.isfinite(row["F"]) and row["n"] == len(units)


def test_patient_rows_and_no_per_level_rows(dashboard_and_sim):
    dashboard, _sim = dashboard_and_sim
    rows = dashboard["tables"]["mrmc"]["rows"]
    assert {row["level"] for row in rows} == {"all"}
    assert {row["scope"] for row in rows} == {"disc", "patient"}
    patient = one_row(dashboard, "mrmc", finding="herniation", scope="patient", level="all",
                      comparison="aided_vs_unaided")
    assert patient["n"] == 20 and patient["readers"] == 3
