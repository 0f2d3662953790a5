"""The OR analysis itself: FOMs, their covariance over cases, the OR variance components and the three tests.

References are listed in :mod:`stats.mrmc`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
from scipy import stats as sps

from stats.accuracy import placement_values
from stats.results import as_binary, as_label_array, encode_labels, same_length

FOMS = ("auc", "sensitivity", "specificity")
COV_METHODS = ("jackknife", "delong")


# --------------------------------------------------------------------------------------------------------
# Result records


@dataclass(frozen=True)
class VarianceComponents:
    """The OR model's variance components (Hillis 2007 notation; MRMCaov / RJafroc labels in brackets).

    ``var_r`` sigma^2_R (reader / VarR), ``var_tr`` sigma^2_TR (treatment:reader / VarTR), ``cov1`` same reader,
    different modality, ``cov2`` different reader, same modality, ``cov3`` different reader and modality,
    ``var_error`` sigma^2_epsilon (Error / Var): the variance of one reader's FOM over case samples. ``var_r``
    and ``var_tr`` are method-of-moments estimates and can be negative.
    """

    var_r: float
    var_tr: float
    cov1: float
    cov2: float
    cov3: float
    var_error: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """``first - second`` (modality FOMs averaged over readers, or one reader's), with a two-sided test.

    ``df`` is ``inf`` where the reference distribution is normal (fixed readers); ``statistic`` is then a z.
    """

    first: object
    second: object
    estimate: float
    se: float
    df: float
    ci: tuple[float, float]
    statistic: float
    p_value: float


@dataclass(frozen=True)
class ModalityEstimate:
    """One modality's reader-averaged FOM with an interval from that modality's data only."""

    modality: object
    estimate: float
    se: float
    df: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class OrTest:
    """One of the three OR analyses.

    ``F`` on ``ndf`` and ``ddf`` degrees of freedom tests equal modality FOMs. With fixed readers the test is a
    chi-square on ``ndf`` degrees of freedom; ``F`` is then chi2 / ndf with ``ddf = inf`` and :attr:`chi2` is
    the statistic MRMCaov (X2) and RJafroc (Chisq) print. ``reader_differences`` (fixed readers only) holds
    ``(reader, Difference)`` per reader and modality pair.
    """

    readers: str
    cases: str
    F: float
    ndf: int
    ddf: float
    p_value: float
    differences: tuple[Difference, ...]
    modality_estimates: tuple[ModalityEstimate, ...]
    reader_differences: tuple[tuple[object, Difference], ...] = ()

    @property
    def chi2(self) -> float:
        return self.F * self.ndf

    @property
    def label(self) -> str:
        return f"{self.readers} readers, {self.cases} cases"


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not results
class MrmcResult:
    """An OR analysis of a fully crossed reader study.

    Attributes
    ----------
    fom_name : str
        ``"auc"``, ``"sensitivity"`` or ``"specificity"``; ``threshold`` the cut-off of the latter two.
    cov_method : str
        ``"jackknife"`` or ``"delong"``.
    readers, modalities : tuple
        Labels in the order of ``fom``'s columns and rows.
    fom : ndarray, shape (modalities, readers)
        FOM per modality and reader.
    covariance : ndarray, shape (modalities * readers, modalities * readers)
        Covariance of the FOM estimates over cases, modality-major (row ``i * n_readers + j``).
    ms_t, ms_r, ms_tr : float
        Modality, reader and modality x reader mean squares of the FOMs.
    var_components : VarianceComponents
    random, fixed_readers, fixed_cases : OrTest
        Random readers and cases (Hillis 2007 ddf), fixed readers (random cases), fixed cases (random readers).

    ``difference``, ``ci``, ``F``, ``ndf``, ``ddf``, ``p_value`` are the random-readers-random-cases analysis'
    and, for the first two, its first pair (first modality minus second).
    """

    fom_name: str
    cov_method: str
    threshold: float | None
    readers: tuple
    modalities: tuple
    n_cases: int
    n_positive: int
    n_negative: int
    fom: np.ndarray
    covariance: np.ndarray
    ms_t: float
    ms_r: float
    ms_tr: float
    var_components: VarianceComponents
    random: OrTest
    fixed_readers: OrTest
    fixed_cases: OrTest

    @property
    def fom_by_reader(self) -> dict:
        """``{reader: {modality: fom}}``."""
        return {reader: {m: float(self.fom[i, j]) for i, m in enumerate(self.modalities)}
                for j, reader in enumerate(self.readers)}

    @property
    def fom_mean(self) -> dict:
        """``{modality: fom averaged over readers}``."""
        return {m: float(v) for m, v in zip(self.modalities, self.fom.mean(axis=1), strict=True)}

    @property
    def difference(self) -> float:
        return self.random.differences[0].estimate

    @property
    def ci(self) -> tuple[float, float]:
        return self.random.differences[0].ci

    @property
    def F(self) -> float:  # noqa: N802 - the statistic's name in every MRMC paper and package
        return self.random.F

    @property
    def ndf(self) -> int:
        return self.random.ndf

    @property
    def ddf(self) -> float:
        return self.random.ddf

    @property
    def p_value(self) -> float:
        return self.random.p_value

    def as_dict(self) -> dict:
        """JSON-ready summary (the ``--json`` output): labels become strings, NaN/inf become None."""
        name = self.fom_name
        two = len(self.modalities) == 2
        first = self.random.differences[0]
        return {
            "fom": name,
            "threshold": self.threshold,
            "cov": self.cov_method,
            "n_cases": self.n_cases,
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "readers": [str(r) for r in self.readers],
            "modalities": [str(m) for m in self.modalities],
            name: {str(r): {str(m): v for m, v in row.items()} for r, row in self.fom_by_reader.items()},
            f"{name}_mean": {str(m): v for m, v in self.fom_mean.items()},
            "diff": first.estimate if two else None,
            "se": _finite(first.se) if two else None,
            "ci_low": _finite(first.ci[0]) if two else None,
            "ci_high": _finite(first.ci[1]) if two else None,
            "F": _finite(self.F),
            "ndf": self.ndf,
            "ddf": _finite(self.ddf),
            "p": _finite(self.p_value),
            "var_components": self.var_components.as_dict(),
            "random": _test_dict(self.random),
            "fixed_readers": _test_dict(self.fixed_readers),
            "fixed_cases": _test_dict(self.fixed_cases),
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _difference_dict(d: Difference) -> dict:
    return {"first": str(d.first), "second": str(d.second), "estimate": d.estimate, "se": _finite(d.se),
            "df": _finite(d.df), "ci_low": _finite(d.ci[0]), "ci_high": _finite(d.ci[1]),
            "statistic": _finite(d.statistic), "p": _finite(d.p_value)}


def _test_dict(test: OrTest) -> dict:
    return {"F": _finite(test.F), "ndf": test.ndf, "ddf": _finite(test.ddf), "p": _finite(test.p_value),
            "differences": [_difference_dict(d) for d in test.differences]}


# --------------------------------------------------------------------------------------------------------
# Input: long format -> score matrix (modality * reader, case)


def _crossed_scores(reader, modality, case, truth, score, modality_order):
    """Score matrix (t * J, K), truth per case (K,) and the labels; ValueError unless fully crossed."""
    r_labels = as_label_array(reader, "reader")
    m_labels = as_label_array(modality, "modality")
    c_labels = as_label_array(case, "case")
    t = as_binary(truth, "truth")
    try:
        s = np.asarray(score, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("score must be numeric") from None
    if s.ndim != 1:
        raise ValueError(f"score must be one-dimensional, got shape {s.shape}")
    for name, arr in (("modality", m_labels), ("case", c_labels), ("truth", t), ("score", s)):
        same_length("reader", r_labels, name, arr)
    if s.shape[0] == 0:
        raise ValueError("mrmc_analysis got no scores (empty input)")
    if not np.all(np.isfinite(s)):
        raise ValueError("score contains missing or infinite values")
    r_code, readers = encode_labels(r_labels, None, "reader labels")
    m_code, modalities = encode_labels(m_labels, modality_order, "modality labels")
    c_code, cases = encode_labels(c_labels, None, "case labels")
    n_r, n_m, n_c = len(readers), len(modalities), len(cases)
    if n_m < 2:
        raise ValueError(f"an MRMC comparison needs at least two modalities, got {n_m}")
    if n_r < 2:
        raise ValueError(f"the OR analysis needs at least two readers, got {n_r} "
                         "(for one reader compare modalities with stats.comparisons.delong_test)")

    cell = (m_code * n_r + r_code) * n_c + c_code
    counts = np.bincount(cell, minlength=n_m * n_r * n_c)
    if counts.max() > 1:
        m, r, c = np.unravel_index(int(np.argmax(counts > 1)), (n_m, n_r, n_c))
        raise ValueError(f"reader {readers[r]!r} scored case {cases[c]!r} in modality {modalities[m]!r} "
                         f"{int(counts.max())} times; each reader scores each case once per modality")
    if counts.min() == 0:
        m, r, c = np.unravel_index(int(np.argmin(counts)), (n_m, n_r, n_c))
        raise ValueError(f"the design is not fully crossed: reader {readers[r]!r} has no score for case "
                         f"{cases[c]!r} in modality {modalities[m]!r} ({int(np.count_nonzero(counts == 0))} of "
                         f"{counts.size} reader x modality x case cells are empty); every reader must read "
                         "every case in every modality")
    positives = np.bincount(c_code, weights=t, minlength=n_c)
    mixed = (positives > 0) & (positives < n_r * n_m)
    if mixed.any():
        raise ValueError(f"case {cases[int(np.argmax(mixed))]!r} has truth 1 in some rows and 0 in others; "
                         "the truth is a property of the case")
    scores = np.empty(n_m * n_r * n_c)
    scores[cell] = s
    return scores.reshape(n_m * n_r, n_c), positives > 0, readers, modalities


# --------------------------------------------------------------------------------------------------------
# FOMs and their covariance


def _auc_placements(truth: np.ndarray, scores: np.ndarray):
    """AUCs (rows,) and the placement values of the positives (rows, m) and negatives (rows, n): DeLong's
    structural components V10 and V01, whose means both equal the (trapezoidal) AUC."""
    v10, v01 = placement_values(truth, scores)
    return v10.mean(axis=1), v10, v01


def _jackknife(leave_one_out: np.ndarray) -> np.ndarray:
    """Jackknife covariance (rows, rows) of leave-one-out estimates (rows, cases): (K-1)/K sum of products."""
    k = leave_one_out.shape[1]
    centred = leave_one_out - leave_one_out.mean(axis=1, keepdims=True)
    return (k - 1) / k * (centred @ centred.T)


def _fom_and_covariance(truth, scores, fom, threshold, cov):
    if fom == "auc":
        m, n = int(truth.sum()), int((~truth).sum())
        if m < 2 or n < 2:
            raise ValueError(f"the AUC's covariance needs at least two positive and two negative cases, got {m} "
                             f"positive and {n} negative")
        aucs, v10, v01 = _auc_placements(truth, scores)
        if cov == "delong":
            return aucs, np.cov(v10) / m + np.cov(v01) / n
        # Leaving out positive k removes its n pairs: AUC(-k) = (m AUC - V10_k) / (m - 1); likewise negatives.
        loo = np.empty_like(scores)
        loo[:, truth] = (m * aucs[:, None] - v10) / (m - 1)
        loo[:, ~truth] = (n * aucs[:, None] - v01) / (n - 1)
        return aucs, _jackknife(loo)
    if cov == "delong":
        raise ValueError("DeLong covariance is defined for the AUC only; use cov='jackknife' for "
                         f"{fom}")
    # Sensitivity is a mean over the positives (specificity over the negatives): as MRMCaov's binary_sens /
    # binary_spec, the jackknife leaves out the cases the FOM is computed on.
    group = truth if fom == "sensitivity" else ~truth
    k = int(group.sum())
    if k < 2:
        raise ValueError(f"{fom} needs at least two {'positive' if fom == 'sensitivity' else 'negative'} cases "
                         f"for its covariance, got {k}")
    called = scores[:, group] >= threshold
    hits = called if fom == "sensitivity" else ~called
    hits = hits.astype(float)
    values = hits.mean(axis=1)
    return values, _jackknife((k * values[:, None] - hits) / (k - 1))


# --------------------------------------------------------------------------------------------------------
# The OR analyses


def _t_interval(estimate: float, se: float, df: float, alpha: float) -> tuple[float, float]:
    if not (math.isfinite(se) and df > 0):
        return (math.nan, math.nan)
    q = float(sps.t.ppf(1 - alpha / 2, df))  # df = inf gives the normal quantile
    return (estimate - q * se, estimate + q * se)


def _difference(first, second, estimate, variance, df, alpha) -> Difference:
    se = math.sqrt(variance) if variance >= 0 else math.nan
    statistic = estimate / se if se > 0 else math.nan
    p = float(2 * sps.t.sf(abs(statistic), df)) if math.isfinite(statistic) else math.nan
    return Difference(first, second, float(estimate), se, float(df), _t_interval(float(estimate), se, df, alpha),
                      statistic, p)


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return math.inf if num > 0 and den == 0 else math.nan


def _or_tests(fom, cov, modalities, readers, alpha):
    n_t, n_j = fom.shape
    t_of = np.repeat(np.arange(n_t), n_j)
    r_of = np.tile(np.arange(n_j), n_t)
    same_t = t_of[:, None] == t_of[None, :]
    same_r = r_of[:, None] == r_of[None, :]
    var_error = float(np.mean(np.diag(cov)))
    cov1 = float(cov[~same_t & same_r].mean())
    cov2 = float(cov[same_t & ~same_r].mean())
    cov3 = float(cov[~same_t & ~same_r].mean())

    mean_t, mean_r, grand = fom.mean(axis=1), fom.mean(axis=0), float(fom.mean())
    ms_t = n_j * float(np.sum((mean_t - grand) ** 2)) / (n_t - 1)
    ms_r = n_t * float(np.sum((mean_r - grand) ** 2)) / (n_j - 1)
    df_tr = (n_t - 1) * (n_j - 1)
    ms_tr = float(np.sum((fom - mean_t[:, None] - mean_r[None, :] + grand) ** 2)) / df_tr
    # The OR model's expected mean squares (Hillis 2007) solved for sigma^2_TR and sigma^2_R.
    var_tr = ms_tr - var_error + cov1 + cov2 - cov3
    var_r = (ms_r - var_tr - var_error - (n_t - 1) * cov1 + cov2 + (n_t - 1) * cov3) / n_t
    components = VarianceComponents(var_r, var_tr, cov1, cov2, cov3, var_error)

    pairs = list(combinations(range(n_t), 2))
    diffs = {(a, b): float(mean_t[a] - mean_t[b]) for a, b in pairs}
    ndf = n_t - 1

    # Per-modality quantities from that modality's readers only (MRMCaov: "each analysis based only on data for
    # the specified treatment").
    block = [cov[i * n_j:(i + 1) * n_j, i * n_j:(i + 1) * n_j] for i in range(n_t)]
    off = ~np.eye(n_j, dtype=bool)
    cov2_i = [float(b[off].mean()) for b in block]
    var_i = [float(np.mean(np.diag(b))) for b in block]
    ms_r_i = [float(np.var(fom[i], ddof=1)) for i in range(n_t)]

    # Random readers, random cases: Hillis' F and ddf, with Cov2 - Cov3 truncated at 0 (Hillis 2007, 2008).
    den = ms_tr + n_j * max(cov2 - cov3, 0.0)
    ddf = _ratio(den**2, ms_tr**2 / df_tr) if ms_tr > 0 else math.inf
    f_rrrc = _ratio(ms_t, den)
    random = OrTest(
        "random", "random", f_rrrc, ndf, ddf, _f_sf(f_rrrc, ndf, ddf),
        tuple(_difference(modalities[a], modalities[b], diffs[a, b], 2 * den / n_j, ddf, alpha) for a, b in pairs),
        tuple(_modality(modalities[i], mean_t[i], ms_r_i[i] + n_j * max(cov2_i[i], 0.0), ms_r_i[i], n_j, alpha)
              for i in range(n_t)))

    # Fixed readers: the case-sampling variance alone, normal / chi-square reference (as MRMCaov and RJafroc).
    den_fr = var_error - cov1 + (n_j - 1) * max(cov2 - cov3, 0.0)
    chi2 = _ratio(ndf * ms_t, den_fr)
    estimates = []
    for i in range(n_t):
        variance = (var_i[i] + (n_j - 1) * max(cov2_i[i], 0.0)) / n_j
        se = math.sqrt(variance) if variance >= 0 else math.nan
        estimates.append(ModalityEstimate(modalities[i], float(mean_t[i]), se, math.inf,
                                          _t_interval(float(mean_t[i]), se, math.inf, alpha)))
    reader_diffs = []
    for j in range(n_j):
        for a, b in pairs:
            ia, ib = a * n_j + j, b * n_j + j
            reader_diffs.append((readers[j], _difference(
                modalities[a], modalities[b], float(fom[a, j] - fom[b, j]),
                float(cov[ia, ia] + cov[ib, ib] - 2 * cov[ia, ib]), math.inf, alpha)))
    fixed_readers = OrTest(
        "fixed", "random", chi2 / ndf, ndf, math.inf,
        float(sps.chi2.sf(chi2, ndf)) if not math.isnan(chi2) else math.nan,
        tuple(_difference(modalities[a], modalities[b], diffs[a, b], 2 * den_fr / n_j, math.inf, alpha)
              for a, b in pairs),
        tuple(estimates), tuple(reader_diffs))

    # Fixed cases: the conventional treatment x reader ANOVA F on (t-1), (t-1)(J-1) degrees of freedom.
    f_rrfc = _ratio(ms_t, ms_tr)
    fixed_cases = OrTest(
        "random", "fixed", f_rrfc, ndf, float(df_tr), _f_sf(f_rrfc, ndf, df_tr),
        tuple(_difference(modalities[a], modalities[b], diffs[a, b], 2 * ms_tr / n_j, df_tr, alpha)
              for a, b in pairs),
        tuple(_modality(modalities[i], mean_t[i], ms_r_i[i], ms_r_i[i], n_j, alpha) for i in range(n_t)))
    return ms_t, ms_r, ms_tr, components, random, fixed_readers, fixed_cases


def _modality(label, estimate, den, ms_r, n_j, alpha) -> ModalityEstimate:
    """Single-modality interval: variance den / J on den^2 / (MS(R)^2 / (J - 1)) df (Hillis' df for one
    modality; with fixed cases den = MS(R) and the df is J - 1)."""
    df = _ratio(den**2, ms_r**2 / (n_j - 1)) if ms_r > 0 else math.inf
    se = math.sqrt(den / n_j) if den >= 0 else math.nan
    return ModalityEstimate(label, float(estimate), se, df, _t_interval(float(estimate), se, df, alpha))


def _is_finite_number(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _f_sf(f: float, ndf: int, ddf: float) -> float:
    if math.isnan(f):
        return math.nan
    if math.isinf(ddf):  # scipy's F has no infinite denominator df; F * ndf is then chi-square
        return float(sps.chi2.sf(f * ndf, ndf))
    return float(sps.f.sf(f, ndf, ddf))


def mrmc_analysis(reader, modality, case, truth, score, *, fom: str = "auc", threshold: float | None = None,
                  cov: str = "jackknife", modality_order: Sequence | None = None,
                  alpha: float = 0.05) -> MrmcResult:
    """Obuchowski-Rockette MRMC analysis of a fully crossed reader study.

    Parameters
    ----------
    reader, modality, case : array_like, shape (n,)
        Labels of each score: every reader scores every case once in every modality.
    truth : array_like of bool or 0/1, shape (n,)
        Ground truth of the case (1 = finding present); the same in all of a case's rows.
    score : array_like of float, shape (n,)
        Reader confidence (higher = more likely positive), e.g. a 1-5 rating or a probability.
    fom : {"auc", "sensitivity", "specificity"}
        Figure of merit: the empirical (trapezoidal, Mann-Whitney) AUC, or sensitivity / specificity of the
        call ``score >= threshold``.
    threshold : float, optional
        Required for sensitivity and specificity, refused for the AUC.
    cov : {"jackknife", "delong"}
        Covariance of the FOM estimates over cases. The jackknife leaves out one case at a time (for the AUC
        any case; for sensitivity the positives, for specificity the negatives, as MRMCaov); the leave-one-out
        AUCs come in closed form from the placement values, so its cost is a few rank computations. DeLong
        (AUC only) uses the placement values' covariance (DeLong et al. 1988).
    modality_order : sequence, optional
        The modalities in the order to compare (differences are earlier minus later); default sorted.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    MrmcResult
        FOMs, the covariance matrix, the OR variance components and the three analyses. With the jackknife the
        figures equal MRMCaov's ``mrmc(empirical_auc(truth, rating), treatment, reader, case)`` and RJafroc's
        ``StSignificanceTesting(dataset, FOM = "Wilcoxon", method = "OR")`` (checked in the tests on the
        Van Dyke data). Random readers and cases: F = MS(T) / (MS(T:R) + J max(Cov2 - Cov3, 0)) on t - 1 and
        Hillis' ddf = den^2 / (MS(T:R)^2 / ((t-1)(J-1))); differences use the t distribution with that ddf.

    Raises
    ------
    ValueError
        Unequal lengths, labels with missing values, non-binary truth, non-finite scores, a design that is not
        fully crossed (a reader x modality x case cell empty or repeated), a case with conflicting truth, fewer
        than two modalities or readers, too few positive/negative cases, an unknown ``fom``/``cov``, DeLong
        with a non-AUC FOM, a missing or superfluous threshold.
    """
    if fom not in FOMS:
        raise ValueError(f"fom must be one of {FOMS}, got {fom!r}")
    if cov not in COV_METHODS:
        raise ValueError(f"cov must be one of {COV_METHODS}, got {cov!r}")
    if fom == "auc" and threshold is not None:
        raise ValueError("threshold applies to sensitivity and specificity, not to the AUC")
    if fom != "auc" and not _is_finite_number(threshold):
        raise ValueError(f"{fom} needs a finite threshold (a case is called positive when score >= threshold)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    scores, truth_by_case, readers, modalities = _crossed_scores(reader, modality, case, truth, score,
                                                                 modality_order)
    values, covariance = _fom_and_covariance(truth_by_case, scores, fom, threshold, cov)
    fom_table = values.reshape(len(modalities), len(readers))
    ms_t, ms_r, ms_tr, components, random, fixed_readers, fixed_cases = _or_tests(
        fom_table, covariance, modalities, readers, alpha)
    n_pos = int(truth_by_case.sum())
    return MrmcResult(
        fom_name=fom, cov_method=cov, threshold=None if threshold is None else float(threshold),
        readers=readers, modalities=modalities, n_cases=int(truth_by_case.size), n_positive=n_pos,
        n_negative=int(truth_by_case.size) - n_pos, fom=fom_table, covariance=covariance, ms_t=ms_t, ms_r=ms_r,
        ms_tr=ms_tr, var_components=components, random=random, fixed_readers=fixed_readers,
        fixed_cases=fixed_cases)
