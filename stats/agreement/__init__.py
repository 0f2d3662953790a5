"""Inter-reader agreement: Cohen's and Fleiss' kappa, Gwet's AC1/AC2, Krippendorff's alpha, ICC and percent
agreement.

Pure numpy/scipy, no Django: selectors build the label arrays, these functions return small frozen result
records (:class:`stats.results.KappaResult`, :class:`~stats.results.AgreementResult`,
:class:`IccResult`), each with ``value``, ``se``, ``ci`` (95%), ``n`` and a Landis-Koch ``band``.

Labels may be ints, strings ("1".."5", "bulge") or booleans. Ordinal scales (Pfirrmann 1-5, Meyerding 0-4)
keep their order: pass ``categories`` in clinical order (categories absent from the data are kept, which
matters for weighted kappa); without it the sorted unique labels are used. Invalid input raises ValueError
with a message that says what is wrong; a coefficient that is undefined for valid input (one category
only) is NaN, documented per function.

The implementations are vectorised re-derivations, checked in ``tests/stats/agreement/`` against
scikit-learn, statsmodels, krippendorff and pingouin; they avoid those libraries' per-call overhead (pandas
frames, result bunches) because the dashboard computes thousands of coefficients per page.

Modules: ``kappa`` (Cohen, Fleiss, percent agreement), ``gwet`` (AC1/AC2, checked against irrCAC's published
outputs), ``krippendorff`` (alpha), ``icc``; each lists its references.
"""

from stats.agreement.gwet import gwet_ac1, gwet_ac1_raters
from stats.agreement.icc import IccResult, icc
from stats.agreement.kappa import cohen_kappa, fleiss_kappa, percent_agreement
from stats.agreement.krippendorff import krippendorff_alpha
from stats.results import AgreementResult, KappaResult

__all__ = [
    "AgreementResult",
    "IccResult",
    "KappaResult",
    "cohen_kappa",
    "fleiss_kappa",
    "gwet_ac1",
    "gwet_ac1_raters",
    "icc",
    "krippendorff_alpha",
    "percent_agreement",
]
