"""The statistics package imports no Django: run in a fresh interpreter, since the test process has Django loaded."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("stats", "stats.results", "stats.agreement", "stats.accuracy", "stats.comparisons", "stats.bootstrap",
           "stats.detection")


def test_stats_imports_no_django():
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')))\n"
    )
    # No DJANGO_SETTINGS_MODULE either: a module that touched settings would fail here.
    env = {"PATH": "", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_target_names_are_importable():
    from stats.accuracy import AucResult, BinaryMetrics, MulticlassMetrics, binary_metrics, multiclass_metrics, roc_auc
    from stats.agreement import IccResult, cohen_kappa, fleiss_kappa, icc, krippendorff_alpha, percent_agreement
    from stats.bootstrap import BootstrapResult, bootstrap_binary_metrics, bootstrap_cohen_kappa
    from stats.comparisons import DelongResult, McNemarResult, PairedTimesResult, delong_test, mcnemar, paired_times
    from stats.detection import (
        COCO_IOU_THRESHOLDS,
        FROC_FP_RATES,
        PRF,
        DetectionPRF,
        FrocResult,
        MeanAPResult,
        average_precision,
        detection_prf,
        froc,
        mean_ap,
    )
    from stats.results import AgreementResult, KappaResult, Proportion, landis_koch_band, wilson_ci

    assert all(callable(f) for f in (binary_metrics, multiclass_metrics, roc_auc, cohen_kappa, fleiss_kappa, icc,
                                     krippendorff_alpha, percent_agreement, bootstrap_binary_metrics,
                                     bootstrap_cohen_kappa, delong_test, mcnemar, paired_times, average_precision,
                                     detection_prf, froc, mean_ap, landis_koch_band, wilson_ci))
    assert all(isinstance(c, type) for c in (AucResult, BinaryMetrics, MulticlassMetrics, IccResult, BootstrapResult,
                                             DelongResult, McNemarResult, PairedTimesResult, PRF, DetectionPRF,
                                             FrocResult, MeanAPResult, AgreementResult, KappaResult, Proportion))
    assert len(COCO_IOU_THRESHOLDS) == 10 and FROC_FP_RATES[0] == 0.125
