"""Reader against model and aided against unaided: McNemar (and DeLong) on the same units, against the core."""
from __future__ import annotations

import pytest

from stats.comparisons import delong_test, mcnemar
from tests.studies.simulated_study import (ACCURACY, MODEL_FINDINGS, MODEL_VERSION, POSITIVE_FROM, SPECS, UNDEFINED,
                                           one_row, units_of)

# The package fixture builds its study in the test database, which pytest-django sets up for marked tests
# only.
pytestmark = pytest.mark.django_db

READERS = list(ACCURACY)


def _positives(spec, values: dict, units: list, positive: int) -> list:
    return [spec.values.index(values[u]) >= positive for u in units]


def test_each_reader_against_the_model(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    for name in MODEL_FINDINGS:
        spec = SPECS[name]
        positive = spec.values.index(POSITIVE_FROM[name])
        units = units_of(sim["truth"], name)
        t_pos = _positives(spec, sim["truth"], units, positive)
        m_pos = _positives(spec, sim["model"], units, positive)
        p_pos = [sim["scores"][u] if m else 1 - sim["scores"][u] for u, m in zip(units, m_pos)]
        for reader in READERS:
            reads = sim["reads"][(reader, "unaided", 1)]
            test = mcnemar(t_pos, _positives(spec, reads, units, positive), m_pos)
            row = one_row(dashboard, "reader_vs_model", finding=name, scope="disc", level="all", arm="unaided",
                          reader=reader)
            assert (row["b_reader_only_correct"], row["c_model_only_correct"], row["n"]) == (test.b, test.c, test.n)
            assert row["p_value"] == test.p_value and row["method"] == test.method
            assert row["model"] == f"model {MODEL_VERSION}"
            try:
                delong = delong_test(t_pos, [float(spec.values.index(reads[u])) for u in units], p_pos)
            except ValueError:  # undefined (one class): no DeLong cells
                delong = None
            assert (row["auc_difference"], row["delong_p"]) == ((delong.diff, delong.p_value) if delong
                                                               else (UNDEFINED, UNDEFINED))
            # Per level no DeLong (too many tests for intervals too wide to use).
            row = one_row(dashboard, "reader_vs_model", finding=name, scope="disc", level="L4/L5", arm="unaided",
                          reader=reader)
            assert (row["auc_difference"], row["delong_p"]) == (UNDEFINED, UNDEFINED) and row["n"] == 20


def test_aided_against_unaided_on_the_same_units(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    spec = SPECS["herniation"]
    positive = spec.values.index("protrusion")
    units = units_of(sim["truth"], "herniation")
    t_pos = _positives(spec, sim["truth"], units, positive)
    for reader in READERS:
        unaided = _positives(spec, sim["reads"][(reader, "unaided", 1)], units, positive)
        aided = _positives(spec, sim["reads"][(reader, "aided", 1)], units, positive)
        test = mcnemar(t_pos, unaided, aided)
        row = one_row(dashboard, "aided_vs_unaided", finding="herniation", scope="disc", level="all", reader=reader)
        assert (row["b_unaided_only_correct"], row["c_aided_only_correct"], row["mcnemar_p"]) == (
            test.b, test.c, test.p_value)
