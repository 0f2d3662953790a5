"""The study report: report.html (tables and figures, printable), one CSV per table, everything as JSON, the
long-format CSV (one row per reader x case x level x finding) and iMRMC input files for MRMC AUC analysis.

``report_build`` computes the dashboard once and writes every file from it, so all outputs agree.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from django.template.loader import render_to_string
from django.utils import timezone

from studies import plots, selectors
from studies.stard import stard_rows
from studies.dashboard import StudyData, study_dashboard
from studies.models import ReaderStudy

LONG_COLUMNS = ["study", "case", "patient", "reader", "kind", "arm", "repetition", "level", "finding", "value",
                "truth", "positive", "truth_positive", "score", "seconds"]
# Keys every dashboard.json carries (the browser test and API clients check them).
JSON_KEYS = ("study", "raters", "levels", "findings", "n_cases", "tables", "figures", "generated_at")


def study_dashboard_for(study: ReaderStudy) -> tuple[StudyData, dict]:
    data = selectors.study_data(study)
    return data, study_dashboard(data)


def _csv_text(columns: list, rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def imrmc_text(data: StudyData, finding_name: str) -> str | None:
    """iMRMC input for one finding (units: case x disc level): the header (NR, N0, N1, NM), then after
    "BEGIN DATA:" truth rows ``-1,unit,0,truth`` and score rows ``reader,unit,modality,score``. Modalities are
    the arms; the model is one more reader in modality "model". Readers' scores are their grades (ordinal),
    the model's its P(positive). Units without a truth value are left out."""
    finding = data.findings[finding_name]
    n_cases, n_levels = finding.truth.shape
    truth = finding.truth.reshape(-1)
    known = np.flatnonzero(truth >= 0)
    positive = truth >= finding.positive_from
    unit_ids = [f"{int(data.case_ids[u // n_levels])}_{data.levels[u % n_levels].replace('/', '-')}"
                for u in range(n_cases * n_levels)]
    lines = []
    readers, modalities = set(), set()
    for r, rater in enumerate(data.raters):
        if rater.repetition != 1:
            continue
        ratings = finding.ratings[r].reshape(-1)
        scores = None
        if rater.kind == "model" and finding.model_scores is not None:
            scores = finding.model_scores.reshape(-1)
        reader_id = rater.name.replace(",", " ").replace(" ", "_")
        for u in known:
            if ratings[u] < 0:
                continue
            score = float(scores[u]) if scores is not None and np.isfinite(scores[u]) else float(ratings[u])
            lines.append(f"{reader_id},{unit_ids[u]},{rater.arm},{score:g}")
            readers.add(reader_id)
            modalities.add(rater.arm)
    if not lines:
        return None
    n1 = int(positive[known].sum())
    header = [f"SpineRead study {data.study['id']} ({data.study['name']}): {finding_name}, positive from "
              f"{finding.values[finding.positive_from]!r}; units are case_disc-level",
              f"NR: {len(readers)}", f"N0: {len(known) - n1}", f"N1: {n1}", f"NM: {len(modalities)}", "",
              "BEGIN DATA:"]
    truth_lines = [f"-1,{unit_ids[u]},0,{int(positive[u])}" for u in known]
    return "\n".join(header + truth_lines + lines) + "\n"


def report_files(study: ReaderStudy) -> dict[str, bytes]:
    """Every report file by its relative path."""
    data, dashboard = study_dashboard_for(study)
    dashboard["generated_at"] = timezone.now().isoformat()
    dashboard["flow"] = selectors.study_flow(study, data)
    dashboard["stard"] = stard_rows()
    figures = plots.dashboard_figures(dashboard, confusion=True)
    files: dict[str, bytes] = {}
    for name, table in dashboard["tables"].items():
        files[f"tables/{name}.csv"] = _csv_text(table["columns"], table["rows"]).encode()
    files["dashboard.json"] = json.dumps(dashboard, indent=1, allow_nan=False).encode()
    files["long.csv"] = _csv_text(LONG_COLUMNS, selectors.study_long_rows(study, data)).encode()
    for finding_name in data.findings:
        text = imrmc_text(data, finding_name)
        if text:
            files[f"imrmc/{finding_name}.imrmc"] = text.encode()
    for name, png in figures.items():
        files[f"figures/{name}.png"] = png
    html = render_to_string("studies/report.html", {
        "study": study, "dashboard": dashboard, "tables": _display_tables(dashboard),
        "figures": {name: plots.data_uri(png) for name, png in figures.items()},
        "files": sorted(files),
    })
    files["report.html"] = html.encode()
    return files


def _display_tables(dashboard: dict) -> list[dict]:
    """Tables for HTML: numbers rounded to 3 decimals (the CSV and JSON keep full precision)."""
    shown = []
    for name, table in dashboard["tables"].items():
        rows = [[_display(row.get(c)) for c in table["columns"]] for row in table["rows"]]
        shown.append({"name": name, "title": table["title"], "columns": table["columns"], "rows": rows})
    return shown


def _display(value):
    if isinstance(value, float):
        return f"{value:.3f}"
    return "" if value is None else value


def report_write(study: ReaderStudy, out_dir: Path | str) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for relative, content in report_files(study).items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def report_zip(study: ReaderStudy) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative, content in report_files(study).items():
            archive.writestr(f"study-{study.pk}/{relative}", content)
    return buffer.getvalue()
