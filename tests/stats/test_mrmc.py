"""Obuchowski-Rockette MRMC analysis and OR power, against the published analyses of the Van Dyke data.

References (the figures below are copied from these outputs):

- MRMCAOV: the MRMCaov paper draft, github.com/brian-j-smith/MRMCaov docs/jss/MRMCaov.tex (commit f1c63dc),
  R output of ``summary(mrmc(empirical_auc(truth, rating), treatment, reader, case, data = VanDyke, cov = DeLong))``
  and of the same with ``fixed(reader)`` / ``fixed(case)`` (jackknife), and of
  ``mrmc(binary_sens(truth, rating >= 3), ...)``.
- RJAFROC_BOOK: Chakraborty, RJafrocBook, github.com/dpc10ster/RJafrocBook docs/10C-OR-AnalysisApplications.md
  (commit 11cd734), ``StSignificanceTesting(dataset02, FOM = "Wilcoxon", method = "OR")`` (jackknife).
- RJAFROC_POWER: RJafroc vignette "Chapter 11, Vignette 4" (vignettes/Ch11V4SampleSize.html, 2019-08-23),
  ``SsPowerGivenJK`` / ``SsSampleSizeKGivenJ`` / ``SsPowerTable`` on dataset02 with ``method = "ORH"``.

Independent implementations for what no paper prints: leave-one-out AUCs recomputed case by case with
scikit-learn 1.9 ``roc_auc_score``; mean squares from statsmodels 0.15 ``anova_lm`` of the two-way model; DeLong
from ``stats.accuracy.delong_covariance``. The data file's origin is in tests/stats/data/README.md. No Django.
"""

import itertools
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from stats.accuracy import delong_covariance
from stats.mrmc import VarianceComponents, mrmc_analysis, or_power, or_sample_size
from stats.mrmc.cli import main

ROOT = Path(__file__).resolve().parents[2]
VANDYKE = ROOT / "tests" / "stats" / "data" / "vandyke.csv"


@pytest.fixture(scope="module")
def vandyke():
    data = np.loadtxt(VANDYKE, delimiter=",", skiprows=1)
    return {"reader": data[:, 0].astype(int), "modality": data[:, 1].astype(int), "case": data[:, 2].astype(int),
            "truth": data[:, 3].astype(int), "score": data[:, 4]}


def assert_printed(actual, printed: str):
    """Each value equals the published figure to the digits printed: within half a unit of its last digit."""
    figures = printed.split()
    assert len(actual) == len(figures)
    for value, figure in zip(actual, figures, strict=True):
        decimals = len(figure.split(".")[1]) if "." in figure else 0
        assert abs(value - float(figure)) <= 0.5 * 10**-decimals * (1 + 1e-9), (value, figure)


def analyse(data, **kwargs):
    return mrmc_analysis(data["reader"], data["modality"], data["case"], data["truth"], data["score"], **kwargs)


