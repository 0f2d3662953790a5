"""Reads for reader studies: the arrays the dashboard needs. Who may see a study or a session is decided in
`access`. ``study_data`` builds the dashboard's arrays in a fixed number of queries, whatever the study's size.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

import access
from annotation.models import (
    Case, Finding, GroundTruthItem, ProjectMembership, Read, ReaderProfile, ReviewAction, Role, Source
)
from annotation.schema import FindingSpec, finding_specs
from studies.dashboard import MODEL_ARM, FindingData, Rater, StudyData
from studies.models import ReaderStudy, StudyCase, StudyReader, session_context

BOX_COLUMNS = ("instance_id", "x0", "y0", "x1", "y1")


# The dashboard's arrays -----------------------------------------------------------------------------------------


@dataclass
class _Layout:
    """Where each value goes: the row of each case and rater, and the (level, code) of each schema value."""

    specs: dict  # finding -> FindingSpec
    levels: list
    cells: dict  # (level, finding, value) -> (level index, code)
    case_ids: np.ndarray
    patient_keys: list
    case_index: dict  # case id -> row
    raters: list  # Rater
    rater_index: dict  # (user id, session context) -> rater row (readers)
    model_row: int | None = None  # the pinned model's rater row, when it has findings in the study

    def cell(self, case_id, level, name, value) -> tuple[int, int, int] | None:
        """(case row, level index, code), or None where the value is not one of the study's."""
        ci, place = self.case_index.get(case_id), self.cells.get((level, name, value))
        return None if ci is None or place is None else (ci, *place)


@dataclass
class _Cells:
    """The arrays being filled. Per finding a value is kept apart as given explicitly and as the highest value
    among the boxes drawn for its level, for the raters (n_raters, n_cases, n_levels) and the truth."""

    explicit: dict
    boxed: dict
    truth_explicit: dict
    truth_boxed: dict
    truth_cases: np.ndarray  # (n_cases,) cases with any ground truth
    rater_read: np.ndarray  # (n_raters, n_cases) cases the rater read (the model: has findings on)
    seconds: np.ndarray  # (n_raters, n_cases)
    model_scores: dict  # finding -> (n_cases, n_levels) model's P(positive)
    images: dict = field(default_factory=dict)  # instance id -> StudyData image
    review: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))  # (key, finding) -> counts
    suggested: dict = field(default_factory=lambda: defaultdict(int))  # (case row, finding) -> shown model findings

    def image(self, instance_id: int, case_id: int) -> dict:
        image = self.images.get(instance_id)
        if image is None:
            image = self.images[instance_id] = {"instance": instance_id, "case": case_id, "truth": [], "pred": {}}
        return image


def study_data(study: ReaderStudy) -> StudyData:
    """Ground truth, every submitted study read and the pinned model's findings, as code arrays.

    A value at (case, level, finding) is the explicit value finding if there is one, else the highest value
    among the boxes drawn for that level and finding, else, where absence means negative (a positive-only
    project, and always for the model, which only reports what it finds), the finding's negative value for
    a case that the rater read; otherwise missing (-1)."""
    project = study.project
    layout = _study_layout(study)
    read_rows = _latest_read_rows(study, layout)
    model_findings = _pinned_model_findings(study)
    if model_findings:
        layout.model_row = len(layout.raters)
        layout.raters.append(Rater("model", f"model {study.model_version}", "model", MODEL_ARM, 1, None))
    cells = _empty_cells(layout)
    _add_reading_times(read_rows, cells)
    _add_ground_truth(study, layout, cells)
    study_reads = Finding.objects.filter(read__context__startswith=f"study:{study.pk}:",
                                         read__status=Read.Status.SUBMITTED)
    _add_reader_values(study_reads, read_rows, layout, cells)
    _add_reader_boxes(study_reads, read_rows, layout, cells)
    positive_from = {name: _positive_code(spec, (study.positive_from or {}).get(name))
                     for name, spec in layout.specs.items()}
    _add_model_findings(model_findings, positive_from, layout, cells)
    positive_only = project.labelling_mode == project.LabellingMode.POSITIVE_ONLY
    return StudyData(
        study={"id": study.pk, "name": study.name, "project": project.slug, "design": study.design,
               "arms": list(study.arms), "model_version": study.model_version, "washout_days": study.washout_days,
               "repeat_fraction": study.repeat_fraction, "labelling_mode": project.labelling_mode},
        case_ids=layout.case_ids, patient_keys=layout.patient_keys, levels=layout.levels,
        findings={name: _finding_data(spec, positive_from[name], layout, cells, positive_only=positive_only)
                  for name, spec in layout.specs.items()},
        raters=layout.raters, seconds=cells.seconds, iou_threshold=project.box_iou_threshold,
        review_counts=_review_counts(layout, cells), images=[cells.images[k] for k in sorted(cells.images)],
    )


