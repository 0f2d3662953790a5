"""The patient resampling every bootstrap here shares, and the metrics that come from per-patient counts:
sensitivity, specificity, accuracy, PPV, NPV, F1, Cohen's kappa and Gwet's AC1 (see the package docstring)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from threadpoolctl import ThreadpoolController

# Kappa's and AC1's labels and weights have one owner; the bootstrap reuses them rather than a second definition.
from stats.agreement.gwet import check_gwet_weights, gwet_weights
from stats.agreement.kappa import agreement_weights, check_weights, pair_codes
from stats.results import NAN_CI, as_binary, as_label_array, encode_labels

__all__ = ["BootstrapResult", "bootstrap_binary_metrics", "bootstrap_cohen_kappa", "bootstrap_gwet_ac1",
           "check_bootstrap_args", "cluster_codes", "cluster_draws", "percentile_result", "percentile_results"]


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile bootstrap interval. ``value`` is the statistic on the original data; ``se`` the standard deviation
    of the replicates; ``n_valid`` the replicates that gave a finite number (others are dropped)."""

    value: float
    ci: tuple[float, float]
    se: float
    n_boot: int
    n_valid: int
    n_clusters: int
    method: str = "percentile bootstrap, resampling clusters with replacement"
    replicates: np.ndarray = field(default=None, repr=False, compare=False)


# --------------------------------------------------------------------------------------------------------
# The resampling every bootstrap here shares (the reference bootstrap in the tests uses it too)


def check_bootstrap_args(n_boot: int, alpha: float) -> None:
    """Raise ValueError unless ``n_boot >= 1`` and ``0 < alpha < 1``."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def cluster_codes(cluster_ids) -> tuple[np.ndarray, int]:
    """Codes 0..n_clusters-1 in the sorted order of the ids; the order fixes which cluster each draw picks."""
    cluster_ids = as_label_array(cluster_ids, "cluster")
    if cluster_ids.dtype.kind in "iu":
        # Integer ids cannot be missing: skip encode_labels' per-label checks (a dashboard passes 1,000s).
        codes = np.unique(cluster_ids, return_inverse=True)[1]
    else:
        codes, _ = encode_labels(cluster_ids, None, "cluster ids")
    return codes, int(codes.max()) + 1


def cluster_draws(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_clusters) cluster codes drawn with replacement: the one draw every bootstrap here shares."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(n_boot, n_clusters))


def percentile_result(value: float, replicates: np.ndarray, n_clusters: int, alpha: float) -> BootstrapResult:
    """The ``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's linear interpolation) of the finite replicates and
    their standard deviation; NaN if none is finite."""
    return percentile_results(np.concatenate([[value], replicates])[None], [n_clusters], alpha)[0]


def percentile_results(values: np.ndarray, n_clusters, alpha: float) -> list[BootstrapResult]:
    """:func:`percentile_result` of each row of ``values`` (rows, 1 + n_boot): the statistic on the data, then its
    replicates. One sort for all rows instead of a quantile call each (a dashboard makes thousands); the quantiles
    are ``numpy.quantile``'s, computed the same way, so they equal it exactly."""
    values = np.asarray(values, dtype=float)
    replicates = values[:, 1:]
    finite = np.isfinite(replicates)
    count = finite.sum(1)
    ordered = np.sort(np.where(finite, replicates, np.nan), axis=1)  # the finite ones first, in order
    rows = np.arange(values.shape[0])
    bounds = []
    for q in (alpha / 2.0, 1.0 - alpha / 2.0):
        # numpy.quantile's "linear" method: its virtual index, neighbours and lerp, term for term.
        virtual = count * q + (1 + q * (1 - 1 - 1)) - 1
        previous = np.floor(virtual)
        following = previous + 1
        above = virtual >= count - 1
        previous[above], following[above] = count[above] - 1, count[above] - 1
        previous, following = np.maximum(previous, 0).astype(np.intp), np.maximum(following, 0).astype(np.intp)
        gamma = virtual - np.floor(virtual)
        a, b = ordered[rows, previous], ordered[rows, following]
        diff = b - a
        bounds.append(np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma))
    with np.errstate(invalid="ignore", divide="ignore"):
        kept = np.where(finite, replicates, 0.0)
        mean = kept.sum(1) / count
        se = np.sqrt((np.where(finite, replicates - mean[:, None], 0.0) ** 2).sum(1) / (count - 1))
    n_clusters = np.broadcast_to(np.asarray(n_clusters), (values.shape[0],))
    results = []
    for i in range(values.shape[0]):
        ci = NAN_CI if count[i] == 0 else (float(bounds[0][i]), float(bounds[1][i]))
        results.append(BootstrapResult(float(values[i, 0]), ci, float(se[i]) if count[i] > 1 else math.nan,
                                       replicates.shape[1], int(count[i]), int(n_clusters[i]),
                                       replicates=replicates[i]))
    return results


