"""Obuchowski-Rockette (OR) analysis of a multi-reader multi-case (MRMC) reader study, with Hillis' degrees of
freedom, and the power of a planned study from pilot variance components.

Every reader reads every case in every modality (fully crossed). The figure of merit (FOM) per reader and
modality is the empirical AUC (or sensitivity/specificity at a threshold); the covariances of the FOM estimates
over cases come from the jackknife or, for the AUC, from DeLong's structural components. Three analyses, as
MRMCaov's ``mrmc()`` and RJafroc's ``StSignificanceTesting(method = "OR")`` compute them: random readers and
random cases (the generalisation to new readers and new cases), fixed readers (new cases, these readers) and
fixed cases (new readers, these cases). (iMRMC's U-statistic variance, Gallas 2006, is a different estimator
and is not implemented.)

Pure numpy/scipy, no Django. Modules: ``analysis`` (:func:`mrmc_analysis` and its records), ``power``
(:func:`or_power`, :func:`or_sample_size`), ``cli`` (``python -m stats.mrmc FILE.csv`` on a long-format CSV).

References
----------
Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple readers and multiple tests:
an ANOVA approach with dependent observations. Commun Stat Simul Comput 1995;24(2):285-308.
doi:10.1080/03610919508813243
Hillis SL. A comparison of denominator degrees of freedom methods for multiple observer ROC analysis. Stat Med
2007;26(3):596-619. doi:10.1002/sim.2532
Hillis SL, Berbaum KS, Metz CE. Recent developments in the Dorfman-Berbaum-Metz procedure for multireader ROC
study analysis. Acad Radiol 2008;15:647-661.
Hillis SL, Obuchowski NA, Berbaum KS. Power estimation for multireader ROC methods: an updated and unified
approach. Acad Radiol 2011;18(2):129-142. doi:10.1016/j.acra.2010.09.007
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated receiver operating
characteristic curves: a nonparametric approach. Biometrics 1988;44(3):837-845. doi:10.2307/2531595
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated receiver
operating characteristic curves. IEEE Signal Process Lett 2014;21(11):1389-1393. doi:10.1109/LSP.2014.2337313
"""

from stats.mrmc.analysis import (
    COV_METHODS,
    FOMS,
    Difference,
    ModalityEstimate,
    MrmcResult,
    OrTest,
    VarianceComponents,
    mrmc_analysis,
)
from stats.mrmc.power import ANALYSES, PowerResult, or_power, or_sample_size

__all__ = [
    "ANALYSES",
    "COV_METHODS",
    "FOMS",
    "Difference",
    "ModalityEstimate",
    "MrmcResult",
    "OrTest",
    "PowerResult",
    "VarianceComponents",
    "mrmc_analysis",
    "or_power",
    "or_sample_size",
]