def _study_layout(study: ReaderStudy) -> _Layout:
    """The study's cases (by id) and levels, and its readers' raters: one per reader, arm and repetition."""
    schema = study.project.label_schema
    specs = finding_specs(schema)
    levels = list(schema["levels"])
    study_cases = list(StudyCase.objects.filter(study=study).order_by("case_id")
                       .values_list("case_id", "case__patient_key"))
    readers = list(StudyReader.objects.filter(study=study).order_by("user__username")
                   .values_list("user_id", "user__username"))
    years = dict(ReaderProfile.objects.filter(user_id__in=[u for u, _ in readers])
                 .values_list("user_id", "years_experience"))
    repetitions = [1, 2] if StudyCase.objects.filter(study=study, repeat=True).exists() else [1]
    raters, rater_index = [], {}
    for user_id, username in readers:
        for arm in study.arms:
            for repetition in repetitions:
                rater_index[(user_id, session_context(study.pk, arm, repetition))] = len(raters)
                raters.append(Rater(f"{username}|{arm}|{repetition}", username, "reader", arm, repetition,
                                    years.get(user_id)))
    return _Layout(
        specs=specs, levels=levels,
        cells={(level, name, value): (li, code) for name, spec in specs.items()
               for code, value in enumerate(spec.values) for li, level in enumerate(levels)},
        case_ids=np.array([c for c, _ in study_cases], dtype=np.int64), patient_keys=[p for _, p in study_cases],
        case_index={c: i for i, (c, _) in enumerate(study_cases)}, raters=raters, rater_index=rater_index)


def _case_subquery(study: ReaderStudy):
    return StudyCase.objects.filter(study=study).values("case_id")


def _latest_read_rows(study: ReaderStudy, layout: _Layout) -> dict:
    """{read id: (rater row, case row, active seconds)} of the latest submitted version per case, reader and
    session context."""
    latest = {}
    for read_id, case_id, reader_id, context, version, seconds in (
            Read.objects.filter(context__startswith=f"study:{study.pk}:", status=Read.Status.SUBMITTED,
                                case_id__in=_case_subquery(study))
            .values_list("id", "case_id", "reader_id", "context", "version", "active_seconds")):
        key = (case_id, reader_id, context)
        if key not in latest or latest[key][1] < version:
            latest[key] = (read_id, version, seconds)
    read_rows = {}
    for (case_id, reader_id, context), (read_id, _v, secs) in latest.items():
        r = layout.rater_index.get((reader_id, context))
        if r is not None and case_id in layout.case_index:
            read_rows[read_id] = (r, layout.case_index[case_id], secs)
    return read_rows


def _pinned_model_findings(study: ReaderStudy) -> list:
    if not study.model_version:
        return []
    return list(Finding.objects.filter(case_id__in=_case_subquery(study), source=Source.MODEL, read__isnull=True,
                                       model_version=study.model_version)
                .values_list("case_id", "disc_level", "finding_type", "value", *BOX_COLUMNS, "score"))


