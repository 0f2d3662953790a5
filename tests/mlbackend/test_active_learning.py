"""The active-learning strategy: informativeness of a case from its detections, and Label Studio's task score."""
import math

import pytest

from annotation.schema import DEFAULT_SCHEMA, default_schema
from mlbackend.active_learning import WEIGHTS, _normalised_entropy, informativeness, task_score
from mlbackend.adapter import Detection
from tests.mlbackend.conftest import axial, disc, sagittal

FIVE = [disc(40 + 50 * i, grade=3, score=0.95) for i in range(5)]


def test_informativeness_rewards_uncertainty_disagreement_and_rare_classes():
    confident = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE)])
    torn = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE[:4], disc(240, 3, 0.5), disc(241, 4, 0.45))])
    rare = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE[:4], disc(240, 5, 0.95))])
    nothing = informativeness(DEFAULT_SCHEMA, [sagittal()])
    axial_hiz = axial(Detection("hiz", 0.9, (1.0, 1.0, 9.0, 9.0)), instance_id=2)
    disagree = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE), axial_hiz])

    assert torn["uncertainty"] > confident["uncertainty"]
    assert nothing["uncertainty"] == 1.0 and nothing["score"] > confident["score"]
    assert rare["rare_bonus"] == 0.95 and confident["rare_bonus"] == 0.0 and rare["score"] > confident["score"]
    assert disagree["plane_disagreement"] == 0.2 and confident["plane_disagreement"] == 0.0


def test_informativeness_parts_and_weighted_sum_exactly():
    """Five confident discs: each an entropy of (0.95, background 0.05), no disagreement, no rare finding."""
    entropy = -(0.95 * math.log(0.95) + 0.05 * math.log(0.05)) / math.log(3)
    assert informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE)]) == {
        "score": round(WEIGHTS["uncertainty"] * entropy, 6), "uncertainty": round(entropy, 6),
        "plane_disagreement": 0.0, "rare_bonus": 0.0}
    # two discs found of five levels: three fully uncertain levels join the mean
    two = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE[3:])])
    assert two["uncertainty"] == round((2 * entropy + 3 * 1.0) / 5, 6)
    # rare findings sum their scores, capped at 1
    slip = Detection("listhesis", 0.7, (80.0, 205.0, 140.0, 230.0))
    capped = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE[:4], disc(240, 5, 0.95), slip)])
    assert capped["rare_bonus"] == 1.0
    assert informativeness(DEFAULT_SCHEMA, []) == {"score": 1.0, "uncertainty": 1.0, "plane_disagreement": 0.0,
                                                  "rare_bonus": 0.0}


def test_rare_values_come_from_the_schema():
    schema = default_schema()
    next(f for f in schema["findings"] if f["name"] == "pfirrmann")["rare_values"] = ["3"]
    assert informativeness(schema, [sagittal(*FIVE)])["rare_bonus"] == 1.0
    assert informativeness(schema, [sagittal(*FIVE[:4], disc(240, 5, 0.95))])["rare_bonus"] == 1.0
    assert informativeness(schema, [sagittal(disc(240, 5, 0.95))])["rare_bonus"] == 0.0


def test_a_finding_read_on_both_planes_counts_disagreement_per_level():
    """HIZ is read on both planes: an axial HIZ at L5/S1 the sagittal image lacks is one level of five; a
    Schmorl's node (sagittal only) never counts."""
    hiz = Detection("hiz", 0.9, (100.0, 240.0, 108.0, 248.0))
    agree = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE, hiz), axial(hiz)])
    disagree = informativeness(DEFAULT_SCHEMA, [sagittal(*FIVE), axial(hiz), axial(hiz, rank=1)])
    assert agree["plane_disagreement"] == 0.0 and disagree["plane_disagreement"] == 0.4


@pytest.mark.parametrize(("scores", "expected"), [
    ([1.0], 0.0),                      # certain, no background
    ([0.5], math.log(2) / math.log(3)),  # one class at 0.5 against 0.5 background
    ([0.5, 0.5], math.log(3) / math.log(4)),  # two classes and the background, a third each
    ([0.0], 0.0),
])
def test_normalised_entropy(scores, expected):
    assert _normalised_entropy(scores) == pytest.approx(expected, abs=1e-12)


def test_task_score_is_the_mean_box_confidence():
    assert task_score([disc(1, score=0.5), disc(50, score=0.8)]) == 0.65
    assert task_score([]) == 0.0
