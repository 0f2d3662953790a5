"""DeLong's variance written out directly, the reference for the fast algorithm in ``stats.accuracy``, and the
correlated scores both AUC test modules use.

Reference: DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44(3):837-845. doi:10.2307/2531595
"""

import numpy as np


def slow_delong(truth, score_rows):
    """DeLong et al. (1988) directly: psi kernel over all positive-negative pairs, O(m n)."""
    truth = np.asarray(truth, bool)
    v10, v01, aucs = [], [], []
    for scores in score_rows:
        x, y = np.asarray(scores)[truth], np.asarray(scores)[~truth]
        psi = np.array([[1.0 if xi > yj else 0.5 if xi == yj else 0.0 for yj in y] for xi in x])
        aucs.append(psi.mean())
        v10.append(psi.mean(1))
        v01.append(psi.mean(0))
    m, n = truth.sum(), (~truth).sum()
    r = len(score_rows)
    s10 = np.array([[np.sum((v10[i] - aucs[i]) * (v10[j] - aucs[j])) / (m - 1) for j in range(r)] for i in range(r)])
    s01 = np.array([[np.sum((v01[i] - aucs[i]) * (v01[j] - aucs[j])) / (n - 1) for j in range(r)] for i in range(r)])
    return np.array(aucs), s10 / m + s01 / n


def model_scores(seed, n=150, ties=False):
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.35
    a = truth * 1.0 + rng.normal(0, 0.9, n)
    b = truth * 0.6 + 0.5 * a + rng.normal(0, 0.8, n)
    if ties:  # reader confidence on a 1-5 scale
        a = np.digitize(a, [-0.5, 0.2, 0.8, 1.4]) + 1.0
        b = np.digitize(b, [-0.5, 0.2, 0.8, 1.4]) + 1.0
    return truth, a, b
