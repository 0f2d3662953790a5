"""A reader study with known truth, read through the study services by simulated readers of known accuracy, and
helpers to pick its dashboard's rows: what the dashboard tests check every number against.

The truth is the synthetic phantoms' own per-level findings; readers copy it with their accuracy (10 points more in
the aided arm), the model reports herniation and HIZ with scores. Every value the tests compare with comes from the
simulation, not from the database.
"""
from __future__ import annotations

import numpy as np

from annotation import services
from annotation.models import Case, Finding, GroundTruthItem, Read, ReviewAction, Role, Source
from annotation.schema import LUMBAR_LEVELS, default_schema, finding_specs
from fixtures.phantoms import case_findings
from studies.models import StudySession
from studies.services import study_create, study_session_open, study_session_submit
from tests.conftest import make_user
from tests.factories import CaseFactory

SPECS = finding_specs(default_schema())
POSITIVE_FROM = {"pfirrmann": "4", "herniation": "protrusion", "hiz": "present", "schmorl": "present",
                 "listhesis": "1"}
ACCURACY = {"reader_a": 0.95, "reader_b": 0.8, "reader_c": 0.6}
MODEL_VERSION = "yolo-v1"
MODEL_FINDINGS = ("herniation", "hiz")


class Undefined:
    """How the dashboard shows a statistic the core finds undefined (NaN, e.g. kappa when both raters use one
    category: common with the phantoms' rare findings): None. Compared with the core, it equals NaN."""

    def __eq__(self, other):
        return other is None or other is self or (isinstance(other, float) and np.isnan(other))

    def __repr__(self):
        return "Undefined"


UNDEFINED = Undefined()


def phantom_value(value) -> str:
    """A phantom truth value in the schema's words (booleans are present/absent, grades are strings)."""
    if isinstance(value, bool):
        return "present" if value else "absent"
    return str(value)


def _err(rng, values, truth):
    """A wrong value next to the truth (ordinal) or the other value (binary)."""
    i = values.index(truth)
    options = [j for j in (i - 1, i + 1) if 0 <= j < len(values)]
    return values[options[rng.integers(len(options))]]


def _simulate(rng, truth: dict, accuracy: float) -> dict:
    return {key: value if rng.random() < accuracy else _err(rng, SPECS[key[2]].values, value)
            for key, value in truth.items()}


def build_study(*, n_cases=20, design="both", repeat_fraction=0.25, seed=7, with_model=True):
    """A study read through the services. Returns (study, sim) where sim holds the simulation's truth, each
    (reader, arm, repetition)'s values and seconds, and the model's values and scores."""
    rng = np.random.default_rng(seed)
    coordinator = make_user("coord", Role.COORDINATOR)
    project = services.project_create(slug="study-project", name="Study project", actor=coordinator)
    readers = [make_user(name, Role.READER, years_experience=5 * (i + 1)) for i, name in enumerate(ACCURACY)]
    # Two cases (a scan and its follow-up) per patient: the dashboard's bootstrap must resample patients, not cases.
    cases = [CaseFactory(project=project, status=Case.Status.GROUND_TRUTH, patient_key=f"{i // 2:032x}")
             for i in range(n_cases)]
    truth = _known_truth(cases, seed)
    model_values, model_scores, model_rows = _model_findings(rng, truth) if with_model else ({}, {}, {})
    study = study_create(project=project, name="Known accuracy", case_ids=[c.pk for c in cases], readers=readers,
                         design=design, model_version=MODEL_VERSION if with_model else "", washout_days=0,
                         repeat_fraction=repeat_fraction, seed=seed, actor=coordinator)
    sim = {"truth": truth, "model": model_values, "scores": model_scores, "reads": {}, "seconds": {},
           "review": {}, "readers": readers, "coordinator": coordinator, "cases": cases}
    _read_sessions(study, sim, rng, model_rows)
    return study, sim


def _known_truth(cases: list, seed: int) -> dict:
    """The synthetic phantoms' own per-level findings (fixtures.phantoms draws them with realistic frequencies),
    without rendering their pixels, imported as the cases' ground truth."""
    truth = {}
    for index, case in enumerate(cases):
        phantom = case_findings(seed=seed, case_index=index)
        for level in LUMBAR_LEVELS:
            for name in SPECS:
                truth[(case.pk, level, name)] = phantom_value(phantom[level][name])
    GroundTruthItem.objects.bulk_create([
        GroundTruthItem(case_id=c, disc_level=level, finding_type=name, value=value,
                        provenance=GroundTruthItem.Provenance.IMPORTED) for (c, level, name), value in truth.items()])
    return truth


