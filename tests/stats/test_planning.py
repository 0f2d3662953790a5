"""Study planning: kappa sample size (Donner & Eliasziw 1992) and MRMC cases per reader count (from a pilot).

References for the figures below:

- BLOCH_KRAEMER: Bloch & Kraemer, Biometrics 1989;45:269-287, the large-sample variance of the intraclass kappa
  of two raters, Var = (1 - k) / n [(1 - k)(1 - 2k) + k (2 - k) / (2 p (1 - p))]. The goodness-of-fit chi-square
  of Donner & Eliasziw divided by the squared distance is the Fisher information per case, so for narrow
  intervals the planned n approaches z^2 Var / w^2 (exactly at prevalence 0.5; elsewhere a few per cent below,
  since the goodness-of-fit approach takes the prevalence as known).
- Simulation: studies drawn from the common-correlation model at the planned n; the 2.5% and 97.5% quantiles
  of the estimated kappa (Fleiss 1971, pooled marginals) must fall at the wanted limits.
- RJAFROC_POWER: RJafroc vignette "Chapter 11, Vignette 4" (2019-08-23), ``SsPowerTable(dataset02, method =
  "ORH", option = "RRRC")`` on the Van Dyke pilot: readers -> cases for 80% power.
"""

import json
import math
import re

import numpy as np
import pytest
from scipy import stats as sps

from stats.planning import (
    kappa_expected_interval,
    kappa_sample_size,
    main,
    mrmc_cases_by_readers,
    rating_count_probabilities,
)
from tests.stats.test_mrmc import VANDYKE, analyse, vandyke  # noqa: F401 - fixture


def bloch_kraemer_variance(kappa, prevalence):
    return (1 - kappa) * ((1 - kappa) * (1 - 2 * kappa) + kappa * (2 - kappa) / (2 * prevalence * (1 - prevalence)))


def simulated_kappas(kappa, prevalence, raters, n_cases, studies=4000, seed=7):
    rng = np.random.default_rng(seed)
    copied = rng.random((studies, n_cases)) < kappa
    shared = (rng.random((studies, n_cases)) < prevalence) * raters
    independent = (rng.random((studies, n_cases, raters)) < prevalence).sum(2)
    positives = np.where(copied, shared, independent)
    p = positives.sum(1) / (n_cases * raters)
    return 1 - (positives * (raters - positives)).sum(1) / (n_cases * raters * (raters - 1) * p * (1 - p))


def test_two_rater_probabilities_are_donner_eliasziw_cells():
    p, k = 0.3, 0.6
    both_neg, one, both_pos = rating_count_probabilities(k, p, 2)
    assert both_neg == pytest.approx((1 - p) ** 2 + k * p * (1 - p), abs=1e-15)
    assert one == pytest.approx(2 * (1 - k) * p * (1 - p), abs=1e-15)
    assert both_pos == pytest.approx(p**2 + k * p * (1 - p), abs=1e-15)
    for raters in (3, 4, 6):
        probs = rating_count_probabilities(k, p, raters)
        assert probs.sum() == pytest.approx(1, abs=1e-12)
        assert (probs * np.arange(raters + 1)).sum() / raters == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize(("kappa", "prevalence", "gap"), [(0.8, 0.5, 0.0), (0.6, 0.3, 0.02), (0.4, 0.1, 0.07)])
def test_narrow_interval_matches_bloch_kraemer_variance(kappa, prevalence, gap):
    width = 0.001
    plan = kappa_sample_size(kappa, lower=kappa - width, prevalence=prevalence)
    z = sps.norm.ppf(0.95)  # one-sided limit at alpha 0.05
    large_sample = z**2 * bloch_kraemer_variance(kappa, prevalence) / width**2
    # Donner & Eliasziw take the prevalence as known; Bloch & Kraemer's variance also carries its estimation.
    # The two agree at prevalence 0.5 and the plan is up to ``gap`` smaller for rarer findings (the README
    # says to add that margin).
    assert 1 - gap - 0.005 <= plan.n_cases / large_sample <= 1 + 0.005
    assert plan.upper is None


@pytest.mark.parametrize(("kappa", "prevalence", "raters", "half_width"),
                         [(0.6, 0.3, 2, 0.1), (0.7, 0.5, 2, 0.15), (0.6, 0.3, 3, 0.1)])
def test_simulated_studies_of_the_planned_size_hit_the_wanted_limits(kappa, prevalence, raters, half_width):
    plan = kappa_sample_size(kappa, lower=kappa - half_width, upper=kappa + half_width, prevalence=prevalence,
                             raters=raters)
    low, high = np.quantile(simulated_kappas(kappa, prevalence, raters, plan.n_cases), [0.025, 0.975])
    # The plan is for the wider side, so one quantile sits on its limit and the other inside.
    assert low >= kappa - half_width - 0.01 and high <= kappa + half_width + 0.01
    assert min(low - (kappa - half_width), kappa + half_width - high) < 0.02


def test_rare_findings_need_more_cases_and_more_readers_fewer():
    common = kappa_sample_size(0.6, lower=0.5, upper=0.7, prevalence=0.4).n_cases
    rare = kappa_sample_size(0.6, lower=0.5, upper=0.7, prevalence=0.05).n_cases
    assert rare > 3 * common
    by_raters = [kappa_sample_size(0.6, lower=0.5, upper=0.7, prevalence=0.2, raters=r).n_cases for r in (2, 3, 4)]
    assert by_raters[0] > by_raters[1] > by_raters[2]


