"""Planning a reader study: cases needed for a kappa interval of a wanted width, and MRMC power from a pilot.

Kappa: the confidence-interval approach of Donner & Eliasziw (1992), as the R package kappaSize (Rotondi)
computes it in ``CIBinary`` / ``FixedNBinary``: under the common-correlation model a case's R ratings are, with
probability kappa, R copies of one Bernoulli(prevalence) draw and otherwise R independent draws, so the number
of positive ratings per case has known probabilities; the sample size is the smallest n at which the
goodness-of-fit chi-square between the anticipated kappa and a limit reaches the chi-square(1) critical value.
Rare findings (HIZ, Schmorl's nodes) need many more cases for the same width: the kappa paradox, in numbers.

MRMC: the number of cases per number of readers for a wanted power, from the variance components of a pilot
analysed with :func:`stats.mrmc.mrmc_analysis` (Hillis, Obuchowski & Berbaum 2011, RJafroc's
``SsPowerTable``).

``python -m stats.planning kappa ...`` and ``python -m stats.planning mrmc PILOT.csv ...`` print a table, or
one JSON object with ``--json``.

References
----------
Donner A, Eliasziw M. A goodness-of-fit approach to inference procedures for the kappa statistic: confidence
interval construction, significance-testing and sample size estimation. Stat Med 1992;11(11):1511-1519.
doi:10.1002/sim.4780111109
Rotondi MA, Donner A. A confidence interval approach to sample size estimation for interobserver agreement
studies with multiple raters and outcomes. J Clin Epidemiol 2012;65(7):778-784.
doi:10.1016/j.jclinepi.2011.10.019
Bloch DA, Kraemer HC. 2 x 2 kappa coefficients: measures of agreement or association. Biometrics
1989;45(1):269-287. doi:10.2307/2531759
Hillis SL, Obuchowski NA, Berbaum KS. Power estimation for multireader ROC methods: an updated and unified
approach. Acad Radiol 2011;18(2):129-142. doi:10.1016/j.acra.2010.09.007
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize
from scipy import stats as sps
from scipy.special import comb

from stats.mrmc import ANALYSES, COV_METHODS, PowerResult, mrmc_analysis, or_sample_size
from stats.mrmc.cli import read_study_csv

MAX_RATERS = 12


@dataclass(frozen=True)
class KappaPlan:
    """Cases for a kappa interval: with ``n_cases`` cases and kappa observed at ``kappa``, the expected
    100(1 - ``alpha``)% limits are ``lower`` (and ``upper``; None for a one-sided interval).

    ``small_cells`` is true when an expected count of cases in some category (0, 1, ... R positive ratings)
    is under five, where the chi-square approximation behind the plan is poor (kappaSize warns likewise).
    """

    n_cases: int
    kappa: float
    lower: float
    upper: float | None
    prevalence: float
    raters: int
    alpha: float
    small_cells: bool
    method: str = "Donner & Eliasziw (1992) goodness-of-fit, common-correlation model (kappaSize CIBinary)"

    def as_dict(self) -> dict:
        return asdict(self)


def rating_count_probabilities(kappa: float, prevalence: float, raters: int) -> np.ndarray:
    """P(k of ``raters`` ratings positive), k = 0..R, under the common-correlation model with ``kappa``.

    With probability kappa the R ratings are copies of one Bernoulli(prevalence) draw, otherwise independent
    Bernoulli(prevalence) draws; for R = 2 this gives P(both negative) = (1-p)^2 + kappa p (1-p),
    P(one) = 2 (1-kappa) p (1-p), P(both positive) = p^2 + kappa p (1-p) (Donner & Eliasziw 1992).
    """
    k = np.arange(raters + 1)
    probs = (1 - kappa) * comb(raters, k) * prevalence**k * (1 - prevalence) ** (raters - k)
    probs[0] += kappa * (1 - prevalence)
    probs[-1] += kappa * prevalence
    return probs


def _chi_square_per_case(kappa: float, limit: float, prevalence: float, raters: int) -> float:
    """Goodness-of-fit chi-square per case between the anticipated kappa and a limit (n times this is X^2)."""
    at_kappa = rating_count_probabilities(kappa, prevalence, raters)
    at_limit = rating_count_probabilities(limit, prevalence, raters)
    return float(((at_kappa - at_limit) ** 2 / at_limit).sum())


def _chi_critical(alpha: float, two_sided: bool) -> float:
    # A one-sided limit at level alpha is one end of a two-sided interval at 2 alpha (kappaSize does the same).
    return float(sps.chi2.ppf(1 - alpha if two_sided else 1 - 2 * alpha, 1))


def _check_kappa_args(kappa, prevalence, raters, alpha) -> None:
    if not (math.isfinite(kappa) and 0 < kappa < 1):
        raise ValueError(f"kappa must be the anticipated kappa, between 0 and 1 (exclusive), got {kappa}")
    if not (math.isfinite(prevalence) and 0 < prevalence < 1):
        raise ValueError(f"prevalence must be between 0 and 1 (exclusive), got {prevalence}")
    if int(raters) != raters or not 2 <= raters <= MAX_RATERS:
        raise ValueError(f"raters must be an integer from 2 to {MAX_RATERS}, got {raters}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be between 0 and 0.5, got {alpha}")


def _small_cells(n: int, kappa: float, prevalence: float, raters: int) -> bool:
    return bool((n * rating_count_probabilities(kappa, prevalence, raters) < 5).any())


def kappa_sample_size(kappa: float, *, lower: float, upper: float | None = None, prevalence: float,
                      raters: int = 2, alpha: float = 0.05) -> KappaPlan:
    """Fewest cases for which the expected confidence interval of kappa lies within ``lower`` .. ``upper``.

    Parameters
    ----------
    kappa : float
        Anticipated kappa (from a pilot or the literature), in (0, 1).
    lower, upper : float
        Wanted expected limits, 0 < lower < kappa < upper < 1; without ``upper`` a one-sided lower limit.
        A target half-width w is ``lower = kappa - w, upper = kappa + w``.
    prevalence : float
        Anticipated proportion of positive ratings (the finding's prevalence).
    raters : int
        Readers rating every case (2 for double reading).
    alpha : float
        1 - confidence level; a one-sided limit uses alpha on its side.

    Returns
    -------
    KappaPlan
        ``n_cases`` = ceil(chi2_crit / X2_per_case), the larger for the two limits, where X2_per_case is the
        goodness-of-fit chi-square per case between the rating-count probabilities at ``kappa`` and at the
        limit (Donner & Eliasziw 1992; Rotondi & Donner 2012 for more raters).

    Raises
    ------
    ValueError
        Values outside their ranges, limits not on either side of ``kappa``.
    """
    _check_kappa_args(kappa, prevalence, raters, alpha)
    if not (math.isfinite(lower) and 0 < lower < kappa):
        raise ValueError(f"lower must be between 0 and kappa ({kappa}), got {lower}")
    if upper is not None and not (math.isfinite(upper) and kappa < upper < 1):
        raise ValueError(f"upper must be between kappa ({kappa}) and 1, got {upper}")
    critical = _chi_critical(alpha, upper is not None)
    limits = [lower] if upper is None else [lower, upper]
    n = max(math.ceil(critical / _chi_square_per_case(kappa, limit, prevalence, raters)) for limit in limits)
    return KappaPlan(n, kappa, lower, upper, prevalence, int(raters), alpha,
                     _small_cells(n, kappa, prevalence, raters))


def kappa_expected_interval(kappa: float, *, n_cases: int, prevalence: float, raters: int = 2,
                            alpha: float = 0.05) -> KappaPlan:
    """The expected two-sided interval of kappa with ``n_cases`` cases (kappaSize ``FixedNBinary``, both ends).

    Each limit solves n X2_per_case(limit) = chi2_crit on its side of ``kappa``; a limit that would pass 0 or
    1 is reported there (the interval is then wider than the data can show).

    Raises
    ------
    ValueError
        As :func:`kappa_sample_size`; ``n_cases`` not an integer >= 2.
    """
    _check_kappa_args(kappa, prevalence, raters, alpha)
    if int(n_cases) != n_cases or n_cases < 2:
        raise ValueError(f"n_cases must be an integer >= 2, got {n_cases}")
    critical = _chi_critical(alpha, True)

    def gap(limit: float) -> float:
        return n_cases * _chi_square_per_case(kappa, limit, prevalence, raters) - critical

    eps = 1e-9
    lower = 0.0 if gap(eps) < 0 else optimize.brentq(gap, eps, kappa - eps, xtol=1e-10)
    upper = 1.0 if gap(1 - eps) < 0 else optimize.brentq(gap, kappa + eps, 1 - eps, xtol=1e-10)
    return KappaPlan(int(n_cases), kappa, float(lower), float(upper), prevalence, int(raters), alpha,
                     _small_cells(int(n_cases), kappa, prevalence, raters))


def mrmc_cases_by_readers(pilot, readers: Sequence[int], *, effect_size: float | None = None,
                          power: float = 0.8, alpha: float = 0.05,
                          analysis: str = "random") -> list[PowerResult]:
    """Cases needed with each number of ``readers`` for ``power``, from a pilot :class:`MrmcResult`.

    ``effect_size`` defaults to the pilot's observed difference of the first two modalities (RJafroc's
    ``SsPowerTable`` does the same). A reader count that cannot reach the power is left out of the list (with
    random readers the reader variance caps the power whatever the number of cases).

    Raises
    ------
    ValueError
        As :func:`stats.mrmc.or_sample_size`, and when no reader count reaches the power.
    """
    effect = pilot.difference if effect_size is None else effect_size
    plans = []
    for n_readers in readers:
        try:
            plans.append(or_sample_size(effect, n_readers, pilot.var_components, pilot.n_cases, power=power,
                                        alpha=alpha, analysis=analysis))
        except ValueError as exc:
            if "do not reach power" not in str(exc):
                raise
    if not plans:
        raise ValueError(f"none of {list(readers)} readers reaches power {power} for an effect of {effect:.4g}; "
                         f"add readers or plan for a larger effect")
    return plans


def _reader_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of reader counts, got {text!r}") from None
    if not counts:
        raise argparse.ArgumentTypeError("expected at least one reader count")
    return counts


def _kappa_command(args) -> dict:
    plans = []
    for raters in args.raters:
        if args.cases is not None:
            plans.append(kappa_expected_interval(args.kappa, n_cases=args.cases, prevalence=args.prevalence,
                                                 raters=raters, alpha=args.alpha))
        else:
            lower = args.kappa - args.half_width if args.lower is None else args.lower
            upper = args.kappa + args.half_width if args.lower is None else args.upper
            plans.append(kappa_sample_size(args.kappa, lower=lower, upper=upper, prevalence=args.prevalence,
                                           raters=raters, alpha=args.alpha))
    return {"kappa": [plan.as_dict() for plan in plans]}


def _mrmc_command(args) -> dict:
    columns = read_study_csv(args.csv)
    pilot = mrmc_analysis(columns["reader"], columns["modality"], columns["case"], columns["truth"],
                          columns["score"], cov=args.cov)
    plans = mrmc_cases_by_readers(pilot, args.readers, effect_size=args.effect, power=args.power,
                                  alpha=args.alpha, analysis=args.analysis)
    return {"pilot": {"n_cases": pilot.n_cases, "readers": len(pilot.readers), "difference": pilot.difference,
                      "var_components": pilot.var_components.as_dict()},
            "mrmc": [asdict(plan) for plan in plans]}


def _format(result: dict) -> str:
    if "kappa" in result:
        lines = ["raters  cases  kappa  expected interval  prevalence"]
        for p in result["kappa"]:
            upper = "" if p["upper"] is None else f" to {p['upper']:.3f}"
            note = "  (an expected cell count < 5: the approximation is poor)" if p["small_cells"] else ""
            lines.append(f"{p['raters']:>6}  {p['n_cases']:>5}  {p['kappa']:.3f}  {p['lower']:.3f}{upper:<9}"
                         f"  {p['prevalence']:.3f}{note}")
        return "\n".join(lines)
    pilot = result["pilot"]
    lines = [f"Pilot: {pilot['n_cases']} cases, {pilot['readers']} readers, observed difference "
             f"{pilot['difference']:+.4f}", "readers  cases  power   effect  analysis"]
    lines += [f"{p['n_readers']:>7}  {p['n_cases']:>5}  {p['power']:.3f}  {p['effect_size']:+.4f}  {p['analysis']}"
              for p in result["mrmc"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a plan from ``argv`` (default: the command line); 0 on success, 2 with a message on stderr."""
    parser = argparse.ArgumentParser(prog="python -m stats.planning", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    kappa = commands.add_parser("kappa", help="cases for a kappa interval, or the interval for a number of cases")
    kappa.add_argument("--kappa", type=float, required=True, help="anticipated kappa")
    kappa.add_argument("--prevalence", type=float, required=True, help="anticipated prevalence of the finding")
    target = kappa.add_mutually_exclusive_group()
    target.add_argument("--half-width", type=float, default=0.1, help="wanted half-width of the interval "
                                                                      "(default 0.1)")
    target.add_argument("--lower", type=float, help="wanted expected lower limit (with --upper, or one-sided)")
    target.add_argument("--cases", type=int, help="report the expected interval for this many cases instead")
    kappa.add_argument("--upper", type=float, help="wanted expected upper limit (with --lower)")
    kappa.add_argument("--raters", type=_reader_counts, default=[2], help="readers per case, e.g. 2,3,4")
    kappa.add_argument("--alpha", type=float, default=0.05)
    kappa.add_argument("--json", action="store_true")
    mrmc = commands.add_parser("mrmc", help="cases per number of readers for a wanted power, from a pilot CSV "
                                            "(columns reader, modality, case, truth, score)")
    mrmc.add_argument("csv")
    mrmc.add_argument("--readers", type=_reader_counts, default=[4, 6, 8, 10])
    mrmc.add_argument("--effect", type=float, help="AUC difference to detect (default: the pilot's)")
    mrmc.add_argument("--power", type=float, default=0.8)
    mrmc.add_argument("--alpha", type=float, default=0.05)
    mrmc.add_argument("--analysis", choices=ANALYSES, default="random")
    mrmc.add_argument("--cov", choices=COV_METHODS, default="jackknife")
    mrmc.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "kappa" and args.upper is not None and args.lower is None:
        parser.error("--upper needs --lower")
    try:
        result = _kappa_command(args) if args.command == "kappa" else _mrmc_command(args)
    except (OSError, ValueError, csv.Error) as exc:
        print(f"stats.planning: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else _format(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