def _model_findings(rng, truth: dict) -> tuple[dict, dict, dict]:
    """The pinned model's values (85% right) and scores for MODEL_FINDINGS, stored as its findings."""
    model_values, model_scores = {}, {}
    for (c, level, name), value in truth.items():
        if name not in MODEL_FINDINGS:
            continue
        predicted = value if rng.random() < 0.85 else _err(rng, SPECS[name].values, value)
        score = float(np.round(rng.uniform(0.5, 1.0), 3))
        model_values[(c, level, name)] = predicted
        model_scores[(c, level, name)] = score
    rows = Finding.objects.bulk_create([
        Finding(case_id=c, disc_level=level, finding_type=name, value=value, source=Source.MODEL,
                model_version=MODEL_VERSION, score=model_scores[(c, level, name)])
        for (c, level, name), value in model_values.items()])
    return model_values, model_scores, {(f.case_id, f.disc_level, f.finding_type): f for f in rows}


def _read_sessions(study, sim: dict, rng, model_rows: dict) -> None:
    """Every session read and submitted in order, each reader at their accuracy (10 points more when aided)."""
    users = {u.pk: u for u in sim["readers"]}
    for session in StudySession.objects.filter(study=study).order_by("reader_id", "period", "position"):
        reader = users[session.reader_id]
        key = (reader.username, session.arm, session.repetition)
        accuracy = min(1.0, ACCURACY[reader.username] + (0.1 if session.arm == "aided" else 0.0))
        case_truth = {k: v for k, v in sim["truth"].items() if k[0] == session.case_id}
        values = _simulate(rng, case_truth, accuracy)
        sim["reads"].setdefault(key, {}).update(values)
        inputs = [_finding_input(sim, reader, model_rows.get(unit) if session.arm == "aided" else None, unit, value)
                  for unit, value in values.items()]
        read = study_session_open(session=session, reader=reader)
        seconds = float(np.round(rng.uniform(1.0, 4.5), 2))
        study_session_submit(session=session, reader=reader, findings=inputs, active_seconds=seconds)
        sim["seconds"].setdefault(key, {})[session.case_id] = Read.objects.get(pk=read.pk).active_seconds


def _finding_input(sim: dict, reader, model_finding, unit: tuple, value: str) -> services.FindingInput:
    """A reader's value; where the model suggested one (aided arm) it is accepted or edited, and counted."""
    _case, level, name = unit
    action = ""
    if model_finding is not None:
        action = ReviewAction.ACCEPTED if model_finding.value == value else ReviewAction.EDITED
        sim["review"].setdefault((reader.username, name), {}).setdefault(action.value, 0)
        sim["review"][(reader.username, name)][action.value] += 1
    return services.FindingInput(disc_level=level, finding_type=name, value=value, review_action=action,
                                 model_finding_id=model_finding.pk if model_finding else None)


def rows_of(dashboard, table, **match):
    """The rows of a dashboard table whose columns equal ``match``."""
    return [r for r in dashboard["tables"][table]["rows"] if all(r.get(k) == v for k, v in match.items())]


def one_row(dashboard, table, **match):
    """The one matching row, its undefined numbers (None) as UNDEFINED."""
    rows = rows_of(dashboard, table, **match)
    assert len(rows) == 1, (table, match, len(rows))
    return {key: UNDEFINED if value is None else value for key, value in rows[0].items()}


def units_of(sim_values: dict, name: str, level: str | None = None) -> list:
    """The (case, level, finding) keys of a finding, at one level or all, in the dashboard's unit order."""
    return sorted(k for k in sim_values if k[2] == name and (level is None or k[1] == level))


def patients_of(sim, units: list) -> list:
    """The patient of each unit: the bootstrap's clusters."""
    patient_of = {case.pk: case.patient_key for case in sim["cases"]}
    return [patient_of[case] for case, _level, _name in units]


def boot_cells(row, prefix: str) -> tuple:
    return row[f"{prefix}boot_ci_low"], row[f"{prefix}boot_ci_high"]


def worst_per_case(values: dict, name: str) -> dict:
    """Per case, the worst value of a finding over the levels (the patient-level unit)."""
    order = SPECS[name].values
    worst = {}
    for (c, _level, n), value in values.items():
        if n == name and (c not in worst or order.index(value) > order.index(worst[c])):
            worst[c] = value
    return worst
