"""Patient-bootstrap ROC AUC (see the package docstring): from per-patient counts by score level for grades, from
per-replicate weights on the sorted scores for a model's continuous scores."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from stats.accuracy import scores_for
from stats.bootstrap.resampling import (BootstrapResult, _draw_counts, _is_stack, _resampled_counts, _stacked,
                                        check_bootstrap_args, cluster_codes, percentile_result, percentile_results)

__all__ = ["bootstrap_roc_auc"]


@lru_cache(maxsize=4)
def _patient_weights(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_clusters, 1 + n_boot): column 0 all ones (the data), then :func:`_draw_counts`, a patient a row. int16
    where it fits (no patient is drawn more than n_clusters times): the AUC's gathers move half the bytes."""
    weights = np.ones((n_clusters, 1 + n_boot), np.int16 if n_clusters < 2**15 else np.int32)
    weights[:, 1:] = _draw_counts(n_clusters, n_boot, seed).T
    weights.flags.writeable = False
    return weights


# --------------------------------------------------------------------------------------------------------
# ROC AUC: a replicate's Mann-Whitney count needs the scores' order, not just counts. With few score levels (a
# reader's grades) the per-patient counts by level suffice, resampled like the other metrics' counts; with many (a
# model's scores) each replicate weights the negatives by their patients' draws and sums them below each positive.

# At most this many score levels go through the per-patient counts (2 columns a level in one matrix product).
_AUC_LEVELS = 64
# Rows x replicates handled at once on the many-levels path: bounds its integer temporaries (~48 MB each), and
# keeps 5,000 discs x 2,000 replicates in one pass.
_AUC_CHUNK = 12_000_000


def bootstrap_roc_auc(truth, scores, patient, rows=None, n_boot: int = 2000, seed: int = 0,
                      alpha: float = 0.05) -> BootstrapResult | list[BootstrapResult]:
    """Patient-bootstrap interval of the ROC AUC (the model's scores, or a reader's confidence grades).

    The AUC is :func:`stats.accuracy.roc_auc`'s (Mann-Whitney, a tie counts 1/2). The replicates are those of the
    percentile cluster bootstrap (module docstring) with the same ``seed``, patients as clusters and
    ``roc_auc(...).value`` on the drawn rows, equal up to floating-point rounding; a replicate that draws no
    positive (or no negative) disc is NaN and dropped, where ``roc_auc`` would raise.

    Parameters
    ----------
    truth : array_like of bool or 0/1, shape (n,) or (r, n)
    scores : array_like of float, shape (n,) or (r, n)
        Higher means more likely positive; a stack of r raters (broadcast with the truth) is resampled in one go.
    patient : array_like, shape (n,)
        Patient id of each row.
    rows, n_boot, seed, alpha
        As for :func:`bootstrap_binary_metrics`.

    Returns
    -------
    BootstrapResult, or a list of r of them for stacked input

    Raises
    ------
    ValueError
        As :func:`stats.accuracy.roc_auc` for the rows an entry uses (non-binary truth, one class only,
        non-finite scores), plus no rows, shapes that do not pair, a patient array that does not fit, missing
        patient ids, ``n_boot < 1``, ``alpha`` outside (0, 1).

    Notes
    -----
    Entries with up to 64 distinct scores (grades) share one small matrix product, as the other metrics do;
    an entry with more (a model's scores) costs a few passes over its rows for all replicates: about 4 ms for
    1,000 discs and 35 ms for 5,000 (2,000 replicates, one core).
    """
    check_bootstrap_args(n_boot, alpha)
    t, s, entry, row, codes = _stacked(truth, scores, patient, rows, "bootstrap_roc_auc")
    patient = np.asarray(patient)
    results: list = [None] * t.shape[0]
    few_entry, few_row, few_cells, few_k = [], [], [], 1
    for e in range(t.shape[0]):
        used = row[entry == e]
        t_e, s_e = scores_for(t[e, used], [s[e, used]], ["scores"])
        levels, level = np.unique(s_e[0], return_inverse=True)
        if levels.size <= _AUC_LEVELS:
            few_entry.append(np.full(used.size, len(few_row)))
            few_row.append(used)
            few_cells.append((level, t_e))
            few_k = max(few_k, levels.size)
        else:
            e_codes, n_clusters = cluster_codes(patient[used])
            auc = _auc_many_levels(t_e, s_e[0], e_codes, n_clusters, n_boot, seed)
            results[e] = percentile_result(auc[0], auc[1:], n_clusters, alpha)
    if few_row:
        # One level code per entry's own scores, in ascending order; columns above an entry's levels stay empty.
        cells = np.concatenate([level + few_k * t_e for level, t_e in few_cells])
        counts, n_clusters = _resampled_counts(np.concatenate(few_entry), codes[np.concatenate(few_row)],
                                               cells[:, None], len(few_row), 2 * few_k, n_boot, seed)
        auc = _auc_of_level_counts(counts[..., :few_k], counts[..., few_k:])
        few = [e for e in range(t.shape[0]) if results[e] is None]
        for e, result in zip(few, percentile_results(auc, n_clusters, alpha)):
            results[e] = result
    return results if _is_stack(truth, scores, rows) else results[0]