def crossed_study(seed, n_cases=60, n_readers=4, n_modalities=2, ties=True):
    """Long-format synthetic study: reader skill, modality effect, correlated case difficulty."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n_cases) < 0.4
    truth[:2] = [True, False]
    difficulty = rng.normal(0, 0.8, n_cases)
    rows = list(itertools.product(range(n_modalities), range(n_readers), range(n_cases)))
    m, r, c = (np.array(x) for x in zip(*rows, strict=True))
    latent = truth[c] * (1.0 + 0.3 * m + 0.2 * r) + difficulty[c] + rng.normal(0, 0.9, c.size)
    score = np.digitize(latent, [-0.5, 0.2, 0.8, 1.4]) + 1.0 if ties else latent
    return {"reader": r, "modality": m, "case": c, "truth": truth[c].astype(int), "score": score}


# ------------------------------------------------------------------------------------------------------
# Van Dyke, jackknife: random readers and random cases


def test_vandyke_foms_match_published(vandyke):
    res = analyse(vandyke)
    # MRMCAOV, fixed-readers output, "Single reader 95% CIs": empirical_auc and StdErr per treatment x reader.
    assert res.readers == (1, 2, 3, 4, 5) and res.modalities == (1, 2)
    assert (res.n_cases, res.n_positive, res.n_negative) == (114, 45, 69)
    assert_printed(res.fom[0], "0.9196457 0.8587762 0.9038647 0.9731079 0.8297907")
    assert_printed(res.fom[1], "0.9478261 0.9053140 0.9217391 0.9993559 0.9299517")
    se = np.sqrt(np.diag(res.covariance))
    assert_printed(se[:5], "0.0301255164 0.0363753335 0.0282594118 0.0173388332 0.0417201720")
    assert_printed(se[5:], "0.0221416887 0.0298151099 0.0297673065 0.0007213348 0.0262023046")
    assert_printed([res.fom_by_reader[4][2], *res.fom_mean.values()], "0.9993559 0.8970370 0.9408374")


def test_vandyke_random_readers_random_cases(vandyke):
    res = analyse(vandyke)
    vc = res.var_components
    # MRMCAOV (jackknife variance components, identical in the fixed-readers output) and RJAFROC_BOOK VarCom:
    # VarR 0.0015350, VarTR 0.0002004, Cov1 0.0003466, Cov2 0.0003441, Cov3 0.0002390, Var 0.0008023.
    assert_printed((vc.var_r, vc.var_tr, vc.var_error, vc.cov1, vc.cov2, vc.cov3),
                   "0.0015349993 0.0002004025 0.0008022883 0.0003466137 0.0003440748 0.0002390284")
    # MRMCAOV: MS(T) 0.004796171, MS(T:R) 0.0005510306; RJAFROC_BOOK TRanova: MS(R) 0.003836.
    assert_printed((res.ms_t, res.ms_tr, res.ms_r), "0.004796171 0.0005510306 0.003836")
    # RJAFROC_BOOK RRRC: FStat 4.456, DF 15.26, p 0.05167; ciDiffTrt -0.0438, StdErr 0.0207, t -2.11,
    # CI -0.0879595 to 0.0003589 (hand calculation, printed with digits = 4 of the vector).
    assert res.ndf == 1
    assert_printed((res.F, res.ddf, res.p_value), "4.456 15.26 0.05167")
    diff = res.random.differences[0]
    assert (diff.first, diff.second) == (1, 2)
    assert diff.p_value == pytest.approx(res.p_value, rel=1e-9)
    # MRMCAOV prints the difference as -0.04380032.
    assert_printed((res.difference, diff.se, diff.statistic, *res.ci), "-0.04380032 0.0207 -2.11 -0.0879595 0.0003589")
    # RJAFROC_BOOK ciAvgRdrEachTrt: trt0 0.8970 0.03317 12.74 (0.8252, 0.9689); trt1 0.9408 0.02157 12.71.
    published = ["0.8970 0.03317 12.74 0.8252 0.9689", "0.9408 0.02157 12.71 0.8941 0.9875"]
    for est, printed in zip(res.random.modality_estimates, published, strict=True):
        assert_printed((est.estimate, est.se, est.df, *est.ci), printed)


def test_vandyke_fixed_readers(vandyke):
    res = analyse(vandyke).fixed_readers
    # MRMCAOV fixed(reader): X2 5.475953 on 1 df, p 0.01927984; 1 - 2: SE 0.01871748, CI -0.08048591 to
    # -0.00711473, z -2.340075.
    assert (res.readers, res.cases, res.ndf, res.ddf) == ("fixed", "random", 1, math.inf)
    assert_printed((res.chi2, res.p_value), "5.475953 0.01927984")
    diff = res.differences[0]
    assert_printed((diff.se, *diff.ci, diff.statistic), "0.01871748 -0.08048591 -0.00711473 -2.340075")
    # Per treatment: 0.8970370 SE 0.02428971 (0.8494301, 0.9446440); 0.9408374 SE 0.01677632 (0.9079564,
    # 0.9737183).
    published = ["0.8970370 0.02428971 0.8494301 0.9446440", "0.9408374 0.01677632 0.9079564 0.9737183"]
    for est, printed in zip(res.modality_estimates, published, strict=True):
        assert_printed((est.estimate, est.se, *est.ci), printed)
    # Reader-specific 1 - 2 differences: estimate, StdErr, z, p-value.
    published_readers = ["-0.02818035 0.02551213 -1.1045864 0.26933885 -0.078183215 0.021822507",
                         "-0.04653784 0.02630183 -1.7693768 0.07683102 -0.098088476 0.005012792",
                         "-0.01787440 0.03120965 -0.5727202 0.56683414 -0.079044180 0.043295388",
                         "-0.02624799 0.01729129 -1.5179891 0.12901715 -0.060138290 0.007642316",
                         "-0.10016103 0.04405746 -2.2734182 0.02300099 -0.186512066 -0.013809995"]
    assert [reader for reader, _ in res.reader_differences] == [1, 2, 3, 4, 5]
    for (_, d), printed in zip(res.reader_differences, published_readers, strict=True):
        assert_printed((d.estimate, d.se, d.statistic, d.p_value, *d.ci), printed)


def test_vandyke_fixed_cases(vandyke):
    res = analyse(vandyke).fixed_cases
    # MRMCAOV fixed(case): F 8.704 on 1 and 4 df, p 0.04195875; 1 - 2: SE 0.01484629, CI -0.08502022 to
    # -0.00258042, t -2.950254; per treatment SE 0.02482994 (0.8280981, 0.9659760) and 0.01615303 (0.8959894,
    # 0.9856854) on 4 df.
    assert (res.readers, res.cases, res.ndf, res.ddf) == ("random", "fixed", 1, 4.0)
    assert_printed((res.F, res.p_value), "8.704 0.04195875")
    diff = res.differences[0]
    assert_printed((diff.se, *diff.ci, diff.statistic), "0.01484629 -0.08502022 -0.00258042 -2.950254")
    published = ["0.02482994 0.8280981 0.9659760", "0.01615303 0.8959894 0.9856854"]
    for est, printed in zip(res.modality_estimates, published, strict=True):
        assert est.df == 4.0
        assert_printed((est.se, *est.ci), printed)


def test_vandyke_delong(vandyke):
    res = analyse(vandyke, cov="delong")
    vc = res.var_components
    # MRMCAOV cov = DeLong: reader 0.0015364254, treatment:reader 0.0002045840, Error 0.0007921325, Cov1
    # 0.0003420090, Cov2 0.0003395265, Cov3 0.0002358497; F 4.484854 on 1 and 15.06611, p 0.05123303;
    # 1 - 2: SE 0.0206825, CI -0.0878671960 to 0.0002665519, t -2.117747.
    assert_printed((vc.var_r, vc.var_tr, vc.var_error, vc.cov1, vc.cov2, vc.cov3),
                   "0.0015364254 0.0002045840 0.0007921325 0.0003420090 0.0003395265 0.0002358497")
    assert_printed((res.F, res.ddf, res.p_value), "4.484854 15.06611 0.05123303")
    diff = res.random.differences[0]
    assert_printed((diff.se, diff.statistic, *res.ci), "0.0206825 -2.117747 -0.0878671960 0.0002665519")
    # Per treatment: 0.8970370 SE 0.03307642 df 12.59597 (0.8253461, 0.9687280); 0.9408374 SE 0.02150464
    # df 12.56530 (0.8942155, 0.9874592).
    published = ["0.03307642 12.59597 0.8253461 0.9687280", "0.02150464 12.56530 0.8942155 0.9874592"]
    for est, printed in zip(res.random.modality_estimates, published, strict=True):
        assert_printed((est.se, est.df, *est.ci), printed)


def test_vandyke_sensitivity_at_rating_3(vandyke):
    res = analyse(vandyke, fom="sensitivity", threshold=3)
    vc = res.var_components
    # MRMCAOV binary_sens(truth, rating >= 3), jackknife: sensitivities 0.889 0.778 0.822 0.933 0.689 /
    # 0.978 0.822 0.911 1 0.889 (N = 45); reader 0.0049747475, treatment:reader 0.0007828283, Error
    # 0.0023681257, Cov1 0.0009943883, Cov2 0.0010145903, Cov3 0.0006604938; F 6.689493 on 1 and 15.71732,
    # p 0.02008822; 1 - 2: -0.09777778, SE 0.03780451, CI -0.1780371 to -0.0175185, t -2.586405.
    np.testing.assert_allclose(res.fom, [[40 / 45, 35 / 45, 37 / 45, 42 / 45, 31 / 45],
                                         [44 / 45, 37 / 45, 41 / 45, 1.0, 40 / 45]])
    assert_printed((vc.var_r, vc.var_tr, vc.var_error, vc.cov1, vc.cov2, vc.cov3),
                   "0.0049747475 0.0007828283 0.0023681257 0.0009943883 0.0010145903 0.0006604938")
    assert_printed((res.F, res.ddf, res.p_value), "6.689493 15.71732 0.02008822")
    diff = res.random.differences[0]
    assert_printed((diff.estimate, diff.se, *diff.ci, diff.statistic),
                   "-0.09777778 0.03780451 -0.1780371 -0.0175185 -2.586405")


def test_specificity_is_sensitivity_of_the_mirrored_study(vandyke):
    # Specificity at "score >= 3 is positive" = share of negatives scored below 3 = sensitivity of the study
    # with truth and the score's direction swapped (ratings are integers: -score >= -2.5 means score < 3).
    spec = analyse(vandyke, fom="specificity", threshold=3)
    mirrored = dict(vandyke, truth=1 - vandyke["truth"], score=-vandyke["score"])
    sens = analyse(mirrored, fom="sensitivity", threshold=-2.5)
    np.testing.assert_allclose(spec.fom, sens.fom, rtol=1e-15)
    np.testing.assert_allclose(spec.covariance, sens.covariance, rtol=1e-12)
    assert spec.F == pytest.approx(sens.F, rel=1e-12)
    assert spec.fom_name == "specificity" and spec.threshold == 3.0


# ------------------------------------------------------------------------------------------------------
# Covariances and the general (t > 2) analysis against independent implementations


def brute_force_jackknife(truth, scores):
    """Leave each case out and recompute the AUC with scikit-learn: O(K) roc_auc_score calls per row."""
    k = truth.size
    loo = np.array([[roc_auc_score(np.delete(truth, case), np.delete(row, case)) for case in range(k)]
                    for row in scores])
    centred = loo - loo.mean(axis=1, keepdims=True)
    return (k - 1) / k * centred @ centred.T


def score_matrix(study):
    n_cases = np.unique(study["case"]).size
    order = np.lexsort((study["case"], study["reader"], study["modality"]))
    return study["truth"][order][:n_cases].astype(bool), study["score"][order].reshape(-1, n_cases)


@pytest.mark.parametrize(("seed", "ties"), [(0, True), (1, False), (2, True)])
def test_closed_form_jackknife_equals_case_by_case(seed, ties):
    study = crossed_study(seed, n_cases=40, n_readers=3, n_modalities=2, ties=ties)
    res = analyse(study)
    truth, scores = score_matrix(study)
    np.testing.assert_allclose(res.fom.ravel(), [roc_auc_score(truth, row) for row in scores], rtol=1e-13)
    np.testing.assert_allclose(res.covariance, brute_force_jackknife(truth, scores), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("seed", [3, 4])
def test_delong_covariance_equals_stats_accuracy(seed, vandyke):
    for study in (crossed_study(seed, n_cases=80, n_readers=3, n_modalities=3), vandyke):
        res = analyse(study, cov="delong")
        truth, scores = score_matrix(study)
        aucs, cov = delong_covariance(truth, scores)
        np.testing.assert_allclose(res.fom.ravel(), aucs, rtol=1e-13)
        np.testing.assert_allclose(res.covariance, cov, rtol=1e-11, atol=1e-16)


def reference_or(fom, cov):
    """OR random-readers analysis written out: covariance classes by explicit loops, mean squares from
    statsmodels' two-way ANOVA without replication, then Hillis (2007) F and ddf."""
    n_t, n_j = fom.shape
    classes = {"var": [], 1: [], 2: [], 3: []}
    for (i, j), (i2, j2) in itertools.product(itertools.product(range(n_t), range(n_j)), repeat=2):
        kind = "var" if (i, j) == (i2, j2) else 1 if j == j2 else 2 if i == i2 else 3
        classes[kind].append(cov[i * n_j + j, i2 * n_j + j2])
    var, cov1, cov2, cov3 = (float(np.mean(classes[k])) for k in ("var", 1, 2, 3))
    frame = pd.DataFrame([(f"t{i}", f"r{j}", fom[i, j]) for i in range(n_t) for j in range(n_j)],
                         columns=["modality", "reader", "fom"])
    table = anova_lm(ols("fom ~ C(modality) + C(reader)", frame).fit())
    ms_t, ms_r, ms_tr = table["mean_sq"].tolist()
    den = ms_tr + n_j * max(cov2 - cov3, 0)
    ddf = den**2 / (ms_tr**2 / ((n_t - 1) * (n_j - 1)))
    var_tr = ms_tr - var + cov1 + cov2 - cov3
    var_r = (ms_r - var_tr - var - (n_t - 1) * cov1 + cov2 + (n_t - 1) * cov3) / n_t
    return {"ms": (ms_t, ms_r, ms_tr), "components": (var_r, var_tr, cov1, cov2, cov3, var), "F": ms_t / den,
            "ddf": ddf, "p": sps.f.sf(ms_t / den, n_t - 1, ddf), "se_diff": math.sqrt(2 * den / n_j),
            "chi2": (n_t - 1) * ms_t / (var - cov1 + (n_j - 1) * max(cov2 - cov3, 0))}