# --------------------------------------------------------------------------------------------------------
# Fast patient bootstrap of pooled-disc metrics, from per-patient counts


@lru_cache(maxsize=4)
def _draw_counts(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_clusters) times each cluster is drawn in each replicate, for the draws of :func:`cluster_draws`.

    Cached (read-only) because a dashboard bootstraps dozens of metrics over the same patients. float32 halves
    the memory that each ``draw_counts @ per_patient_counts`` reads; its sums of counts are exact below 2**24."""
    draws = cluster_draws(n_clusters, n_boot, seed)
    flat = (draws + n_clusters * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n_clusters).reshape(n_boot, n_clusters).astype(np.float32)
    counts.flags.writeable = False
    return counts


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """Made once, on first use: making one scans every loaded library (milliseconds with torch loaded)."""
    return ThreadpoolController()


def _resampled_sums(per_cluster: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Row 0: the column sums of the per-patient counts (n_clusters, m); rows 1..n_boot: each replicate's."""
    draw_counts = _draw_counts(per_cluster.shape[0], n_boot, seed)
    # A replicate's sum is at most n_clusters times the largest count.
    exact = np.float32 if per_cluster.shape[0] * per_cluster.max() < 2**24 else np.float64
    # One BLAS thread: the product takes milliseconds, and idle OpenBLAS threads keep spinning after it, which
    # slowed the rest of the dashboard by more than the bootstrap itself when the cores were busy (bench/stats.py).
    with _blas_controller().limit(limits=1, user_api="blas"):
        replicates = draw_counts.astype(exact, copy=False) @ per_cluster.astype(exact)
    return np.vstack([per_cluster.sum(0), replicates]).astype(float)


def _stacked(x, y, patient, rows, caller: str):
    """The paired labels and the row mask broadcast to (r, n), the (entry, row) positions used, and the cluster
    code of each row's patient."""
    x, y = np.asarray(x), np.asarray(y)
    rows = np.ones((1, 1), bool) if rows is None else np.asarray(rows, bool)
    shapes = (x.shape, y.shape, rows.shape)
    if not all(len(shape) in (1, 2) for shape in shapes):
        raise ValueError(f"{caller} takes arrays of shape (n,) or (r, n), got shapes {shapes}")
    try:
        x, y, rows = np.broadcast_arrays(np.atleast_2d(x), np.atleast_2d(y), np.atleast_2d(rows))
    except ValueError:
        raise ValueError(f"{caller} needs paired rows, got shapes {shapes} that do not match") from None
    patient = np.asarray(patient)
    n = x.shape[1]
    if patient.shape != (n,):
        raise ValueError(f"{caller}: patient must have one id per row ({n}), got shape {patient.shape}")
    entry, row = np.nonzero(rows)
    empty = np.flatnonzero(~rows.any(1))
    if n == 0 or empty.size:
        raise ValueError(f"{caller} got no rows" + (f" for entry {empty[0]}" if n else " (empty input)"))
    codes, _ = cluster_codes(patient)
    return x, y, entry, row, codes


