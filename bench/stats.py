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
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from annotation import services
    from annotation.models import Case, Finding, GroundTruthItem, Read, ReviewAction, Role, Source
    from annotation.schema import finding_specs
    from studies import plots, selectors
    from studies.dashboard import study_dashboard
    from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession, session_context

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    services.roles_ensure()
    project = services.project_create(slug="bench", name="Bench")
    schema = project.label_schema
    specs = finding_specs(schema)
    levels = schema["levels"]
    users = []
    for i in range(args.readers):
        user = get_user_model().objects.create(username=f"bench_reader{i}")
        user.groups.add(Group.objects.get(name=Role.READER))
        users.append(user)
    cases = Case.objects.bulk_create([
        Case(project=project, patient_key=f"{i:032x}", study_instance_uid=f"2.25.{i}", status="ground_truth",
             split="study") for i in range(args.cases)])
    arms = ["unaided"] if args.design == "unaided" else ["unaided", "aided"]
    study = ReaderStudy.objects.create(project=project, name="bench", design=args.design, model_version="bench-v1",
                                       washout_days=0, repeat_fraction=args.repeat_fraction)
    repeat = set(rng.choice(len(cases), size=int(len(cases) * args.repeat_fraction), replace=False).tolist())
    repetitions = (1, 2) if repeat else (1,)
    StudyCase.objects.bulk_create([StudyCase(study=study, case=c, repeat=i in repeat) for i, c in enumerate(cases)])
    StudyReader.objects.bulk_create([StudyReader(study=study, user=u, arm_order=arms) for u in users])
    truth = {}
    gt = []
    for c in cases:
        for level in levels:
            for name, spec in specs.items():
                value = spec.values[rng.integers(len(spec.values))]
                truth[(c.pk, level, name)] = value
                gt.append(GroundTruthItem(case=c, disc_level=level, finding_type=name, value=value,
                                          provenance="imported"))
    GroundTruthItem.objects.bulk_create(gt, batch_size=5000)
    model = []
    for (case_id, level, name), value in truth.items():
        if rng.random() < 0.85:
            predicted = value
        else:
            predicted = specs[name].values[rng.integers(len(specs[name].values))]
        model.append(Finding(case_id=case_id, disc_level=level, finding_type=name, value=predicted,
                             source=Source.MODEL, model_version="bench-v1", score=float(rng.uniform(0.3, 1.0))))
    model = Finding.objects.bulk_create(model, batch_size=5000)
    model_by_key = {(f.case_id, f.disc_level, f.finding_type): f for f in model}
    now = timezone.now()
    sessions, reads = [], []
    for user in users:
        for arm in arms:
            for repetition in repetitions:
                chosen = [c for i, c in enumerate(cases) if repetition == 1 or i in repeat]
                for position, c in enumerate(chosen):
                    sessions.append(StudySession(study=study, reader=user, case=c, arm=arm, repetition=repetition,
                                                 period=1, position=position))
                    reads.append(Read(case=c, reader=user, context=session_context(study.pk, arm, repetition),
                                      status="submitted", opened_at=now, submitted_at=now,
                                      active_seconds=float(rng.gamma(4.0, 20.0))))
    StudySession.objects.bulk_create(sessions, batch_size=5000)
    reads = Read.objects.bulk_create(reads, batch_size=5000)
    findings = []
    for read in reads:
        aided = ":aided:" in read.context
        for level in levels:
            for name, spec in specs.items():
                value = truth[(read.case_id, level, name)]
                if rng.random() > 0.8:
                    value = spec.values[rng.integers(len(spec.values))]
                model_finding = model_by_key[(read.case_id, level, name)] if aided else None
                action = ""
                if model_finding is not None:
                    action = ReviewAction.ACCEPTED if model_finding.value == value else ReviewAction.EDITED
                findings.append(Finding(case_id=read.case_id, read=read, disc_level=level, finding_type=name,
                                        value=value, review_action=action, model_finding=model_finding))
    Finding.objects.bulk_create(findings, batch_size=10000)
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
            "finding_rows": len(findings) + len(model), "table_rows": rows, "insert_seconds": round(insert_seconds, 1)}


if __name__ == "__main__":
    main()