@pytest.mark.parametrize(("seed", "n_modalities", "n_readers"), [(5, 3, 4), (6, 4, 3), (7, 2, 6)])
def test_general_analysis_matches_reference(seed, n_modalities, n_readers):
    res = analyse(crossed_study(seed, n_cases=70, n_readers=n_readers, n_modalities=n_modalities))
    ref = reference_or(res.fom, res.covariance)
    assert (res.ms_t, res.ms_r, res.ms_tr) == pytest.approx(ref["ms"], rel=1e-9)
    vc = res.var_components
    assert (vc.var_r, vc.var_tr, vc.cov1, vc.cov2, vc.cov3, vc.var_error) == pytest.approx(ref["components"],
                                                                                           rel=1e-9, abs=1e-15)
    assert res.ndf == n_modalities - 1
    assert (res.F, res.ddf, res.p_value) == pytest.approx((ref["F"], ref["ddf"], ref["p"]), rel=1e-9)
    assert res.fixed_readers.chi2 == pytest.approx(ref["chi2"], rel=1e-9)
    assert res.fixed_cases.F == pytest.approx(ref["ms"][0] / ref["ms"][2], rel=1e-9)
    pairs = list(itertools.combinations(range(n_modalities), 2))
    assert [(d.first, d.second) for d in res.random.differences] == pairs
    for d in res.random.differences:
        assert d.estimate == pytest.approx(res.fom[d.first].mean() - res.fom[d.second].mean(), rel=1e-12)
        assert d.se == pytest.approx(ref["se_diff"], rel=1e-9)
        assert d.df == res.ddf
    assert len(res.fixed_readers.reader_differences) == n_readers * len(pairs)
    if n_modalities > 2:
        assert res.as_dict()["diff"] is None and len(res.as_dict()["random"]["differences"]) == len(pairs)