def _empty_cells(layout: _Layout) -> _Cells:
    n_raters, n_cases, n_levels = len(layout.raters), len(layout.case_ids), len(layout.levels)

    def codes(*shape):
        return {name: np.full(shape, -1, dtype=np.int16) for name in layout.specs}

    return _Cells(explicit=codes(n_raters, n_cases, n_levels), boxed=codes(n_raters, n_cases, n_levels),
                  truth_explicit=codes(n_cases, n_levels), truth_boxed=codes(n_cases, n_levels),
                  truth_cases=np.zeros(n_cases, dtype=bool), rater_read=np.zeros((n_raters, n_cases), dtype=bool),
                  seconds=np.full((n_raters, n_cases), np.nan),
                  model_scores={name: np.full((n_cases, n_levels), np.nan) for name in layout.specs})


def _add_reading_times(read_rows: dict, cells: _Cells) -> None:
    """Active seconds of each read; a case with a read counts as read by its rater (for the implied negatives)."""
    for r, ci, secs in read_rows.values():
        cells.seconds[r, ci] = secs
        cells.rater_read[r, ci] = True


def _put(explicit: np.ndarray, boxed: np.ndarray, index: tuple, code: int, has_box: bool) -> None:
    """An explicit value replaces; a box's value counts where it is the highest of its level's boxes."""
    if has_box:
        boxed[index] = max(boxed[index], code)
    else:
        explicit[index] = code


def _add_ground_truth(study: ReaderStudy, layout: _Layout, cells: _Cells) -> None:
    for case_id, level, name, value, instance_id, *box in (
            GroundTruthItem.objects.filter(case_id__in=_case_subquery(study))
            .values_list("case_id", "disc_level", "finding_type", "value", *BOX_COLUMNS)):
        place = layout.cell(case_id, level, name, value)
        if place is None:
            continue
        ci, li, code = place
        cells.truth_cases[ci] = True
        _put(cells.truth_explicit[name], cells.truth_boxed[name], (ci, li), code, box[0] is not None)
        cls = layout.specs[name].classes.get(value)
        if box[0] is not None and cls:
            cells.image(instance_id, case_id)["truth"].append((cls, tuple(box)))


_DELETED = ReviewAction.DELETED.value  # read once: an enum member's value is a descriptor call, 80,000 times a study


def _kept_after_review(cells: _Cells, rater: Rater, name: str, action: str) -> bool:
    """Counts what the reader did with a model suggestion; a finding they deleted is no value of theirs."""
    if action:
        cells.review[(rater.key, name)][action] += 1
    return action != _DELETED


def _add_reader_values(study_reads, read_rows: dict, layout: _Layout, cells: _Cells) -> None:
    """Value findings (the bulk of a study) in one narrow query, written to the arrays in one step per finding."""
    entries = defaultdict(list)  # finding -> [(rater, case, level, code)]
    for read_id, level, name, value, action in study_reads.filter(x0__isnull=True).values_list(
            "read_id", "disc_level", "finding_type", "value", "review_action"):
        row = read_rows.get(read_id)
        # Most findings had no model suggestion (no action): skip the call for those, 165,000 of them in the bench.
        if row is None or (action and not _kept_after_review(cells, layout.raters[row[0]], name, action)):
            continue
        place = layout.cells.get((level, name, value))
        if place is not None:
            entries[name].append((row[0], row[1], *place))
    for name, rows in entries.items():
        r_idx, c_idx, l_idx, code = np.array(rows, dtype=np.int64).T
        cells.explicit[name][r_idx, c_idx, l_idx] = code


