"""The reader-study dashboard: arrays in, result tables out. Pure numpy, no Django.

``studies.selectors.study_data`` builds a :class:`StudyData` from the database; :func:`study_dashboard` runs
every statistic through the core modules (``stats.agreement``, ``stats.accuracy``, ``stats.comparisons``,
``stats.bootstrap``, ``stats.detection``) and returns plain dicts (JSON-ready: NaN becomes None), so the page, the
API, the report and the CSVs show the same numbers. One module per family of tables: ``agreement_tables``,
``accuracy_tables``, ``comparison_tables``, ``mrmc_tables``, ``reading_tables``, ``detection_tables``; ``cells``
holds how they cut the data into units and write numbers, ``data`` the input.

Units of analysis ("scope"):
- ``disc``: one disc level of one case; ``level`` is a level name or "all" (every level pooled);
- ``patient``: one case, its worst value over the levels (the highest grade, "present" at any level);
- ``slice``: one image, for boxes (detection metrics, fROC), matched at the project's ``box_iou_threshold``.

Disc rows also carry 95% CIs from a bootstrap that resamples patients (``*boot_ci*``): accuracy rows pooled and
per level, agreement rows pooled, because the discs of one patient are not independent (nor, at one level, a
patient's follow-up cases); the per-row Wilson and analytic intervals assume they are.

The model is one more reader (arm "model"): it has no reading time and no arms, its values come from its
findings of the pinned version, and its scores feed ROC AUC and fROC. Readers have no confidence scores; their
AUC uses their grade as an ordinal score (for a binary finding that is the single operating point).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from studies.dashboard.accuracy_tables import accuracy_boots, accuracy_tables
from studies.dashboard.agreement_tables import agreement_tables
from studies.dashboard.comparison_tables import aided_tables, reader_vs_model_table
from studies.dashboard.data import ALL_LEVELS, MODEL_ARM, FindingData, Rater, StudyData
from studies.dashboard.detection_tables import detection_tables
from studies.dashboard.mrmc_tables import mrmc_table
from studies.dashboard.reading_tables import review_table, time_tables

__all__ = ["ALL_LEVELS", "MODEL_ARM", "FindingData", "Rater", "StudyData", "TABLES", "study_dashboard"]

# Threads for the accuracy rows' bootstraps, beside the one that computes the rest.
BOOTSTRAP_THREADS = 2

TABLES = {
    "inter_reader": "Inter-reader agreement (Cohen per pair, quadratic-weighted for ordinal grades, with Gwet's AC1 "
                    "(AC2, quadratic weights, for ordinal grades) and its CI beside it; Fleiss, Gwet and "
                    "Krippendorff for all readers of an arm; the model as one more reader; boot_ci: Cohen's "
                    "95% CI (patient bootstrap), all discs pooled)",
    "intra_reader": "Intra-reader agreement (first reading against the repeat after washout; boot_ci: 95% CI "
                    "(patient bootstrap), all discs pooled)",
    "accuracy": "Each reader and the model against ground truth (Wilson CIs; AUC with DeLong CI; Gwet's AC1/AC2 "
                "beside kappa; *_boot_ci: 95% CI (patient bootstrap) on every disc row, pooled and per level, "
                "for sensitivity, specificity, PPV, NPV, F1, accuracy, kappa and AUC)",
    "reader_vs_model": "Reader versus model on the same units (McNemar on correctness; DeLong on AUC)",
    "aided_vs_unaided": "Aided versus unaided, per reader (McNemar on correctness)",
    "mrmc": "MRMC: Obuchowski-Rockette with Hillis' df, jackknife covariance, empirical AUC (grades as scores); "
            "random readers and cases (F, ddf, p, CI of difference a - b), fixed readers and fixed cases p; "
            "units every reader rated in both modalities",
    "reading_time": "Reading time per case (active seconds)",
    "reading_time_paired": "Reading time, unaided minus aided, per reader (paired t-test and Wilcoxon)",
    "model_review": "What readers did with the model's pre-annotations (aided arm)",
    "per_class": "Per-class precision, recall, F1 and specificity (all discs)",
    "confusion": "Confusion matrices against ground truth (all discs), long format",
    "detection": "Box detection per image at IoU {iou_threshold:.2f}, the project's threshold (slice level; ap: the "
                 "model's average precision at that IoU)",
}


def study_dashboard(data: StudyData) -> dict:
    """Every statistic of the study: ``{"study", "tables": {name: {"title", "columns", "rows"}}, "figures"}``.

    Every row carries its ``n`` (units, cases or images behind the number)."""
    tables = {name: {"title": title.format(iou_threshold=data.iou_threshold), "rows": []}
              for name, title in TABLES.items()}
    figures = {"confusion": [], "roc": {}, "froc": None}
    # The accuracy rows' bootstraps run on threads while this one computes the other tables (1.8 s to 1.5 s for
    # 1,000 cases on 2 cores, bench/stats.py), the accuracy table last, as it waits for them; each table's rows
    # are written in the same order either way.
    with ThreadPoolExecutor(max_workers=BOOTSTRAP_THREADS) as executor:
        boots = accuracy_boots(data, executor)
        agreement_tables(data, tables)
        reader_vs_model_table(data, tables)
        aided_tables(data, tables)
        mrmc_table(data, tables)
        time_tables(data, tables)
        review_table(data, tables)
        detection_tables(data, tables, figures)
        accuracy_tables(data, tables, figures, boots)
    for table in tables.values():
        table["columns"] = list(table["rows"][0]) if table["rows"] else []
    figures["roc"] = list(figures["roc"].values())
    raters = [{"key": r.key, "name": r.name, "kind": r.kind, "arm": r.arm, "repetition": r.repetition,
               "years_experience": r.years_experience} for r in data.raters]
    return {"study": data.study, "raters": raters, "levels": list(data.levels),
            "findings": {name: {"label": f.label, "values": list(f.values), "scale": f.scale,
                                "positive_from": f.values[f.positive_from]} for name, f in data.findings.items()},
            "n_cases": int(len(data.case_ids)), "tables": tables, "figures": figures}
