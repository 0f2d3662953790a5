"""study_data: the dashboard's arrays read from the database, each step's rule checked on a small study."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import services
from annotation.models import Case, GroundTruthItem, Role
from annotation.schema import LUMBAR_LEVELS
from studies import selectors
from studies.models import StudySession
from studies.services import study_create, study_session_open, study_session_submit
from tests.conftest import make_user
from tests.factories import CaseFactory
from tests.studies.simulated_study import SPECS, build_study

pytestmark = pytest.mark.django_db


def _one_case_study(*, labelling_mode: str, positive_from: dict | None = None, box_iou_threshold: float = 0.5):
    """One case with imported Pfirrmann 3 at every level, read once in an unaided study: Pfirrmann 2 at L1/L2 and
    a protrusion at L4/L5, nothing else."""
    coordinator = make_user("coord", Role.COORDINATOR)
    project = services.project_create(slug="selectors", name="Selectors", actor=coordinator,
                                      labelling_mode=labelling_mode, box_iou_threshold=box_iou_threshold)
    case = CaseFactory(project=project, status=Case.Status.GROUND_TRUTH)
    GroundTruthItem.objects.bulk_create([
        GroundTruthItem(case=case, disc_level=level, finding_type="pfirrmann", value="3",
                        provenance=GroundTruthItem.Provenance.IMPORTED) for level in LUMBAR_LEVELS])
    reader = make_user("ann", Role.READER)
    study = study_create(project=project, name="One case", case_ids=[case.pk], readers=[reader], design="unaided",
                         washout_days=0, positive_from=positive_from, actor=coordinator)
    session = StudySession.objects.get(study=study)
    study_session_open(session=session, reader=reader)
    findings = [services.FindingInput(disc_level="L1/L2", finding_type="pfirrmann", value="2"),
                services.FindingInput(disc_level="L4/L5", finding_type="herniation", value="protrusion")]
    if labelling_mode == "exhaustive":  # every other level and finding at its first value
        given = {(f.disc_level, f.finding_type) for f in findings}
        findings += [services.FindingInput(disc_level=level, finding_type=name, value=spec.values[0])
                     for level in LUMBAR_LEVELS for name, spec in SPECS.items() if (level, name) not in given]
    study_session_submit(session=session, reader=reader, findings=findings, active_seconds=12.0)
    return study


def test_positive_only_absence_is_the_schemas_negative_value():
    data = selectors.study_data(_one_case_study(labelling_mode="positive_only"))
    herniation, pfirrmann, hiz = (data.findings[name] for name in ("herniation", "pfirrmann", "hiz"))
    # The schema's negative ("none", "absent") stands in for what the reader left out, for them and the truth ...
    assert herniation.ratings[0, 0].tolist() == [0, 0, 0, 2, 0] and herniation.truth[0].tolist() == [0] * 5
    assert hiz.ratings[0, 0].tolist() == [0] * 5
    # ... but a Pfirrmann grade has no negative value: a grade not given stays missing.
    assert pfirrmann.ratings[0, 0].tolist() == [1, -1, -1, -1, -1] and pfirrmann.truth[0].tolist() == [2] * 5
    assert 0 < data.seconds[0, 0] <= 12.0  # active seconds, capped by the wall-clock time since opening


def test_exhaustive_reads_are_taken_as_given():
    data = selectors.study_data(_one_case_study(labelling_mode="exhaustive"))
    assert data.findings["pfirrmann"].ratings[0, 0].tolist() == [1, 0, 0, 0, 0]
    # The truth imported only Pfirrmann: the other findings' truth stays missing in an exhaustive project.
    assert data.findings["herniation"].truth[0].tolist() == [-1] * 5


def test_positive_from_is_the_schemas_unless_the_study_says():
    data = selectors.study_data(_one_case_study(labelling_mode="positive_only",
                                                positive_from={"herniation": "extrusion"}))
    codes = {name: finding.values[finding.positive_from] for name, finding in data.findings.items()}
    assert codes == {"pfirrmann": "4", "herniation": "extrusion", "hiz": "present", "schmorl": "present",
                     "listhesis": "1"}


def test_the_projects_box_threshold_travels_with_the_data():
    data = selectors.study_data(_one_case_study(labelling_mode="positive_only", box_iou_threshold=0.3))
    assert data.iou_threshold == 0.3 and data.images == []


def test_study_data_uses_a_fixed_number_of_queries():
    study, _sim = build_study()
    with CaptureQueriesContext(connection) as queries:
        selectors.study_data(study)
    assert len(queries) <= 12