def test_modality_order_sets_the_direction():
    study = crossed_study(8)
    study["modality"] = np.where(study["modality"] == 0, "unaided", "aided")
    default = analyse(study)
    ordered = analyse(study, modality_order=["unaided", "aided"])
    assert default.modalities == ("aided", "unaided") and ordered.modalities == ("unaided", "aided")
    assert ordered.difference == pytest.approx(-default.difference, rel=1e-12)
    assert ordered.ci == pytest.approx((-default.ci[1], -default.ci[0]), rel=1e-12)
    assert ordered.p_value == pytest.approx(default.p_value, rel=1e-12)


def test_row_order_and_label_types_do_not_matter(vandyke):
    res = analyse(vandyke)
    rng = np.random.default_rng(9)
    order = rng.permutation(vandyke["case"].size)
    shuffled = {k: v[order] for k, v in vandyke.items()}
    shuffled["case"] = np.char.add("case-", shuffled["case"].astype(str))
    shuffled["truth"] = shuffled["truth"].astype(bool)
    again = analyse(shuffled)
    assert again.F == pytest.approx(res.F, rel=1e-12)
    np.testing.assert_allclose(again.fom, res.fom, rtol=1e-15)


def test_one_thousand_cases_are_fast():
    # The dashboard's budget (bench/stats.py, 2 s for everything) holds several of these per study.
    study = crossed_study(10, n_cases=1000, n_readers=3, n_modalities=2)
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        analyse(study)
        best = min(best, time.perf_counter() - start)
    assert best < 0.2


