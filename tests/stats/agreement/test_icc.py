"""ICC against pingouin.

References used below: pingouin 0.7 ``intraclass_corr``. No Django needed.
"""

import math

import numpy as np
import pandas as pd
import pingouin
import pytest

from stats.agreement import icc


# ------------------------------------------------------------------------------------------------------
# ICC


@pytest.fixture
def pingouin_unrounded(monkeypatch):
    # pingouin 0.7 rounds the CI95 column to 2 decimals by default (options["round.column.CI95"] = 2).
    monkeypatch.setitem(pingouin.options, "round.column.CI95", None)


@pytest.mark.parametrize("seed", [0, 1])
def test_icc_matches_pingouin(seed, pingouin_unrounded):
    rng = np.random.default_rng(seed)
    subject_effect = rng.normal(0, 1.5, 25)
    rater_bias = rng.normal(0, 0.4, 4)
    scores = np.clip(np.round(3 + subject_effect[:, None] + rater_bias[None, :] + rng.normal(0, 0.6, (25, 4))), 1, 5)
    long = pd.DataFrame(
        [(i, j, scores[i, j]) for i in range(25) for j in range(4)], columns=["disc", "reader", "grade"]
    )
    # pingouin 0.7 intraclass_corr(data, targets, raters, ratings): rows ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k
    table = pingouin.intraclass_corr(long, targets="disc", raters="reader", ratings="grade").set_index("Type")
    for kind, row in zip(["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"], table.index):
        res = icc(scores, kind=kind)
        assert res.value == pytest.approx(table.loc[row, "ICC"], abs=1e-12), kind
        assert res.ci == pytest.approx(tuple(table.loc[row, "CI95"]), abs=1e-9), kind
        assert res.f_statistic == pytest.approx(table.loc[row, "F"], rel=1e-12), kind
        assert res.p_value == pytest.approx(table.loc[row, "pval"], rel=1e-9, abs=1e-300), kind
        assert res.n == 25 and math.isnan(res.se)


def test_icc_perfect_and_constant():
    scores = np.array([[1, 1, 1], [3, 3, 3], [5, 5, 5], [2, 2, 2]])
    assert icc(scores).value == pytest.approx(1.0)
    constant = icc(np.full((4, 3), 2.0))
    assert math.isnan(constant.value) and constant.band == "undefined"


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ([[1, 2], [2, 3]], {"kind": "ICC4"}, "kind must be one of"),
        ([1, 2, 3], {}, "subjects x raters matrix"),
        ([[1, 2]], {}, "at least 2 subjects and 2 raters"),
        ([[1, np.nan], [2, 3]], {}, "missing values"),
        ([["a", "b"], ["c", "d"]], {}, "numeric matrix"),
    ],
)
def test_icc_degenerate_input_raises(scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        icc(scores, **kwargs)
