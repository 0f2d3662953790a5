"""What the dashboard computes from: a study's raters, findings, reading times and boxes as plain arrays.

``studies.selectors.study_data`` fills these from the database; nothing here touches it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODEL_ARM = "model"
ALL_LEVELS = "all"


@dataclass(frozen=True)
class Rater:
    key: str  # "username|arm|repetition" or "model"
    name: str
    kind: str  # "reader" or "model"
    arm: str  # "unaided", "aided" or MODEL_ARM
    repetition: int = 1
    years_experience: int | None = None


@dataclass
class FindingData:
    """One finding's values as codes into ``values`` (clinical order); -1 where nothing was recorded."""

    name: str
    label: str
    values: tuple
    scale: str  # ordinal, nominal, binary
    positive_from: int  # codes >= this count as positive
    truth: np.ndarray  # (n_cases, n_levels)
    ratings: np.ndarray  # (n_raters, n_cases, n_levels)
    model_scores: np.ndarray | None = None  # (n_cases, n_levels) model's P(positive); NaN where none


@dataclass
class StudyData:
    study: dict
    case_ids: np.ndarray
    patient_keys: list
    levels: list
    findings: dict  # name -> FindingData
    raters: list  # Rater, in the order of FindingData.ratings' first axis
    seconds: np.ndarray  # (n_raters, n_cases) active reading seconds; NaN where not read (always for the model)
    iou_threshold: float  # the project's box_iou_threshold: a box matches a truth box at IoU >= this
    review_counts: dict = field(default_factory=dict)  # (rater key, finding) -> {action: count, "suggested": n}
    # Per image: {"instance": id, "case": id, "truth": [(cls, box)], "pred": {rater key: [(cls, box, score)]}},
    # score None for a reader's box (readers give none: their boxes are matched by the unscored rule).
    images: list = field(default_factory=list)