# ------------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {k: v[1:] for k, v in d.items()}, r"not fully crossed: reader 1 has no score for case 1 in "
                                                      r"modality 1 \(1 of 1140"),
        (lambda d: {k: np.r_[v, v[:1]] for k, v in d.items()}, "reader 1 scored case 1 in modality 1 2 times"),
        (lambda d: dict(d, truth=np.where(np.arange(d["truth"].size) == 0, 1, d["truth"])),
         "case 1 has truth 1 in some rows and 0 in others"),
        (lambda d: {k: v[d["modality"] == 1] for k, v in d.items()}, "at least two modalities, got 1"),
        (lambda d: {k: v[d["reader"] == 1] for k, v in d.items()}, "at least two readers, got 1"),
        (lambda d: dict(d, truth=d["truth"] * 2), r"truth must be binary"),
        (lambda d: dict(d, score=np.where(np.arange(d["score"].size) == 5, np.nan, d["score"])),
         "score contains missing or infinite values"),
        (lambda d: dict(d, score=d["score"][:-1]), "reader has 1140 values and score has 1139"),
        (lambda d: dict(d, reader=np.where(np.arange(d["reader"].size) == 0, None, d["reader"])),
         "reader labels contain missing values"),
        (lambda d: {k: v[(d["truth"] == 0) | (d["case"] == 70)] for k, v in d.items()},
         "at least two positive and two negative cases, got 1 positive"),
    ],
)
def test_bad_input_raises(vandyke, change, message):
    with pytest.raises(ValueError, match=message):
        analyse(change(vandyke))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fom": "youden"}, "fom must be one of"),
        ({"cov": "bootstrap"}, "cov must be one of"),
        ({"fom": "sensitivity", "threshold": 3, "cov": "delong"}, "DeLong covariance is defined for the AUC only"),
        ({"fom": "sensitivity"}, "sensitivity needs a finite threshold"),
        ({"fom": "specificity", "threshold": "high"}, "specificity needs a finite threshold"),
        ({"threshold": 3}, "threshold applies to sensitivity and specificity"),
        ({"alpha": 1.5}, "alpha must be between 0 and 1"),
        ({"modality_order": ["CINE"]}, r"label 1, which is not in categories \['CINE'\]"),
    ],
)
def test_bad_options_raise(vandyke, kwargs, message):
    with pytest.raises(ValueError, match=message):
        analyse(vandyke, **kwargs)