def _add_reader_boxes(study_reads, read_rows: dict, layout: _Layout, cells: _Cells) -> None:
    """Readers' boxes: their level's value, and for the detection table an unscored box on their image."""
    for read_id, level, name, value, instance_id, *box, action in study_reads.filter(x0__isnull=False).values_list(
            "read_id", "disc_level", "finding_type", "value", *BOX_COLUMNS, "review_action"):
        row = read_rows.get(read_id)
        if row is None or not _kept_after_review(cells, layout.raters[row[0]], name, action):
            continue
        r, ci, _ = row
        place = layout.cells.get((level, name, value))
        if place is None:
            continue
        li, code = place
        _put(cells.explicit[name], cells.boxed[name], (r, ci, li), code, True)
        cls = layout.specs[name].classes.get(value)
        if cls:
            # No score: readers give none, so the detection metrics pair their boxes by the unscored rule.
            cells.image(instance_id, int(layout.case_ids[ci]))["pred"].setdefault(layout.raters[r].key, []).append(
                (cls, tuple(box), None))


def _add_model_findings(model_findings: list, positive_from: dict, layout: _Layout, cells: _Cells) -> None:
    """The pinned model's findings: values, P(positive) per unit, and scored boxes."""
    model_r = layout.model_row
    for case_id, level, name, value, instance_id, *box, score in model_findings:
        place = layout.cell(case_id, level, name, value)
        if place is None:
            continue
        ci, li, code = place
        cells.rater_read[model_r, ci] = True
        cells.suggested[(ci, name)] += 1
        positive = code >= positive_from[name]
        p_pos = (1.0 if positive else 0.0) if score is None else (score if positive else 1.0 - score)
        current = cells.model_scores[name][ci, li]
        cells.model_scores[name][ci, li] = p_pos if np.isnan(current) else max(current, p_pos)
        _put(cells.explicit[name], cells.boxed[name], (model_r, ci, li), code, box[0] is not None)
        cls = layout.specs[name].classes.get(value)
        if box[0] is not None and cls:
            cells.image(instance_id, case_id)["pred"].setdefault("model", []).append(
                (cls, tuple(box), 1.0 if score is None else float(score)))


def _positive_code(spec: FindingSpec, override: str | None) -> int:
    """The first code counted positive: the study's choice where it names one of the finding's values, else the
    schema's (``FindingSpec.positive_from``)."""
    return spec.values.index(override if override in spec.values else spec.positive_from)


def _finding_data(spec: FindingSpec, positive_code: int, layout: _Layout, cells: _Cells, *,
                  positive_only: bool) -> FindingData:
    """One finding's arrays: explicit values over boxed ones, and the schema's negative value where absence means
    negative (positive-only projects for readers and truth, always for the model)."""
    name, model_r = spec.name, layout.model_row
    ratings = np.where(cells.explicit[name] >= 0, cells.explicit[name], cells.boxed[name])
    truth = np.where(cells.truth_explicit[name] >= 0, cells.truth_explicit[name], cells.truth_boxed[name])
    if spec.negative is not None:
        negative = spec.values.index(spec.negative)
        fill = np.zeros((*cells.rater_read.shape, 1), dtype=bool)
        if positive_only:
            fill[:, :, 0] = cells.rater_read
            truth[(truth < 0) & cells.truth_cases[:, None]] = negative
        if model_r is not None:
            fill[model_r, :, 0] = cells.rater_read[model_r]
        ratings[(ratings < 0) & fill] = negative
    scores = None
    if model_r is not None:
        scores = cells.model_scores[name]
        scores[np.isnan(scores) & cells.rater_read[model_r][:, None]] = 0.0
    return FindingData(name, spec.label, spec.values, spec.scale, positive_code, truth.astype(np.int64),
                       ratings.astype(np.int64), scores)


