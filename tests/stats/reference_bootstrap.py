"""The reference implementation of the patient bootstrap: the generic, slow percentile cluster bootstrap over any
function, one Python call per replicate.

``stats.bootstrap``'s fast bootstraps compute the same replicates from per-patient counts; ``test_bootstrap.py``
checks them against this, replicate by replicate. It shares their resampling (``stats.bootstrap.cluster_draws``,
whose draws ``test_bootstrap_equals_hand_resampling_of_patient_means`` pins) and their percentile summary, and
nothing else.

Reference: Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69(3):369-390.
doi:10.1111/j.1467-9868.2007.00593.x
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stats.bootstrap import BootstrapResult, check_bootstrap_args, cluster_codes, cluster_draws, percentile_result


def bootstrap_ci(
    fn: Callable,
    data,
    cluster=None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapResult:
    """Percentile bootstrap confidence interval that resamples whole patients, not rows.

    Several discs of one patient are correlated, so resampling rows understates the variance; resampling
    clusters with replacement (Field & Welsh 2007) keeps each patient's discs together.

    Parameters
    ----------
    fn : callable
        ``fn(sample) -> float`` where ``sample`` has the type of ``data`` (dict of arrays or DataFrame).
    data : dict of array_like, or pandas.DataFrame
        Equal-length columns, one row per observation (e.g. per disc level and reader).
    cluster : str or array_like, optional
        Column name in ``data`` or an array of cluster ids (patient ids), one per row. None: every row is
        its own cluster (the ordinary bootstrap).
    n_boot : int
        Number of bootstrap replicates.
    seed : int
        Seed for ``numpy.random.default_rng``; the same seed gives the same interval.
    alpha : float
        1 - confidence level.

    Returns
    -------
    BootstrapResult
        ``ci`` = the ``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's linear interpolation) of the
        finite replicates; NaN if none is finite. A resampled patient drawn twice appears twice with the same
        id, so ``fn`` should not group by the cluster id.

    Raises
    ------
    ValueError
        Unsupported ``data`` type, unequal column lengths, no rows, a cluster column/array that does not
        fit, missing cluster ids, ``n_boot < 1`` or ``alpha`` outside (0, 1).
    """
    check_bootstrap_args(n_boot, alpha)
    n, take, column = _table(data)
    codes, n_clusters = cluster_codes(_cluster_ids(cluster, column, n))
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=n_clusters)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    value = float(fn(data))
    draws = cluster_draws(n_clusters, n_boot, seed)
    replicates = np.empty(n_boot)
    for i in range(n_boot):
        chosen = draws[i]
        chosen_sizes = sizes[chosen]
        total = int(chosen_sizes.sum())
        # Row positions of the chosen clusters, concatenated: start of each cluster + 0..size-1.
        offsets = np.arange(total) - np.repeat(np.cumsum(chosen_sizes) - chosen_sizes, chosen_sizes)
        rows = order[np.repeat(starts[chosen], chosen_sizes) + offsets]
        replicates[i] = fn(take(rows))
    return percentile_result(value, replicates, n_clusters, alpha)


def _table(data):
    """The number of rows of ``data``, a function that takes rows of it, and one that returns a named column."""
    if isinstance(data, dict):
        columns = {key: np.asarray(values) for key, values in data.items()}
        lengths = {key: col.shape[0] if col.ndim else -1 for key, col in columns.items()}
        if not columns:
            raise ValueError("data has no columns")
        if len(set(lengths.values())) != 1 or -1 in lengths.values():
            raise ValueError(f"data columns must be arrays of equal length, got lengths {lengths}")
        n = next(iter(lengths.values()))

        def take(rows: np.ndarray):
            return {key: col[rows] for key, col in columns.items()}

        def column(name: str):
            return columns.get(name)

    elif hasattr(data, "iloc") and hasattr(data, "columns"):
        n = len(data)

        def take(rows: np.ndarray):
            return data.iloc[rows]

        def column(name: str):
            return data[name].to_numpy() if name in data.columns else None

    else:
        raise ValueError(f"data must be a dict of arrays or a pandas DataFrame, got {type(data).__name__}")
    if n == 0:
        raise ValueError("bootstrap_ci got no rows (empty data)")
    return n, take, column


def _cluster_ids(cluster, column, n: int) -> np.ndarray:
    if cluster is None:
        return np.arange(n)
    if isinstance(cluster, str):
        ids = column(cluster)
        if ids is None:
            raise ValueError(f"cluster column {cluster!r} is not in data")
        return ids
    ids = np.asarray(cluster)
    if ids.ndim != 1 or ids.shape[0] != n:
        raise ValueError(f"cluster must have one id per row ({n}), got shape {ids.shape}")
    return ids