# ------------------------------------------------------------------------------------------------------
# Power and sample size (Hillis, Obuchowski & Berbaum 2011)


def test_power_reproduces_rjafroc_vandyke_example(vandyke):
    pilot = analyse(vandyke)
    d, vc, k_star = pilot.difference, pilot.var_components, pilot.n_cases
    # RJAFROC_POWER: SsPowerGivenJK(dataset02, 6, 251, method = "ORH", option = "RRRC"): powerRRRC 0.801
    # ("Expected power is 0.8005403"), ncpRRRC 8.91, ddfHRRRC 16.1, fRRRC 4.49.
    res = or_power(d, 6, 251, vc, k_star)
    assert_printed((res.power, res.ncp, res.ddf, res.f_critical), "0.8005403 8.91 16.1 4.49")
    assert (res.n_readers, res.n_cases, res.ndf, res.analysis) == (6, 251, 1, "random")
    # SsSampleSizeKGivenJ(dataset02, J = 10, method = "ORH", option = ...): RRRC 163 cases, power 0.8015625;
    # FRRC 133, 0.8011167; RRFC 53, 0.8049666.
    for analysis, cases, power in (("random", 163, 0.8015625), ("fixed_readers", 133, 0.8011167),
                                   ("fixed_cases", 53, 0.8049666)):
        res = or_sample_size(d, 10, vc, k_star, analysis=analysis)
        assert (res.n_cases, res.analysis) == (cases, analysis)
        assert_printed([res.power], str(power))
    # SsPowerTable(dataset02, method = "ORH", option = "RRRC"): readers -> cases for 80% power.
    table = {4: 1089, 5: 344, 6: 251, 7: 211, 8: 188, 9: 173, 10: 163, 20: 126, 50: 109, 100: 103}
    assert {j: or_sample_size(d, j, vc, k_star).n_cases for j in table} == table


