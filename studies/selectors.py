"""Reads for reader studies: the arrays the dashboard needs. Who may see a study or a session is decided in
`access`. ``study_data`` builds the dashboard's arrays in a fixed number of queries, whatever the study's size.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from annotation.models import Finding, GroundTruthItem, Read, ReaderProfile, ReviewAction, Source
from annotation.schema import finding_specs
from studies.dashboard import DEFAULT_POSITIVE_FROM, MODEL_ARM, FindingData, Rater, StudyData
from studies.models import ReaderStudy, StudyCase, StudyReader, session_context


# The dashboard's arrays -----------------------------------------------------------------------------------------


def _codes_table(specs: dict) -> dict:
    return {name: {value: code for code, value in enumerate(spec.values)} for name, spec in specs.items()}


def study_data(study: ReaderStudy) -> StudyData:
    """Ground truth, every submitted study read and the pinned model's findings, as code arrays.

    A value at (case, level, finding) is the explicit value finding if there is one, else the highest value
    among the boxes drawn for that level and finding, else, where absence means negative (a positive-only
    project, and always for the model, which only reports what it finds), the finding's negative value for
    a case that the rater read; otherwise missing (-1)."""
    project = study.project
    schema = project.label_schema
    specs = finding_specs(schema)
    levels = list(schema["levels"])
    level_index = {level: i for i, level in enumerate(levels)}
    codes = _codes_table(specs)
    labels = {f["name"]: f.get("label", f["name"]) for f in schema["findings"]}
    positive_only = project.labelling_mode == project.LabellingMode.POSITIVE_ONLY

    study_cases = list(StudyCase.objects.filter(study=study).order_by("case_id")
                       .values_list("case_id", "case__patient_key"))
    case_ids = np.array([c for c, _ in study_cases], dtype=np.int64)
    case_index = {c: i for i, (c, _) in enumerate(study_cases)}
    n_cases, n_levels = len(case_ids), len(levels)
    case_subquery = StudyCase.objects.filter(study=study).values("case_id")

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

    # Submitted study reads, latest version per case, reader and session context.
    latest = {}
    for read_id, case_id, reader_id, context, version, seconds in (
            Read.objects.filter(context__startswith=f"study:{study.pk}:", status=Read.Status.SUBMITTED,
                                case_id__in=case_subquery)
            .values_list("id", "case_id", "reader_id", "context", "version", "active_seconds")):
        key = (case_id, reader_id, context)
        if key not in latest or latest[key][1] < version:
            latest[key] = (read_id, version, seconds)
    read_rows = {}
    for (case_id, reader_id, context), (read_id, _v, secs) in latest.items():
        r = rater_index.get((reader_id, context))
        if r is not None and case_id in case_index:
            read_rows[read_id] = (r, case_index[case_id], secs)

    model_rows = Finding.objects.filter(case_id__in=case_subquery, source=Source.MODEL, read__isnull=True,
                                        model_version=study.model_version) if study.model_version else None
    model_findings = list(model_rows.values_list("case_id", "disc_level", "finding_type", "value", "instance_id",
                                                 "x0", "y0", "x1", "y1", "score")) if model_rows is not None else []
    has_model = bool(model_findings)
    if has_model:
        model_r = len(raters)
        raters.append(Rater("model", f"model {study.model_version}", "model", MODEL_ARM, 1, None))
    n_raters = len(raters)

    seconds = np.full((n_raters, n_cases), np.nan)
    rater_read = np.zeros((n_raters, n_cases), dtype=bool)
    for r, ci, secs in read_rows.values():
        seconds[r, ci] = secs
        rater_read[r, ci] = True

    explicit = {name: np.full((n_raters, n_cases, n_levels), -1, dtype=np.int16) for name in specs}
    boxed = {name: np.full((n_raters, n_cases, n_levels), -1, dtype=np.int16) for name in specs}
    truth_explicit = {name: np.full((n_cases, n_levels), -1, dtype=np.int16) for name in specs}
    truth_boxed = {name: np.full((n_cases, n_levels), -1, dtype=np.int16) for name in specs}
    images: dict[int, dict] = {}
    classes = {name: spec.classes for name, spec in specs.items()}

    def image_for(instance_id, case_id):
        image = images.get(instance_id)
        if image is None:
            image = images[instance_id] = {"instance": instance_id, "case": case_id, "truth": [], "pred": {}}
        return image

    # Ground truth.
    truth_cases = np.zeros(n_cases, dtype=bool)
    for case_id, level, name, value, instance_id, x0, y0, x1, y1 in (
            GroundTruthItem.objects.filter(case_id__in=case_subquery)
            .values_list("case_id", "disc_level", "finding_type", "value", "instance_id", "x0", "y0", "x1", "y1")):
        ci, li = case_index.get(case_id), level_index.get(level)
        code = codes.get(name, {}).get(value)
        if ci is None or li is None or code is None:
            continue
        truth_cases[ci] = True
        if x0 is None:
            truth_explicit[name][ci, li] = code
        else:
            truth_boxed[name][ci, li] = max(truth_boxed[name][ci, li], code)
            cls = classes[name].get(value)
            if cls:
                image_for(instance_id, case_id)["truth"].append((cls, (x0, y0, x1, y1)))

    # Readers' findings: value findings (the bulk) in one narrow query, boxes in another.
    lookup = {(level, name, value): (li, name, code) for name, table in codes.items() for value, code in table.items()
              for level, li in level_index.items()}
    study_reads = Finding.objects.filter(read__context__startswith=f"study:{study.pk}:",
                                         read__status=Read.Status.SUBMITTED)
    review = defaultdict(lambda: defaultdict(int))
    cells = defaultdict(list)  # finding -> [(rater, case, level, code)]
    deleted = ReviewAction.DELETED.value
    for read_id, level, name, value, action in study_reads.filter(x0__isnull=True).values_list(
            "read_id", "disc_level", "finding_type", "value", "review_action"):
        row = read_rows.get(read_id)
        if row is None:
            continue
        if action:
            review[(raters[row[0]].key, name)][action] += 1
            if action == deleted:
                continue
        key = lookup.get((level, name, value))
        if key is not None:
            cells[name].append((row[0], row[1], key[0], key[2]))
    for name, entries in cells.items():
        r_idx, c_idx, l_idx, code = np.array(entries, dtype=np.int64).T
        explicit[name][r_idx, c_idx, l_idx] = code
    for read_id, level, name, value, instance_id, x0, y0, x1, y1, action in study_reads.filter(
            x0__isnull=False).values_list("read_id", "disc_level", "finding_type", "value", "instance_id", "x0",
                                          "y0", "x1", "y1", "review_action"):
        row = read_rows.get(read_id)
        if row is None:
            continue
        r, ci, _ = row
        if action:
            review[(raters[r].key, name)][action] += 1
        if action == deleted:
            continue
        li, code = level_index.get(level), codes.get(name, {}).get(value)
        if li is None or code is None:
            continue
        boxed[name][r, ci, li] = max(boxed[name][r, ci, li], code)
        cls = classes[name].get(value)
        if cls:
            image_for(instance_id, int(case_ids[ci]))["pred"].setdefault(raters[r].key, []).append(
                (cls, (x0, y0, x1, y1), 1.0))

    # The pinned model's findings: values, P(positive) per unit, and scored boxes.
    positive_from = {name: _positive_code(name, spec, study.positive_from) for name, spec in specs.items()}
    model_scores = {name: np.full((n_cases, n_levels), np.nan) for name in specs}
    suggested = defaultdict(int)  # (case index, finding) -> model findings shown in the aided arm
    for case_id, level, name, value, instance_id, x0, y0, x1, y1, score in model_findings:
        ci, li = case_index.get(case_id), level_index.get(level)
        code = codes.get(name, {}).get(value)
        if ci is None or li is None or code is None:
            continue
        rater_read[model_r, ci] = True
        suggested[(ci, name)] += 1
        positive = code >= positive_from[name]
        p_pos = (1.0 if positive else 0.0) if score is None else (score if positive else 1.0 - score)
        current = model_scores[name][ci, li]
        model_scores[name][ci, li] = p_pos if np.isnan(current) else max(current, p_pos)
        if x0 is None:
            explicit[name][model_r, ci, li] = code
        else:
            boxed[name][model_r, ci, li] = max(boxed[name][model_r, ci, li], code)
            cls = classes[name].get(value)
            if cls:
                image_for(instance_id, case_id)["pred"].setdefault("model", []).append(
                    (cls, (x0, y0, x1, y1), 1.0 if score is None else float(score)))

    findings = {}
    for name, spec in specs.items():
        negative = 0 if spec.values[0] not in spec.classes else None
        ratings = np.where(explicit[name] >= 0, explicit[name], boxed[name])
        truth = np.where(truth_explicit[name] >= 0, truth_explicit[name], truth_boxed[name])
        if negative is not None:
            fill = np.zeros((n_raters, n_cases, 1), dtype=bool)
            if positive_only:
                fill[:, :, 0] = rater_read
                truth[(truth < 0) & truth_cases[:, None]] = negative
            if has_model:
                fill[model_r, :, 0] = rater_read[model_r]
            ratings[(ratings < 0) & fill] = negative
        scores = None
        if has_model:
            scores = model_scores[name]
            scores[np.isnan(scores) & rater_read[model_r][:, None]] = 0.0
        findings[name] = FindingData(name, labels[name], spec.values, spec.scale, positive_from[name],
                                     truth.astype(np.int64), ratings.astype(np.int64), scores)

    review_counts = {}
    for (key, name), counts in review.items():
        review_counts[(key, name)] = dict(counts)
    if has_model:
        for r, rater in enumerate(raters):
            if rater.kind != "reader" or rater.arm != "aided":
                continue
            read_cases = np.flatnonzero(rater_read[r])
            for name in specs:
                n = sum(suggested.get((int(ci), name), 0) for ci in read_cases)
                if n or (rater.key, name) in review_counts:
                    review_counts.setdefault((rater.key, name), {})["suggested"] = n

    return StudyData(
        study={"id": study.pk, "name": study.name, "project": project.slug, "design": study.design,
               "arms": list(study.arms), "model_version": study.model_version, "washout_days": study.washout_days,
               "repeat_fraction": study.repeat_fraction, "labelling_mode": project.labelling_mode},
        case_ids=case_ids, patient_keys=[p for _, p in study_cases], levels=levels, findings=findings,
        raters=raters, seconds=seconds, review_counts=review_counts,
        images=[images[k] for k in sorted(images)],
    )


def _positive_code(name: str, spec, overrides: dict) -> int:
    value = (overrides or {}).get(name) or DEFAULT_POSITIVE_FROM.get(name)
    if value in spec.values:
        return spec.values.index(value)
    return 1 if len(spec.values) > 1 else 0


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