def _auc_of_level_counts(negatives: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per row from counts (..., levels) of negatives and positives by ascending score level; NaN
    without both classes. A positive beats the negatives at lower levels and ties those at its own."""
    below = np.cumsum(negatives, axis=-1) - negatives
    wins = (positives * (below + 0.5 * negatives)).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return wins / (positives.sum(-1) * negatives.sum(-1))


def _auc_many_levels(truth: np.ndarray, scores: np.ndarray, codes: np.ndarray, n_clusters: int, n_boot: int,
                     seed: int) -> np.ndarray:
    """The AUC on the data, then per replicate: each row weighs what its patient is drawn in that replicate.

    A positive's wins are the negatives' weight below its score plus half that at its score: two look-ups in
    the cumulative weight of the negatives sorted by score, needed only where a positive looks. The weights are
    laid out a patient a row (:func:`_patient_weights`), so each step adds whole contiguous rows, all replicates
    at once; numpy's own cumsum over either axis of that table was 5-10x slower. Integer arithmetic is exact."""
    weights = _patient_weights(n_clusters, n_boot, seed)
    negative = ~truth
    order = np.argsort(scores[negative], kind="stable")
    neg_scores, neg_patient = scores[negative][order], codes[negative][order]
    pos_patient = codes[truth]
    most = max(1, int(weights.max()))
    exact = np.int32 if 2 * neg_patient.size * most * most < 2**31 else np.int64  # the sums; weights stay small
    # cum(j), the weight of the j lowest negatives, at each j where a positive looks: a positive's twice-wins
    # are cum(below its score) + cum(up to its score).
    looks = np.concatenate([np.searchsorted(neg_scores, scores[truth], side) for side in ("left", "right")])
    at, where = np.unique(looks, return_inverse=True)
    chunk = max(1, _AUC_CHUNK // max(1, neg_patient.size))
    wins, pairs = np.empty(weights.shape[1]), np.empty(weights.shape[1])
    for first in range(0, weights.shape[1], chunk):
        block = weights[:, first : first + chunk]
        ordered, positives = block[neg_patient], block[pos_patient]
        cum = np.zeros((at.size + 1, block.shape[1]), exact)  # row 0: nothing below the lowest look
        done = 0
        for j, upto in enumerate(at.tolist(), 1):
            step = ordered[done] if upto == done + 1 else ordered[done:upto].sum(0, dtype=exact)
            np.add(cum[j - 1], step, out=cum[j])
            done = upto
        cum = cum[1:]
        # Positive-negative pairs drawn, from the same rows (numpy's integer matmul is not BLAS: 4x slower).
        pairs[first : first + chunk] = (positives.sum(0, dtype=np.int64).astype(float)
                                        * ordered.sum(0, dtype=np.int64).astype(float))
        twice_wins = cum[where[: pos_patient.size]]
        twice_wins += cum[where[pos_patient.size :]]
        twice_wins *= positives
        wins[first : first + chunk] = twice_wins.sum(0, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return wins / (2.0 * pairs)