def test_expected_interval_inverts_the_sample_size():
    plan = kappa_sample_size(0.6, lower=0.5, upper=0.7, prevalence=0.2)
    interval = kappa_expected_interval(0.6, n_cases=plan.n_cases, prevalence=0.2)
    # At the planned n the binding limit is met and the other lies inside the wanted one.
    assert 0.5 <= interval.lower <= 0.5 + 0.002 or 0.7 - 0.002 <= interval.upper <= 0.7
    assert interval.lower >= 0.5 - 1e-9 and interval.upper <= 0.7 + 1e-9
    fewer = kappa_expected_interval(0.6, n_cases=plan.n_cases - 40, prevalence=0.2)
    assert fewer.lower < 0.5 or fewer.upper > 0.7
    tiny = kappa_expected_interval(0.3, n_cases=5, prevalence=0.05)
    assert tiny.lower == 0.0 and tiny.small_cells


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kappa_sample_size(1.2, lower=0.5, prevalence=0.2), "kappa must be the anticipated kappa"),
        (lambda: kappa_sample_size(0.6, lower=0.7, prevalence=0.2), "lower must be between 0 and kappa"),
        (lambda: kappa_sample_size(0.6, lower=0.5, upper=0.55, prevalence=0.2), "upper must be between kappa"),
        (lambda: kappa_sample_size(0.6, lower=0.5, prevalence=0.0), "prevalence must be between 0 and 1"),
        (lambda: kappa_sample_size(0.6, lower=0.5, prevalence=0.2, raters=1), "raters must be an integer"),
        (lambda: kappa_sample_size(0.6, lower=0.5, prevalence=0.2, alpha=0.7), "alpha must be between"),
        (lambda: kappa_expected_interval(0.6, n_cases=1, prevalence=0.2), "n_cases must be an integer"),
    ],
)
def test_bad_kappa_plan_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_mrmc_cases_by_readers_reproduces_rjafroc_power_table(vandyke):  # noqa: F811
    pilot = analyse(vandyke)
    # RJAFROC_POWER: SsPowerTable(dataset02, method = "ORH", option = "RRRC").
    table = {4: 1089, 5: 344, 6: 251, 10: 163, 20: 126}
    plans = mrmc_cases_by_readers(pilot, list(table))
    assert {p.n_readers: p.n_cases for p in plans} == table
    assert all(p.power >= 0.8 and p.effect_size == pytest.approx(pilot.difference) for p in plans)
    # Three readers cannot reach 80% whatever the cases: left out, not an error.
    assert [p.n_readers for p in mrmc_cases_by_readers(pilot, [3, 6])] == [6]
    with pytest.raises(ValueError, match="none of \\[2, 3\\] readers reaches power"):
        mrmc_cases_by_readers(pilot, [2, 3])


def test_cli_kappa_json_and_table(capsys):
    assert main(["kappa", "--kappa", "0.6", "--prevalence", "0.05", "--half-width", "0.1", "--raters", "2,3",
                 "--json"]) == 0
    plans = json.loads(capsys.readouterr().out)["kappa"]
    assert [p["raters"] for p in plans] == [2, 3]
    assert plans[0]["n_cases"] == kappa_sample_size(0.6, lower=0.5, upper=0.7, prevalence=0.05).n_cases
    assert plans[0]["lower"] == pytest.approx(0.5) and plans[0]["upper"] == pytest.approx(0.7)
    assert main(["kappa", "--kappa", "0.6", "--prevalence", "0.2", "--cases", "150"]) == 0
    out = capsys.readouterr().out
    expected = kappa_expected_interval(0.6, n_cases=150, prevalence=0.2)
    assert f"{expected.lower:.3f} to {expected.upper:.3f}" in out and "   150" in out


def test_cli_mrmc_on_vandyke_pilot(capsys):
    assert main(["mrmc", str(VANDYKE), "--readers", "5,10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(p["n_readers"], p["n_cases"]) for p in result["mrmc"]] == [(5, 344), (10, 163)]
    assert result["pilot"]["n_cases"] == 114 and result["pilot"]["readers"] == 5
    assert math.isclose(result["pilot"]["difference"], -0.04380032, abs_tol=5e-9)
    assert main(["mrmc", str(VANDYKE), "--readers", "6", "--effect", "0.08"]) == 0
    assert "0.0800" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["kappa", "--kappa", "0.6", "--prevalence", "1.5"], "prevalence must be between 0 and 1"),
        (["mrmc", "/nonexistent/pilot.csv"], "No such file"),
        (["mrmc", str(VANDYKE), "--readers", "2"], "none of \\[2\\] readers reaches power"),
    ],
)
def test_cli_bad_input_exits_2(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.search(message, captured.err)


def test_cli_usage_errors_exit_2(capsys):
    for argv in (["kappa", "--kappa", "0.6", "--prevalence", "0.2", "--upper", "0.7"],
                 ["kappa", "--kappa", "0.6", "--prevalence", "0.2", "--raters", "two"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "usage" in capsys.readouterr().err
