"""Reading times and what readers did with the model's pre-annotations, against the simulation."""
from __future__ import annotations

import numpy as np
import pytest

from stats.comparisons import paired_times
from tests.studies.simulated_study import ACCURACY, MODEL_FINDINGS, one_row

# The package fixture builds its study in the test database, which pytest-django sets up for marked tests
# only.
pytestmark = pytest.mark.django_db

READERS = list(ACCURACY)


def test_reading_time_per_reader_and_arm_and_paired(dashboard_and_sim):
    dashboard, sim = dashboard_and_sim
    seconds = sim["seconds"]
    for reader in READERS:
        for arm in ("unaided", "aided"):
            row = one_row(dashboard, "reading_time", reader=reader, arm=arm, repetition=1)
            assert row["n"] == 20 and row["mean_s"] == pytest.approx(np.mean(list(seconds[(reader, arm, 1)].values())),
                                                                     abs=1e-12)
        cases = sorted(seconds[(reader, "unaided", 1)])
        paired = paired_times([seconds[(reader, "unaided", 1)][c] for c in cases],
                              [seconds[(reader, "aided", 1)][c] for c in cases])
        row = one_row(dashboard, "reading_time_paired", reader=reader, repetition=1)
        assert row["t_p"] == pytest.approx(paired.t_p_value, abs=1e-12) and row["n"] == 20


def test_model_review_counts_accepted_and_edited_suggestions(dashboard_and_sim):
    """Accepted / edited model findings in the aided arm (first readings and repeats counted per session)."""
    dashboard, sim = dashboard_and_sim
    for reader in READERS:
        reads = sim["reads"][(reader, "aided", 1)]
        for name in MODEL_FINDINGS:
            row = one_row(dashboard, "model_review", reader=reader, finding=name, repetition=1)
            first_units = {u for u in reads if u[2] == name}
            expected = {"accepted": 0, "edited": 0}
            for u in first_units:
                expected["accepted" if reads[u] == sim["model"][u] else "edited"] += 1
            assert (row["accepted"], row["edited"], row["suggested"]) == (
                expected["accepted"], expected["edited"], len(first_units))
            assert row["accepted_share"] == expected["accepted"] / len(first_units)