def test_power_grows_with_readers_cases_and_effect():
    vc = VarianceComponents(var_r=0.0015, var_tr=0.0002, cov1=0.00035, cov2=0.00034, cov3=0.00024,
                            var_error=0.0008)
    powers = [or_power(0.05, j, k, vc, 114).power for j, k in ((4, 100), (6, 100), (6, 200))]
    assert powers == sorted(powers) and 0 < powers[0] < powers[-1] < 1
    assert or_power(0.08, 6, 100, vc, 114).power > powers[1]
    assert or_power(-0.05, 6, 100, vc, 114).power == pytest.approx(powers[1], rel=1e-12)
    # Fixed readers ignore reader variability and so need fewer cases than random readers.
    assert or_sample_size(0.05, 6, vc, 114, analysis="fixed_readers").n_cases < or_sample_size(0.05, 6, vc, 114).n_cases


def test_power_matches_monte_carlo_of_the_null_and_alternative_f():
    # With the planned design's own variance components the non-central F power equals the share of
    # simulated F statistics beyond the critical value (F = (chi2_1(ncp) / 1) / (chi2_ddf / ddf)).
    vc = VarianceComponents(var_r=0.0015, var_tr=0.0002, cov1=0.00035, cov2=0.00034, cov3=0.00024,
                            var_error=0.0008)
    res = or_power(0.04, 8, 150, vc, 114)
    rng = np.random.default_rng(11)
    f = rng.noncentral_chisquare(1, res.ncp, 200_000) / (rng.chisquare(res.ddf, 200_000) / res.ddf)
    assert np.mean(f > res.f_critical) == pytest.approx(res.power, abs=0.005)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda vc: or_power(0.0, 5, 100, vc, 114), "effect_size must be a finite, non-zero"),
        (lambda vc: or_power(0.05, 1, 100, vc, 114), "n_readers must be an integer >= 2"),
        (lambda vc: or_power(0.05, 5, 1, vc, 114), "n_cases must be an integer >= 2"),
        (lambda vc: or_power(0.05, 5, 100, vc, 114, analysis="both"), "analysis must be one of"),
        (lambda vc: or_power(0.05, 5, 100, {"var_tr": 0}, 114), "components must be the VarianceComponents"),
        (lambda vc: or_sample_size(0.05, 5, vc, 114, power=1.0), "power must be between 0 and 1"),
        (lambda vc: or_sample_size(0.001, 3, vc, 114, max_cases=5000), "3 readers do not reach power 0.8"),
        (lambda vc: or_power(0.05, 5, 100, VarianceComponents(0, 0, 0.001, 0, 0, 0.0005), 114),
         "non-positive variance"),
    ],
)
def test_power_bad_input(call, message):
    vc = VarianceComponents(0.0015, 0.0002, 0.00035, 0.00034, 0.00024, 0.0008)
    with pytest.raises(ValueError, match=message):
        call(vc)


