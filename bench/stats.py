"""Reader-study dashboard benchmark: 1,000 cases x 5 levels x 5 findings x 3 readers plus the model.

Inserts a synthetic study into the configured database (SQLite file by default, or DATABASE_URL), then times
the dashboard exactly as the page computes it: studies.selectors.study_data (the database reads) and
studies.dashboard.study_dashboard (every statistic), best of 3. The page's figures (matplotlib) are timed apart.
The last line is JSON: {"seconds": ..., "db_seconds": ..., "stats_seconds": ..., "plots_seconds": ..., ...}.

    .venv/bin/python bench/stats.py [--cases 1000] [--design both --repeat-fraction 0.1] [--keep]
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spineplatform.settings")

GOAL_SECONDS = 2.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    # The size is one arm, no repeats (3 readers + the model); "both" with --repeat-fraction 0.1 adds the
    # aided arm and intra-reader repeats (13 raters).
    parser.add_argument("--design", choices=["unaided", "both"], default="unaided")
    parser.add_argument("--repeat-fraction", type=float, default=0.0)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        # A throwaway SQLite file, so the benchmark never touches var/'s data.
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='spineread-bench-')}/bench.sqlite3"

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        numbers = run(args)
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)
    numbers["database"] = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(json.dumps(numbers))


def run(args) -> dict:
    import numpy as np

    from _stats_world import build_world
    from studies import plots, selectors
    from studies.dashboard import study_dashboard
    from studies.models import ReaderStudy

    t0 = time.perf_counter()
    world = build_world(args, np.random.default_rng(args.seed))
    study, levels, specs, arms = world.study, world.levels, world.specs, world.arms
    insert_seconds = time.perf_counter() - t0

    db_times, stats_times = [], []
    for _ in range(3):
        t = time.perf_counter()
        data = selectors.study_data(ReaderStudy.objects.select_related("project").get(pk=study.pk))
        db_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        dashboard = study_dashboard(data)
        stats_times.append(time.perf_counter() - t)
    totals = [a + b for a, b in zip(db_times, stats_times)]
    best = min(range(3), key=lambda i: totals[i])
    t = time.perf_counter()
    plots.dashboard_figures(dashboard)
    plots_seconds = time.perf_counter() - t
    rows = sum(len(table["rows"]) for table in dashboard["tables"].values())
    seconds = totals[best]
    return {"seconds": round(seconds, 3), "db_seconds": round(db_times[best], 3),
            "stats_seconds": round(stats_times[best], 3), "plots_seconds": round(plots_seconds, 3),
            "goal_seconds": GOAL_SECONDS, "within_goal": seconds < GOAL_SECONDS,
            "cases": args.cases, "levels": len(levels), "findings": len(specs), "readers": args.readers,
            "arms": len(arms), "repeat_fraction": args.repeat_fraction, "raters_with_model": len(data.raters),
            "finding_rows": world.finding_rows, "table_rows": rows, "insert_seconds": round(insert_seconds, 1)}


if __name__ == "__main__":
    main()
