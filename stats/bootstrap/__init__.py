"""Patient (cluster) bootstrap of pooled-disc metrics: sensitivity, specificity, accuracy, PPV, NPV, F1, Cohen's
kappa, Gwet's AC1 and ROC AUC, with percentile intervals that resample whole patients, not rows.

Several discs of one patient are correlated, so resampling rows understates the variance; resampling
clusters with replacement (Field & Welsh 2007) keeps each patient's discs together. The replicates are those of
the percentile cluster bootstrap that draws ``numpy.random.default_rng(seed).integers(0, n_clusters, (n_boot,
n_clusters))`` and evaluates the metric on the drawn patients' rows (the slow reference over any function is
``tests/stats/reference_bootstrap.py``), but they come from per-patient counts: one matrix product for all
replicates instead of one Python call per replicate. The AUC, which needs the scores' order and not just counts,
comes from per-replicate weights on the sorted scores (a few array passes for all replicates).

Pure numpy/scipy, no Django.

References
----------
Field CA, Welsh AH. Bootstrapping clustered data. J R Stat Soc B 2007;69(3):369-390.
doi:10.1111/j.1467-9868.2007.00593.x
Efron B. The Jackknife, the Bootstrap and Other Resampling Plans. SIAM, 1982. doi:10.1137/1.9781611970319
"""
from stats.bootstrap.auc import bootstrap_roc_auc
from stats.bootstrap.resampling import (BootstrapResult, bootstrap_binary_metrics, bootstrap_cohen_kappa,
                                        bootstrap_gwet_ac1, check_bootstrap_args, cluster_codes, cluster_draws,
                                        percentile_result, percentile_results)

__all__ = ["BootstrapResult", "bootstrap_binary_metrics", "bootstrap_cohen_kappa", "bootstrap_gwet_ac1",
           "bootstrap_roc_auc", "check_bootstrap_args", "cluster_codes", "cluster_draws", "percentile_result",
           "percentile_results"]