def _review_counts(layout: _Layout, cells: _Cells) -> dict:
    """(rater key, finding) -> {review action: count, "suggested": model findings shown on the cases read}."""
    review_counts = {key: dict(counts) for key, counts in cells.review.items()}
    if layout.model_row is None:
        return review_counts
    for r, rater in enumerate(layout.raters):
        if rater.kind != "reader" or rater.arm != "aided":
            continue
        read_cases = np.flatnonzero(cells.rater_read[r])
        for name in layout.specs:
            n = sum(cells.suggested.get((int(ci), name), 0) for ci in read_cases)
            if n or (rater.key, name) in review_counts:
                review_counts.setdefault((rater.key, name), {})["suggested"] = n
    return review_counts


def study_long_rows(study: ReaderStudy, data: StudyData) -> list[dict]:
    """One row per rater x case x level x finding (the statistics' raw input), with the truth beside it."""
    rows = []
    sessions_arm = {r.key: r for r in data.raters}
    for name, finding in data.findings.items():
        values = finding.values
        for r, rater in enumerate(data.raters):
            rated = np.argwhere(finding.ratings[r] >= 0)
            for ci, li in rated.tolist():
                truth = finding.truth[ci, li]
                score = None
                if rater.kind == "model" and finding.model_scores is not None:
                    s = finding.model_scores[ci, li]
                    score = None if np.isnan(s) else round(float(s), 6)
                secs = data.seconds[r, ci]
                rows.append({
                    "study": study.pk, "case": int(data.case_ids[ci]), "patient": data.patient_keys[ci],
                    "reader": rater.name, "kind": rater.kind, "arm": sessions_arm[rater.key].arm,
                    "repetition": rater.repetition, "level": data.levels[li], "finding": name,
                    "value": values[finding.ratings[r, ci, li]], "truth": values[truth] if truth >= 0 else "",
                    "positive": int(finding.ratings[r, ci, li] >= finding.positive_from),
                    "truth_positive": int(truth >= finding.positive_from) if truth >= 0 else "",
                    "score": score, "seconds": None if np.isnan(secs) else round(float(secs), 1),
                })
    return rows


# Defining a study and following its sessions ------------------------------------------------------------------


def study_candidate_cases(project, *, site: str = "", split: str | None = None, finding: str = "", value: str = "",
                          count: int | None = None, seed: int = 0) -> list[int]:
    """Ids of the project's cases with final ground truth that match the filter, sorted.

    ``split`` None means any split ("" is the unassigned one); ``finding`` (with ``value``, or any value) keeps the
    cases whose ground truth holds it; ``count`` draws that many at random with ``seed`` (all of them if fewer
    match), so the same filter and seed always give the same cases."""
    cases = Case.objects.filter(project=project, status=Case.Status.GROUND_TRUTH)
    if site:
        cases = cases.filter(site_code=site)
    if split is not None:
        cases = cases.filter(split=split)
    if finding:
        truth = GroundTruthItem.objects.filter(finding_type=finding)
        if value:
            truth = truth.filter(value=value)
        cases = cases.filter(pk__in=truth.values("case_id"))
    case_ids = sorted(cases.values_list("pk", flat=True))
    if count is not None and count < len(case_ids):
        case_ids = sorted(random.Random(seed).sample(case_ids, count))
    return case_ids


def study_pinnable_model_versions(projects) -> list[tuple[str, str]]:
    """(project slug, model version) of every version with pre-annotations on the projects' cases: what an
    aided arm can show (a version with none would show nothing)."""
    return sorted(Finding.objects.filter(case__project__in=projects, source=Source.MODEL, read__isnull=True)
                  .exclude(model_version="").values_list("case__project__slug", "model_version").distinct())


def study_eligible_readers(projects) -> list[tuple[str, str]]:
    """(project slug, username) of the projects' readers: a reader role on the project (membership) and the
    platform's reader role, which ``study_create`` asks for. Nobody is offered from outside the projects."""
    return sorted(ProjectMembership.objects.filter(project__in=projects, role=ProjectMembership.Role.READER,
                                                   user__groups__name=Role.READER, user__is_active=True)
                  .values_list("project__slug", "user__username").distinct())


