"""The acceptance test of the dashboard: a study with the phantoms' known truth and simulated readers of known accuracy,
read through the study services, and every dashboard number checked against the statistics core computed
independently from the simulation's own values (not from the database)."""
from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import services
from annotation.models import Case, Finding, GroundTruthItem, Read, ReviewAction, Role, Source
from annotation.schema import LUMBAR_LEVELS, default_schema, finding_specs
from studies import selectors
from studies.agreement import cohen_kappa, fleiss_kappa, icc, krippendorff_alpha
from studies.dashboard import study_dashboard
from studies.diagnostic import (
    binary_metrics,
    bootstrap_binary_metrics,
    bootstrap_cohen_kappa,
    mcnemar,
    multiclass_metrics,
    paired_times,
    roc_auc,
)
from studies.models import StudySession
from studies.services import study_create, study_session_open, study_session_submit
from tests.conftest import make_user
from fixtures.phantoms import case_findings
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
    # Known truth: the synthetic phantoms' own per-level findings (fixtures.phantoms draws them with realistic
    # frequencies), without rendering their pixels.
    truth = {}
    for index, case in enumerate(cases):
        phantom = case_findings(seed=seed, case_index=index)
        for level in LUMBAR_LEVELS:
            for name in SPECS:
                truth[(case.pk, level, name)] = phantom_value(phantom[level][name])
    GroundTruthItem.objects.bulk_create([
        GroundTruthItem(case_id=c, disc_level=level, finding_type=name, value=value,
                        provenance=GroundTruthItem.Provenance.IMPORTED) for (c, level, name), value in truth.items()])
    model_values, model_scores, model_rows = {}, {}, {}
    if with_model:
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
        model_rows = {(f.case_id, f.disc_level, f.finding_type): f for f in rows}
    study = study_create(project=project, name="Known accuracy", case_ids=[c.pk for c in cases], readers=readers,
                         design=design, model_version=MODEL_VERSION if with_model else "", washout_days=0,
                         repeat_fraction=repeat_fraction, seed=seed, actor=coordinator)
    sim = {"truth": truth, "model": model_values, "scores": model_scores, "reads": {}, "seconds": {},
           "review": {}, "readers": readers, "coordinator": coordinator, "cases": cases}
    users = {u.pk: u for u in readers}
    for session in StudySession.objects.filter(study=study).order_by("reader_id", "period", "position"):
        reader = users[session.reader_id]
        key = (reader.username, session.arm, session.repetition)
        accuracy = min(1.0, ACCURACY[reader.username] + (0.1 if session.arm == "aided" else 0.0))
        case_truth = {k: v for k, v in truth.items() if k[0] == session.case_id}
        values = _simulate(rng, case_truth, accuracy)
        sim["reads"].setdefault(key, {}).update(values)
        inputs = []
        for (c, level, name), value in values.items():
            model_finding = model_rows.get((c, level, name)) if session.arm == "aided" else None
            action = ""
            if model_finding is not None:
                action = ReviewAction.ACCEPTED if model_finding.value == value else ReviewAction.EDITED
                sim["review"].setdefault((reader.username, name), {}).setdefault(action.value, 0)
                sim["review"][(reader.username, name)][action.value] += 1
            inputs.append(services.FindingInput(disc_level=level, finding_type=name, value=value,
                                                review_action=action,
                                                model_finding_id=model_finding.pk if model_finding else None))
        read = study_session_open(session=session, reader=reader)
        seconds = float(np.round(rng.uniform(1.0, 4.5), 2))
        study_session_submit(session=session, reader=reader, findings=inputs, active_seconds=seconds)
        sim["seconds"].setdefault(key, {})[session.case_id] = Read.objects.get(pk=read.pk).active_seconds
    return study, sim


def _rows(dashboard, table, **match):
    return [r for r in dashboard["tables"][table]["rows"] if all(r.get(k) == v for k, v in match.items())]


def _one(dashboard, table, **match):
    rows = _rows(dashboard, table, **match)
    assert len(rows) == 1, (table, match, len(rows))
    return {key: UNDEFINED if value is None else value for key, value in rows[0].items()}


def _units(sim_values: dict, name: str, level: str | None = None) -> list:
    return sorted(k for k in sim_values if k[2] == name and (level is None or k[1] == level))


def _patients(sim, units: list) -> list:
    patient_of = {case.pk: case.patient_key for case in sim["cases"]}
    return [patient_of[case] for case, _level, _name in units]


def _boot(row, prefix: str) -> tuple:
    return row[f"{prefix}boot_ci_low"], row[f"{prefix}boot_ci_high"]


