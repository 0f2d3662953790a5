"""How the readers read: active seconds per case, unaided against aided time, and what they did with the model's
pre-annotations in the aided arm."""
from __future__ import annotations

import numpy as np

from stats.comparisons import paired_times
from studies.dashboard.cells import num, safe
from studies.dashboard.data import StudyData


def time_tables(data: StudyData, tables: dict) -> None:
    times, paired = tables["reading_time"]["rows"], tables["reading_time_paired"]["rows"]
    by_key = {}
    for i, rater in enumerate(data.raters):
        if rater.kind != "reader":
            continue
        seconds = data.seconds[i]
        read = seconds[np.isfinite(seconds)]
        by_key[(rater.name, rater.arm, rater.repetition)] = seconds
        times.append({"reader": rater.name, "arm": rater.arm, "repetition": rater.repetition, "n": int(read.size),
                      "mean_s": num(read.mean()) if read.size else None,
                      "median_s": num(np.median(read)) if read.size else None,
                      "sd_s": num(read.std(ddof=1)) if read.size > 1 else None,
                      "total_s": num(read.sum())})
    for (name, arm, repetition), unaided in by_key.items():
        aided = by_key.get((name, "aided", repetition))
        if arm != "unaided" or aided is None:
            continue
        mask = np.isfinite(unaided) & np.isfinite(aided)
        result = safe(paired_times, unaided[mask], aided[mask])
        if result is None:
            continue
        paired.append({"reader": name, "repetition": repetition, "mean_unaided_s": num(result.mean_a),
                       "mean_aided_s": num(result.mean_b), "mean_difference_s": num(result.mean_difference),
                       "ci_low": num(result.ci[0]), "ci_high": num(result.ci[1]),
                       "t_p": num(result.t_p_value), "wilcoxon_p": num(result.wilcoxon_p_value), "n": result.n})


def review_table(data: StudyData, tables: dict) -> None:
    rows = tables["model_review"]["rows"]
    names = {r.key: r for r in data.raters}
    for (key, finding), counts in sorted(data.review_counts.items()):
        rater = names.get(key)
        if rater is None:
            continue
        suggested = counts.get("suggested", 0)
        reviewed = sum(counts.get(a, 0) for a in ("accepted", "edited", "deleted"))
        rows.append({"reader": rater.name, "arm": rater.arm, "repetition": rater.repetition, "finding": finding,
                     "suggested": suggested, "accepted": counts.get("accepted", 0),
                     "edited": counts.get("edited", 0), "deleted": counts.get("deleted", 0),
                     "added": counts.get("added", 0), "not_reviewed": max(suggested - reviewed, 0),
                     "accepted_share": num(counts.get("accepted", 0) / suggested) if suggested else None,
                     "n": suggested})
