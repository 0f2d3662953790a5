"""``python -m stats.mrmc FILE.csv [--cov jackknife|delong] [--fom ...] [--threshold T] [--json]``.

The CSV is long format with a header naming (in any order, case-insensitive, other columns ignored) reader,
modality, case, truth (1/0) and score. Without ``--json`` a short table; with it one JSON object
(:meth:`stats.mrmc.MrmcResult.as_dict`). Unreadable or invalid input: a message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence

import numpy as np

from stats.mrmc.analysis import COV_METHODS, FOMS, MrmcResult, mrmc_analysis


def read_study_csv(path: str):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.DictReader(handle)
        fields = [f.strip().lower() for f in (rows.fieldnames or [])]
        required = ("reader", "modality", "case", "truth", "score")
        missing = [c for c in required if c not in fields]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; the header must name "
                             f"{', '.join(required)}")
        rows.fieldnames = fields
        columns = {c: [] for c in required}
        for line, row in enumerate(rows, start=2):
            if None in row or any(row[c] is None for c in required):
                raise ValueError(f"{path}, line {line}: expected {len(fields)} fields")
            for c in required:
                columns[c].append(row[c].strip())
    if not columns["reader"]:
        raise ValueError(f"{path}: no data rows")
    for name in ("truth", "score"):
        try:
            columns[name] = np.array([float(v) for v in columns[name]])
        except ValueError as exc:
            raise ValueError(f"{path}: column {name} must be numeric ({exc})") from None
    for name in ("reader", "modality", "case"):
        # Integer ids sort as numbers (reader 10 after reader 9), anything else as text; "007" stays text so that
        # it cannot merge with "7".
        if all(v.lstrip("-").isdigit() and str(int(v)) == v for v in columns[name]):
            columns[name] = [int(v) for v in columns[name]]
    return columns


def _format_table(res: MrmcResult) -> str:
    name = {"auc": "AUC", "sensitivity": "sensitivity", "specificity": "specificity"}[res.fom_name]
    fom_label = name if res.threshold is None else f"{name} at score >= {res.threshold:g}"
    width = max(8, *(len(str(m)) for m in res.modalities))
    rwidth = max(6, *(len(str(r)) for r in res.readers))
    lines = [f"Obuchowski-Rockette MRMC analysis: {fom_label}, {res.cov_method} covariance",
             f"{res.n_cases} cases ({res.n_positive} positive, {res.n_negative} negative), "
             f"{len(res.readers)} readers, {len(res.modalities)} modalities", "",
             "reader".ljust(rwidth) + "".join(f"  {str(m):>{width}}" for m in res.modalities)]
    for j, r in enumerate(res.readers):
        lines.append(str(r).ljust(rwidth) + "".join(f"  {value:>{width}.4f}" for value in res.fom[:, j]))
    lines.append("mean".ljust(rwidth) + "".join(f"  {v:>{width}.4f}" for v in res.fom_mean.values()))
    for test in (res.random, res.fixed_readers, res.fixed_cases):
        if math.isinf(test.ddf):
            stat = f"chi2({test.ndf}) = {test.chi2:.4g}"
        else:
            stat = f"F({test.ndf}, {test.ddf:.2f}) = {test.F:.4g}"
        lines += ["", f"{test.label.capitalize()}: {stat}, p = {test.p_value:.4g}"]
        for d in test.differences:
            lines.append(f"  {d.first} - {d.second}: {d.estimate:+.5f}  SE {d.se:.5f}  "
                         f"95% CI {d.ci[0]:+.5f} to {d.ci[1]:+.5f}  p = {d.p_value:.4g}")
    vc = res.var_components
    lines += ["", "Variance components: " + ", ".join(
        f"{k} {v:.4g}" for k, v in (("Var(R)", vc.var_r), ("Var(TR)", vc.var_tr), ("Cov1", vc.cov1),
                                    ("Cov2", vc.cov2), ("Cov3", vc.cov3), ("Var(error)", vc.var_error)))]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the analysis on ``argv`` (default: the command line); 0 on success, 2 with a message on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m stats.mrmc",
        description="Obuchowski-Rockette MRMC analysis (Hillis df) of a long-format CSV with columns reader, "
                    "modality, case, truth (1/0), score; every reader reads every case in every modality.")
    parser.add_argument("csv", help="CSV file")
    parser.add_argument("--cov", choices=COV_METHODS, default="jackknife")
    parser.add_argument("--fom", choices=FOMS, default="auc")
    parser.add_argument("--threshold", type=float, help="score >= threshold is a positive call (sensitivity, "
                                                        "specificity)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    try:
        columns = read_study_csv(args.csv)
        res = mrmc_analysis(columns["reader"], columns["modality"], columns["case"], columns["truth"],
                            columns["score"], fom=args.fom, threshold=args.threshold, cov=args.cov)
    except (OSError, ValueError, csv.Error) as exc:
        print(f"stats.mrmc: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(res.as_dict()) if args.json else _format_table(res))
    return 0