def _patient(values: dict, name: str) -> dict:
    order = SPECS[name].values
    worst = {}
    for (c, _level, n), value in values.items():
        if n == name and (c not in worst or order.index(value) > order.index(worst[c])):
            worst[c] = value
    return worst


@pytest.fixture
def study_and_sim(db):
    return build_study()


@pytest.mark.django_db
def test_dashboard_matches_the_statistics_core(study_and_sim):
    study, sim = study_and_sim
    dashboard = study_dashboard(selectors.study_data(study))
    truth, reads = sim["truth"], sim["reads"]
    names = list(ACCURACY)
    assert dashboard["n_cases"] == 20

    for name, spec in SPECS.items():
        weights = "quadratic" if spec.scale == "ordinal" else None
        statistic = "cohen_quadratic" if weights else "cohen"
        positive = spec.values.index(POSITIVE_FROM[name])
        for arm in ("unaided", "aided"):
            for level in (None, "L4/L5"):
                units = _units(truth, name, level)
                label = level or "all"
                # Inter-reader: Cohen per pair (weighted for ordinal grades), Fleiss and Krippendorff for three.
                a = [reads[(names[0], arm, 1)][u] for u in units]
                b = [reads[(names[1], arm, 1)][u] for u in units]
                c = [reads[(names[2], arm, 1)][u] for u in units]
                expected = cohen_kappa(a, b, weights=weights, categories=spec.values)
                row = _one(dashboard, "inter_reader", finding=name, scope="disc", level=label, arm=arm,
                           statistic=statistic, rater_a=names[0], rater_b=names[1])
                assert row["value"] == expected.value and row["ci_low"] == expected.ci[0]
                assert row["se"] == expected.se and row["n"] == len(units) and row["band"] == expected.band
                # Patient bootstrap on all discs pooled only (a level has one disc per case).
                boot = (UNDEFINED, UNDEFINED) if level else bootstrap_cohen_kappa(
                    a, b, _patients(sim, units), weights=weights, categories=spec.values).ci
                assert _boot(row, "") == boot
                fleiss = fleiss_kappa(np.array([a, b, c]).T, categories=spec.values)
                row = _one(dashboard, "inter_reader", finding=name, scope="disc", level=label, arm=arm,
                           statistic="fleiss")
                assert row["value"] == fleiss.value and row["se"] == fleiss.se and row["n"] == len(units)
                alpha = krippendorff_alpha(np.array([a, b, c]), level="ordinal" if weights else "nominal",
                                           categories=spec.values)
                row = _one(dashboard, "inter_reader", finding=name, scope="disc", level=label, arm=arm,
                           statistic="krippendorff_ordinal" if weights else "krippendorff_nominal")
                assert row["value"] == pytest.approx(alpha.value, abs=1e-12)
                if weights:  # ICC(2,1) for ordinal grades, the grades as their position on the scale
                    scores = np.array([[spec.values.index(v) for v in r] for r in (a, b, c)], float).T
                    expected_icc = icc(scores, kind="ICC2")
                    row = _one(dashboard, "inter_reader", finding=name, scope="disc", level=label, arm=arm,
                               statistic="icc2")
                    assert row["value"] == pytest.approx(expected_icc.value, abs=1e-12)
                    assert row["n"] == len(units)
                # Each reader against ground truth.
                for reader in names:
                    pred = [reads[(reader, arm, 1)][u] for u in units]
                    t = [truth[u] for u in units]
                    t_pos = [spec.values.index(v) >= positive for v in t]
                    p_pos = [spec.values.index(v) >= positive for v in pred]
                    metrics = binary_metrics(t_pos, p_pos)
                    row = _one(dashboard, "accuracy", finding=name, scope="disc", level=label, arm=arm, rater=reader)
                    assert (row["tp"], row["fp"], row["tn"], row["fn"], row["n"]) == (
                        metrics.tp, metrics.fp, metrics.tn, metrics.fn, len(units))
                    assert row["sensitivity"] == metrics.sensitivity.value or (
                        row["sensitivity"] is None and np.isnan(metrics.sensitivity.value))
                    assert row["specificity_n"] == metrics.specificity.fraction
                    assert row["accuracy"] == metrics.accuracy.value
                    assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == metrics.accuracy.ci
                    assert row["f1"] == metrics.f1.value or (row["f1"] is None and np.isnan(metrics.f1.value))
                    kappa = cohen_kappa(t, pred, weights=weights, categories=spec.values)
                    assert row["kappa_vs_truth"] == kappa.value
                    if level is None:
                        patients = _patients(sim, units)
                        boot = bootstrap_binary_metrics(t_pos, p_pos, patients)
                        for metric in ("sensitivity", "specificity", "accuracy"):
                            assert _boot(row, f"{metric}_") == boot[metric].ci
                        assert _boot(row, "kappa_") == bootstrap_cohen_kappa(
                            t, pred, patients, weights=weights, categories=spec.values).ci
                    else:
                        assert _boot(row, "sensitivity_") == _boot(row, "kappa_") == (UNDEFINED, UNDEFINED)
                    if spec.scale == "ordinal":
                        multi = multiclass_metrics(t, pred, labels=spec.values, ordinal=True)
                        assert row["off_by_more_than_one"] == multi.off_by_more_than_one.value
                    if 0 < sum(t_pos) < len(t_pos):
                        auc = roc_auc(t_pos, [spec.values.index(v) for v in pred])
                        assert row["auc"] == auc.value
            # Patient level: the worst value over the levels.
            worst_truth = _patient(truth, name)
            worst_reader = _patient({k: v for k, v in reads[(names[0], arm, 1)].items()}, name)
            cases = sorted(worst_truth)
            metrics = binary_metrics([spec.values.index(worst_truth[c]) >= positive for c in cases],
                                     [spec.values.index(worst_reader[c]) >= positive for c in cases])
            row = _one(dashboard, "accuracy", finding=name, scope="patient", level="all", arm=arm, rater=names[0])
            assert (row["tp"], row["fp"], row["tn"], row["fn"], row["n"]) == (
                metrics.tp, metrics.fp, metrics.tn, metrics.fn, 20)

    # Intra-reader: first reading against the repeat, on the repeated cases only.
    repeated = {c for (_r, _a, rep), values in reads.items() if rep == 2 for (c, _l, _n) in values}
    assert len(repeated) == 5
    for reader in names:
        units = sorted(u for u in _units(truth, "pfirrmann") if u[0] in repeated)
        first = [reads[(reader, "unaided", 1)][u] for u in units]
        second = [reads[(reader, "unaided", 2)][u] for u in units]
        expected = cohen_kappa(first, second, weights="quadratic", categories=SPECS["pfirrmann"].values)
        row = _one(dashboard, "intra_reader", finding="pfirrmann", scope="disc", level="all", arm="unaided",
                   reader=reader)
        assert row["value"] == expected.value and row["n"] == len(units) == 25
        boot = bootstrap_cohen_kappa(first, second, _patients(sim, units), weights="quadratic",
                                     categories=SPECS["pfirrmann"].values)
        assert _boot(row, "") == boot.ci and boot.n_clusters == len(set(_patients(sim, units)))

    # The model as one more reader: values, scores (AUC), McNemar against each reader.
    model_name = f"model {MODEL_VERSION}"
    for name in MODEL_FINDINGS:
        spec = SPECS[name]
        positive = spec.values.index(POSITIVE_FROM[name])
        units = _units(truth, name)
        t_pos = [spec.values.index(truth[u]) >= positive for u in units]
        m_pos = [spec.values.index(sim["model"][u]) >= positive for u in units]
        p_pos = [sim["scores"][u] if m else 1 - sim["scores"][u] for u, m in zip(units, m_pos)]
        row = _one(dashboard, "accuracy", finding=name, scope="disc", level="all", arm="model", rater=model_name)
        metrics = binary_metrics(t_pos, m_pos)
        assert row["sensitivity"] == metrics.sensitivity.value and row["n"] == len(units)
        boot = bootstrap_binary_metrics(t_pos, m_pos, _patients(sim, units))
        assert _boot(row, "specificity_") == boot["specificity"].ci and boot["specificity"].n_clusters == 10
        assert _boot(row, "kappa_") == bootstrap_cohen_kappa(
            [truth[u] for u in units], [sim["model"][u] for u in units], _patients(sim, units),
            weights="quadratic" if spec.scale == "ordinal" else None, categories=spec.values).ci
        auc = roc_auc(t_pos, p_pos)
        assert row["auc"] == auc.value and (row["auc_ci_low"], row["auc_ci_high"]) == auc.ci
        for reader in names:
            r_pos = [spec.values.index(reads[(reader, "unaided", 1)][u]) >= positive for u in units]
            test = mcnemar(t_pos, r_pos, m_pos)
            row = _one(dashboard, "reader_vs_model", finding=name, scope="disc", level="all", arm="unaided",
                       reader=reader)
            assert (row["b_reader_only_correct"], row["c_model_only_correct"], row["n"]) == (test.b, test.c, test.n)
            assert row["p_value"] == test.p_value and row["method"] == test.method
    # The model has no Pfirrmann output: it does not appear for that finding.
    assert not _rows(dashboard, "accuracy", finding="pfirrmann", rater=model_name)

    # Aided versus unaided: McNemar on the same units.
    spec = SPECS["herniation"]
    positive = spec.values.index("protrusion")
    units = _units(truth, "herniation")
    t_pos = [spec.values.index(truth[u]) >= positive for u in units]
    for reader in names:
        un = [spec.values.index(reads[(reader, "unaided", 1)][u]) >= positive for u in units]
        ai = [spec.values.index(reads[(reader, "aided", 1)][u]) >= positive for u in units]
        test = mcnemar(t_pos, un, ai)
        row = _one(dashboard, "aided_vs_unaided", finding="herniation", scope="disc", level="all", reader=reader)
        assert (row["b_unaided_only_correct"], row["c_aided_only_correct"], row["mcnemar_p"]) == (
            test.b, test.c, test.p_value)

    # Reading time per reader and arm, and the paired comparison.
    for reader in names:
        for arm in ("unaided", "aided"):
            secs = list(sim["seconds"][(reader, arm, 1)].values())
            row = _one(dashboard, "reading_time", reader=reader, arm=arm, repetition=1)
            assert row["n"] == 20 and row["mean_s"] == pytest.approx(np.mean(secs), abs=1e-12)
        cases = sorted(sim["seconds"][(reader, "unaided", 1)])
        paired = paired_times([sim["seconds"][(reader, "unaided", 1)][c] for c in cases],
                              [sim["seconds"][(reader, "aided", 1)][c] for c in cases])
        row = _one(dashboard, "reading_time_paired", reader=reader, repetition=1)
        assert row["t_p"] == pytest.approx(paired.t_p_value, abs=1e-12) and row["n"] == 20

    # Accepted / edited model findings in the aided arm (first readings and repeats counted per session).
    for reader in names:
        for name in MODEL_FINDINGS:
            row = _one(dashboard, "model_review", reader=reader, finding=name, repetition=1)
            first_units = {u for u in sim["reads"][(reader, "aided", 1)] if u[2] == name}
            expected = {"accepted": 0, "edited": 0}
            for u in first_units:
                action = "accepted" if sim["reads"][(reader, "aided", 1)][u] == sim["model"][u] else "edited"
                expected[action] += 1
            assert (row["accepted"], row["edited"], row["suggested"]) == (
                expected["accepted"], expected["edited"], len(first_units))

    # Confusion matrix: one figure per rater and finding, with its n.
    figure = next(f for f in dashboard["figures"]["confusion"]
                  if f["finding"] == "pfirrmann" and f["rater"] == names[2] and f["arm"] == "unaided")
    units = _units(truth, "pfirrmann")
    multi = multiclass_metrics([truth[u] for u in units], [reads[(names[2], "unaided", 1)][u] for u in units],
                               labels=SPECS["pfirrmann"].values)
    assert figure["matrix"] == multi.confusion.tolist() and figure["n"] == 100


