"""The synthetic reader study that bench/stats.py times: imported once Django is set up.

Ground truth is drawn uniformly per case, level and finding; the model agrees with it 85% of the time and
each reader 80%; aided readers accept the model's finding when they agree with it and edit it otherwise.
"""
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from annotation import services
from annotation.models import Case, Finding, GroundTruthItem, Read, ReviewAction, Role, Source
from annotation.schema import finding_specs
from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession, session_context


@dataclass
class World:
    study: ReaderStudy
    levels: list
    specs: dict
    arms: list
    finding_rows: int


def _draw(rng, spec) -> str:
    return spec.values[rng.integers(len(spec.values))]


def _study(args, rng, project, arms):
    users = []
    for i in range(args.readers):
        user = get_user_model().objects.create(username=f"bench_reader{i}")
        user.groups.add(Group.objects.get(name=Role.READER))
        users.append(user)
    cases = Case.objects.bulk_create([
        Case(project=project, patient_key=f"{i:032x}", study_instance_uid=f"2.25.{i}", status="ground_truth",
             split="study") for i in range(args.cases)])
    study = ReaderStudy.objects.create(project=project, name="bench", design=args.design, model_version="bench-v1",
                                       washout_days=0, repeat_fraction=args.repeat_fraction)
    repeat = set(rng.choice(len(cases), size=int(len(cases) * args.repeat_fraction), replace=False).tolist())
    StudyCase.objects.bulk_create([StudyCase(study=study, case=c, repeat=i in repeat) for i, c in enumerate(cases)])
    StudyReader.objects.bulk_create([StudyReader(study=study, user=u, arm_order=arms) for u in users])
    return study, users, cases, repeat


def _truth_and_model(rng, cases, levels, specs):
    truth = {(c.pk, level, name): _draw(rng, spec) for c in cases for level in levels for name, spec in specs.items()}
    GroundTruthItem.objects.bulk_create([
        GroundTruthItem(case_id=case_id, disc_level=level, finding_type=name, value=value, provenance="imported")
        for (case_id, level, name), value in truth.items()], batch_size=5000)
    model = []
    for (case_id, level, name), value in truth.items():
        predicted = value if rng.random() < 0.85 else _draw(rng, specs[name])
        model.append(Finding(case_id=case_id, disc_level=level, finding_type=name, value=predicted,
                             source=Source.MODEL, model_version="bench-v1", score=float(rng.uniform(0.3, 1.0))))
    model = Finding.objects.bulk_create(model, batch_size=5000)
    return truth, {(f.case_id, f.disc_level, f.finding_type): f for f in model}


def _reads(rng, study, users, cases, repeat, arms):
    now = timezone.now()
    sessions, reads = [], []
    for user in users:
        for arm in arms:
            for repetition in ((1, 2) if repeat else (1,)):
                chosen = [c for i, c in enumerate(cases) if repetition == 1 or i in repeat]
                for position, c in enumerate(chosen):
                    sessions.append(StudySession(study=study, reader=user, case=c, arm=arm, repetition=repetition,
                                                 period=1, position=position))
                    reads.append(Read(case=c, reader=user, context=session_context(study.pk, arm, repetition),
                                      status="submitted", opened_at=now, submitted_at=now,
                                      active_seconds=float(rng.gamma(4.0, 20.0))))
    StudySession.objects.bulk_create(sessions, batch_size=5000)
    return Read.objects.bulk_create(reads, batch_size=5000)


def _read_findings(rng, reads, levels, specs, truth, model_by_key) -> int:
    findings = []
    for read in reads:
        aided = ":aided:" in read.context
        for level in levels:
            for name, spec in specs.items():
                value = truth[(read.case_id, level, name)]
                if rng.random() > 0.8:
                    value = _draw(rng, spec)
                model_finding = model_by_key[(read.case_id, level, name)] if aided else None
                action = ""
                if model_finding is not None:
                    action = ReviewAction.ACCEPTED if model_finding.value == value else ReviewAction.EDITED
                findings.append(Finding(case_id=read.case_id, read=read, disc_level=level, finding_type=name,
                                        value=value, review_action=action, model_finding=model_finding))
    Finding.objects.bulk_create(findings, batch_size=10000)
    return len(findings)


def build_world(args, rng) -> World:
    services.roles_ensure()
    project = services.project_create(slug="bench", name="Bench")
    levels, specs = project.label_schema["levels"], finding_specs(project.label_schema)
    arms = ["unaided"] if args.design == "unaided" else ["unaided", "aided"]
    study, users, cases, repeat = _study(args, rng, project, arms)
    truth, model_by_key = _truth_and_model(rng, cases, levels, specs)
    reads = _reads(rng, study, users, cases, repeat, arms)
    n_findings = _read_findings(rng, reads, levels, specs, truth, model_by_key)
    return World(study=study, levels=levels, specs=specs, arms=arms, finding_rows=n_findings + len(model_by_key))