def study_site_codes(projects) -> list[str]:
    return sorted(Case.objects.filter(project__in=projects).exclude(site_code="")
                  .values_list("site_code", flat=True).distinct())


def study_session_progress(study: ReaderStudy) -> list[dict]:
    """Per study reader: sessions in all, submitted, in progress, and those waiting (an earlier period unfinished
    or the washout running, with the reason), in the readers' order of joining the study."""
    rows = []
    for study_reader in study.study_readers.select_related("user"):
        # Whether a period is open is access's rule (washout, order); one call per reader, a study has few.
        states = list(access.session_states(study_reader.user, study=study).values())
        waiting = [s for s in states if not s["available"] and s["state"] != "submitted"]
        rows.append({
            "reader": study_reader.user.username, "sessions": len(states),
            "submitted": sum(s["state"] == "submitted" for s in states),
            "in_progress": sum(s["state"] == "in_progress" for s in states),
            "waiting": len(waiting), "why": waiting[0]["why"] if waiting else "",
            "arm_order": ", ".join(study_reader.arm_order),
        })
    return rows


def study_flow(study: ReaderStudy, data: StudyData) -> dict:
    """The flow of cases and reads (STARD 2015 item 19): how the study's cases got their reference standard
    (readers' agreement, a senior's adjudication, an imported reference, none yet), the sessions planned and
    read per arm and repetition, and which cases the analysis includes and why the others are left out.

    ``data`` is the dashboard's input for the same study, so "included" means exactly the cases its
    statistics use: a reference value and at least one submitted reading."""
    case_ids = [int(c) for c in data.case_ids]
    provenances = defaultdict(set)
    for case_id, provenance in (GroundTruthItem.objects.filter(case_id__in=case_ids, instance__isnull=True)
                                .values_list("case_id", "provenance").distinct()):
        provenances[case_id].add(provenance)
    adjudicated = {GroundTruthItem.Provenance.READER_A, GroundTruthItem.Provenance.READER_B,
                   GroundTruthItem.Provenance.SENIOR}
    truth = {"agreement": 0, "adjudicated": 0, "imported": 0, "none": 0}
    for case_id in case_ids:
        found = provenances.get(case_id, set())
        key = ("none" if not found else "adjudicated" if found & adjudicated
               else "imported" if GroundTruthItem.Provenance.IMPORTED in found else "agreement")
        truth[key] += 1
    submitted = set(Read.objects.filter(context__startswith=f"study:{study.pk}:", status=Read.Status.SUBMITTED)
                    .values_list("reader_id", "case_id", "context"))
    sessions = defaultdict(lambda: {"planned": 0, "submitted": 0})
    for reader_id, case_id, arm, repetition in study.sessions.values_list("reader_id", "case_id", "arm",
                                                                          "repetition"):
        row = sessions[(arm, repetition)]
        row["planned"] += 1
        row["submitted"] += (reader_id, case_id, session_context(study.pk, arm, repetition)) in submitted
    has_truth = np.zeros(len(case_ids), dtype=bool)
    has_read = np.zeros(len(case_ids), dtype=bool)
    readers = [i for i, r in enumerate(data.raters) if r.kind == "reader"]
    for finding in data.findings.values():
        has_truth |= (finding.truth >= 0).any(1)
        if readers:
            has_read |= (finding.ratings[readers] >= 0).any(axis=(0, 2))
    return {
        "cases": len(case_ids),
        "reference_standard": truth,
        "sessions": [{"arm": arm, "repetition": repetition, **counts, "not_submitted": counts["planned"] -
                      counts["submitted"]} for (arm, repetition), counts in sorted(sessions.items())],
        "included": int((has_truth & has_read).sum()),
        "excluded": [{"reason": "no reference standard yet", "cases": int((~has_truth).sum())},
                     {"reason": "no submitted reading", "cases": int((has_truth & ~has_read).sum())}],
    }