def _resampled_counts(entry, patient_codes, cells, n_entries: int, n_cells: int, n_boot: int, seed: int):
    """Per entry, its cell counts on the data and in each replicate, shape (n_entries, 1 + n_boot, n_cells), and
    its number of patients. Each used row (``entry``, ``patient_codes`` and ``cells`` of shape (m, c)) adds one
    to each of its c cells.

    Each entry resamples the patients it has rows for, with the draws :func:`cluster_draws` makes for that many
    clusters; entries with the same patients share one matrix product."""
    n_patients = int(patient_codes.max()) + 1
    index = ((entry * n_patients + patient_codes)[:, None] * n_cells + cells).ravel()
    per_patient = np.bincount(index, minlength=n_entries * n_patients * n_cells).reshape(n_entries, n_patients,
                                                                                          n_cells)
    present = per_patient.any(2)
    counts = np.empty((n_entries, 1 + n_boot, n_cells))
    groups: dict[bytes, list] = {}
    for e, key in enumerate(np.packbits(present, axis=1)):
        groups.setdefault(key.tobytes(), []).append(e)
    for members in groups.values():
        patients = present[members[0]]
        block = per_patient[members][:, patients].transpose(1, 0, 2).reshape(int(patients.sum()), -1)
        sums = _resampled_sums(block, n_boot, seed)
        counts[members] = sums.reshape(1 + n_boot, len(members), n_cells).transpose(1, 0, 2)
    return counts, present.sum(1)