# ------------------------------------------------------------------------------------------------------
# Command line and the no-Django rule


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "stats.mrmc", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli_json_on_vandyke():
    done = run_cli(VANDYKE, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert {"auc", "auc_mean", "diff", "ci_low", "ci_high", "F", "ddf", "p", "var_components"} <= out.keys()
    # Published values as in test_vandyke_random_readers_random_cases (RJAFROC_BOOK, MRMCAOV).
    assert_printed((out["auc"]["1"]["1"], out["auc"]["4"]["2"], out["auc_mean"]["1"], out["auc_mean"]["2"]),
                   "0.9196457 0.9993559 0.8970370 0.9408374")
    assert_printed((out["diff"], out["ci_low"], out["ci_high"], out["F"], out["ddf"], out["p"]),
                   "-0.04380032 -0.0879595 0.0003589 4.456 15.26 0.05167")
    vc = out["var_components"]
    assert list(vc) == ["var_r", "var_tr", "cov1", "cov2", "cov3", "var_error"]
    assert_printed(list(vc.values()), "0.0015349993 0.0002004025 0.0003466137 0.0003440748 0.0002390284 0.0008022883")
    assert out["fixed_readers"]["ddf"] is None
    assert_printed((out["fixed_readers"]["p"], out["fixed_cases"]["F"]), "0.01927984 8.704")
    assert (out["n_cases"], out["cov"], out["fom"]) == (114, "jackknife", "auc")


def test_cli_table_and_delong():
    done = run_cli(VANDYKE, "--cov", "delong")
    assert done.returncode == 0, done.stderr
    assert "AUC, delong covariance" in done.stdout
    # MRMCAOV cov = DeLong: F 4.484854 on 1 and 15.06611, p 0.05123303.
    assert "Random readers, random cases: F(1, 15.07) = 4.485, p = 0.05123" in done.stdout
    assert "Fixed readers, random cases: chi2(1)" in done.stdout
    assert "\nmean      0.8970    0.9408\n" in done.stdout


def test_cli_sensitivity(capsys):
    assert main([str(VANDYKE), "--json", "--fom", "sensitivity", "--threshold", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    # MRMCAOV binary_sens(truth, rating >= 3): F 6.689493, p 0.02008822.
    assert out["sensitivity_mean"]["1"] == pytest.approx(37 / 45, rel=1e-12)
    assert_printed((out["F"], out["p"]), "6.689493 0.02008822")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reader,modality,case,score\n1,1,1,3\n", "missing column(s) truth"),
        ("reader,modality,case,truth,score\n", "no data rows"),
        ("reader,modality,case,truth,score\n1,1,1,0,high\n", "column score must be numeric"),
        ("reader,modality,case,truth,score\n1,1,1,0\n", "line 2: expected 5 fields"),
        ("reader,modality,case,truth,score\n1,A,1,0,1\n1,B,1,1,2\n2,A,1,0,1\n", "not fully crossed"),

    ],
)
def test_cli_bad_csv_exits_2(tmp_path, capsys, text, message):
    # In-process (main is what "python -m stats.mrmc" runs; a subprocess per case costs 2 s of scipy import).
    path = tmp_path / "study.csv"
    path.write_text(text)
    assert main([str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err and err.startswith("stats.mrmc: ")


def test_cli_keeps_leading_zero_ids_apart(tmp_path, capsys):
    # Readers "007" and "7" are two readers; numeric ids sort as numbers (9 before 10).
    rows = ["reader,modality,case,truth,score"]
    for reader, modality, case in itertools.product(("007", "7", "9", "10"), ("A", "B"), range(6)):
        rows.append(f"{reader},{modality},{case},{int(case >= 3)},{(case + len(reader) + (modality == 'B')) % 5}")
    path = tmp_path / "study.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main([str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["readers"] == ["007", "10", "7", "9"] and out["modalities"] == ["A", "B"]
    path.write_text("\n".join(r.replace("007", "8") for r in rows) + "\n")
    assert main([str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["readers"] == ["7", "8", "9", "10"]


def test_cli_missing_file_exits_2(tmp_path):
    done = run_cli(tmp_path / "absent.csv")
    assert done.returncode == 2 and done.stdout == "" and "No such file" in done.stderr


def test_mrmc_imports_no_django():
    code = ("import sys, stats.mrmc, stats.mrmc.cli\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PATH": "", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
