"""Rating data shared by the agreement tests: two readers' correlated grades and the herniation scale's order."""
import numpy as np

HERNIATION = ["none", "bulge", "protrusion", "extrusion", "sequestration"]


def correlated_grades(seed, n=400, k=5, noise=0.35):
    """Two readers' ordinal grades 1..k that agree often and disagree mostly by one grade."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, k + 1, n)
    a = np.where(rng.random(n) < noise, np.clip(truth + rng.integers(-2, 3, n), 1, k), truth)
    b = np.where(rng.random(n) < noise, np.clip(truth + rng.integers(-2, 3, n), 1, k), truth)
    return a, b