def bootstrap_binary_metrics(
    truth, pred, patient, rows=None, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> dict[str, BootstrapResult] | list[dict[str, BootstrapResult]]:
    """Patient-bootstrap intervals of sensitivity, specificity, accuracy, PPV, NPV and F1 over pooled disc levels.

    The replicates are those of the percentile cluster bootstrap (module docstring) with the same ``seed``,
    patients as clusters and the metric of :func:`stats.accuracy.binary_metrics` on the drawn rows, so the interval
    is the same, exactly; but they come from per-patient
    TP/FN/FP/TN counts: a replicate's counts are the times each patient is drawn times its counts, one matrix
    product for all replicates (and all stacked readers) instead of one Python call per replicate.

    Parameters
    ----------
    truth, pred : array_like of bool or 0/1, shape (n,) or (r, n)
        Ground truth and the reader's (or model's) call, one row per disc level; a stack of r readers
        (broadcast, so one truth row serves them all) is resampled in one go.
    patient : array_like, shape (n,)
        Patient id of each row; a patient's rows are resampled together.
    rows : array_like of bool, shape (n,) or (r, n), optional
        The rows each entry uses (e.g. where the reader gave a value); others are ignored, values included.
        An entry resamples the patients it has rows for, as the cluster bootstrap on those rows would.
    n_boot : int
        Number of bootstrap replicates.
    seed : int
        Seed for ``numpy.random.default_rng``; the same seed gives the same interval.
    alpha : float
        1 - confidence level; ``ci`` holds the ``alpha/2`` and ``1 - alpha/2`` quantiles of the finite
        replicates.

    Returns
    -------
    dict of str to BootstrapResult, or a list of r of them for stacked input
        Keys ``sensitivity``, ``specificity``, ``accuracy``, ``ppv``, ``npv``, ``f1`` (``2 tp / (2 tp + fp + fn)``);
        ``value`` is the metric on the data. Replicates with a zero denominator (no positive discs drawn) are NaN
        and dropped.

    Raises
    ------
    ValueError
        No rows (for an entry), shapes that do not pair, non-binary or missing values in the rows used, missing
        patient ids, ``n_boot < 1``, ``alpha`` outside (0, 1).
    """
    check_bootstrap_args(n_boot, alpha)
    t, p, entry, row, codes = _stacked(truth, pred, patient, rows, "bootstrap_binary_metrics")
    t_used = as_binary(t[entry, row], "truth").astype(np.intp)
    p_used = as_binary(p[entry, row], "pred").astype(np.intp)
    counts, n_clusters = _resampled_counts(entry, codes[row], (2 * t_used + p_used)[:, None], t.shape[0], 4,
                                           n_boot, seed)
    tn, fp, fn, tp = counts.transpose(2, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        metrics = {"sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp),
                   "accuracy": (tp + tn) / (tp + tn + fp + fn), "ppv": tp / (tp + fp), "npv": tn / (tn + fn),
                   "f1": 2 * tp / (2 * tp + fp + fn)}
    by_metric = {name: percentile_results(values, n_clusters, alpha) for name, values in metrics.items()}
    results = [{name: by_metric[name][e] for name in metrics} for e in range(t.shape[0])]
    return results if _is_stack(truth, pred, rows) else results[0]


def bootstrap_cohen_kappa(
    a, b, patient, weights: str | None = None, categories: Sequence | None = None, rows=None, n_boot: int = 2000,
    seed: int = 0, alpha: float = 0.05
) -> BootstrapResult | list[BootstrapResult]:
    """Patient-bootstrap interval of Cohen's kappa (a rater against ground truth, or two raters) over pooled discs.

    Kappa is :func:`stats.agreement.cohen_kappa` (same weights, categories, and NaN when one category holds
    every rating), computed per replicate from the drawn patients' summed counts (agreements by distance between
    the two labels, and each rater's margins). The replicates are those of the percentile cluster bootstrap
    (module docstring) with the same ``seed``, patients as clusters and ``cohen_kappa(...).kappa`` on the drawn
    rows, equal up to floating-point rounding (about 1e-15).

    Parameters
    ----------
    a, b : array_like, shape (n,) or (r, n)
        One label per disc level from each rater (or the truth); a stack of r pairs is resampled in one go.
    patient : array_like, shape (n,)
        Patient id of each row.
    weights, categories
        As for :func:`stats.agreement.cohen_kappa`.
    rows, n_boot, seed, alpha
        As for :func:`bootstrap_binary_metrics`.

    Returns
    -------
    BootstrapResult, or a list of r of them for stacked input
        NaN replicates (one category only in the drawn patients) are dropped and counted in ``n_valid``.

    Raises
    ------
    ValueError
        As :func:`stats.agreement.cohen_kappa` for the rows used, plus no rows (for an entry), shapes that do
        not pair, missing patient ids, ``n_boot < 1``, ``alpha`` outside (0, 1).
    """
    check_bootstrap_args(n_boot, alpha)
    check_weights(weights)
    return _pair_bootstrap(lambda counts, k: _kappa_of_counts(counts, agreement_weights(k, weights)), a, b, patient,
                           categories, rows, n_boot, seed, alpha, "bootstrap_cohen_kappa")


def bootstrap_gwet_ac1(
    a, b, patient, weights: str | None = None, categories: Sequence | None = None, rows=None, n_boot: int = 2000,
    seed: int = 0, alpha: float = 0.05
) -> BootstrapResult | list[BootstrapResult]:
    """Patient-bootstrap interval of Gwet's AC1/AC2 (two raters, or a rater against the truth) over pooled discs.

    AC1 is :func:`stats.agreement.gwet_ac1` (same weights and categories), computed per replicate from the same
    per-patient counts as :func:`bootstrap_cohen_kappa` (AC1's chance agreement needs only the two raters'
    margins), so it costs what the kappa bootstrap costs. The replicates equal those of the percentile cluster
    bootstrap with ``gwet_ac1(...).value`` on the drawn rows, up to floating-point rounding.

    Parameters
    ----------
    a, b, patient, categories, rows, n_boot, seed, alpha
        As for :func:`bootstrap_cohen_kappa`.
    weights : {None, "linear", "quadratic", "ordinal"}
        As for :func:`stats.agreement.gwet_ac1`.

    Returns
    -------
    BootstrapResult, or a list of r of them for stacked input
        With a single category AC1 is NaN throughout (``n_valid`` 0); pass ``categories`` with the full scale.

    Raises
    ------
    ValueError
        As :func:`bootstrap_cohen_kappa`, with the weights of :func:`stats.agreement.gwet_ac1`.
    """
    check_bootstrap_args(n_boot, alpha)
    check_gwet_weights(weights)
    return _pair_bootstrap(lambda counts, k: _ac1_of_counts(counts, gwet_weights(k, weights)), a, b, patient,
                           categories, rows, n_boot, seed, alpha, "bootstrap_gwet_ac1")


def _pair_bootstrap(statistic, a, b, patient, categories, rows, n_boot: int, seed: int, alpha: float, caller: str):
    """Percentile results of ``statistic(counts, k)`` (per entry: the data, then each replicate) on the pair
    counts of :func:`_pair_counts`; a list for stacked input."""
    counts, n_clusters, k = _pair_counts(a, b, patient, categories, rows, n_boot, seed, caller)
    values = statistic(counts, k)
    results = percentile_results(values, n_clusters, alpha)
    return results if _is_stack(a, b, rows) else results[0]


def _pair_counts(a, b, patient, categories, rows, n_boot: int, seed: int, caller: str):
    """Resampled counts (entries, 1 + n_boot, 3k) of two raters' labels, the entries' patient numbers, and k.

    Sufficient for kappa and AC1, and 3k columns to resample instead of a k x k table's k**2: the agreements by
    distance |i - j| (all the agreement weights here depend on nothing else) and the two raters' margins."""
    x, y, entry, row, codes = _stacked(a, b, patient, rows, caller)
    code_x, code_y, cats = pair_codes(x[entry, row], y[entry, row], categories, caller)
    k = len(cats)
    cells = np.stack([np.abs(code_x - code_y), k + code_x, 2 * k + code_y], axis=1)
    counts, n_clusters = _resampled_counts(entry, codes[row], cells, x.shape[0], 3 * k, n_boot, seed)
    return counts, n_clusters, k


def _is_stack(*arrays) -> bool:
    return any(np.ndim(x) == 2 for x in arrays if x is not None)


def _kappa_of_counts(counts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cohen's kappa from counts (..., 3k): agreements by distance, then margins (see bootstrap_cohen_kappa);
    ``stats.agreement``'s po and pe, on counts."""
    k = w.shape[0]
    by_distance, margin_a, margin_b = counts[..., :k], counts[..., k : 2 * k], counts[..., 2 * k :]
    nobs = margin_a.sum(-1)
    # einsum, not matmul: for these thin products BLAS's thread start-up costs more than the arithmetic.
    po = np.einsum("...d,d->...", by_distance, w[0]) / nobs
    pe = (np.einsum("...i,ij->...j", margin_a, w) * margin_b).sum(-1) / nobs**2
    # Expected agreement exactly 1 (both raters used one and the same category throughout): undefined, as in
    # cohen_kappa.
    undefined = (by_distance[..., 0] == nobs) & (margin_a.max(-1) == nobs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(undefined, np.nan, (po - pe) / (1.0 - pe))


def _ac1_of_counts(counts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gwet's AC1/AC2 from counts (..., 3k) laid out as for :func:`_kappa_of_counts`; ``stats.agreement.gwet``'s
    pa and pe, on counts. NaN with a single category, as in gwet_ac1."""
    k = w.shape[0]
    if k == 1:
        return np.full(counts.shape[:-1], np.nan)
    by_distance, margin_a, margin_b = counts[..., :k], counts[..., k : 2 * k], counts[..., 2 * k :]
    nobs = margin_a.sum(-1)
    pa = np.einsum("...d,d->...", by_distance, w[0]) / nobs
    pi = (margin_a + margin_b) / (2.0 * nobs[..., None])
    pe = float(w.sum()) / (k * (k - 1.0)) * (pi * (1.0 - pi)).sum(-1)
    return (pa - pe) / (1.0 - pe)