@pytest.mark.django_db
def test_simulated_accuracy_orders_the_readers(study_and_sim):
    """Readers simulated at 95%, 80% and 60% exact-value accuracy come out in that order."""
    study, _sim = study_and_sim
    dashboard = study_dashboard(selectors.study_data(study))
    kappas = [_one(dashboard, "accuracy", finding="pfirrmann", scope="disc", level="all", arm="unaided",
                   rater=name)["kappa_vs_truth"] for name in ACCURACY]
    assert kappas == sorted(kappas, reverse=True)


@pytest.mark.django_db
def test_study_data_uses_a_fixed_number_of_queries(study_and_sim):
    study, _sim = study_and_sim
    with CaptureQueriesContext(connection) as queries:
        selectors.study_data(study)
    assert len(queries) <= 12


@pytest.mark.django_db
def test_without_model_findings_the_model_does_not_appear(db):
    study, _sim = build_study(n_cases=6, design="unaided", repeat_fraction=0, with_model=False)
    dashboard = study_dashboard(selectors.study_data(study))
    assert [r["kind"] for r in dashboard["raters"]] == ["reader"] * 3
    assert not dashboard["tables"]["reader_vs_model"]["rows"]
    assert not dashboard["tables"]["aided_vs_unaided"]["rows"]
    assert dashboard["tables"]["inter_reader"]["rows"]
