"""factory-boy factories for rows that tests need without going through DICOM ingest."""
import factory

from annotation.models import Case, Project


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    project = factory.SubFactory(ProjectFactory)
    patient_key = factory.Sequence(lambda n: f"{n:032x}")
    study_instance_uid = factory.Sequence(lambda n: f"2.25.{1000 + n}")
    modality = "MR"


def unaided_study_of_one_case(*, case: Case, name: str, coordinator, reader_name: str = "studyreader"):
    """A one-reader unaided study (no washout) of a case given imported Pfirrmann 3 ground truth at every
    level: the smallest study a session can be read in. Returns (study, its reader)."""
    from annotation.models import GroundTruthItem, Role
    from annotation.schema import LUMBAR_LEVELS
    from studies.services import study_create
    from tests.conftest import make_user

    GroundTruthItem.objects.bulk_create([
        GroundTruthItem(case=case, disc_level=level, finding_type="pfirrmann", value="3",
                        provenance=GroundTruthItem.Provenance.IMPORTED) for level in LUMBAR_LEVELS])
    Case.objects.filter(pk=case.pk).update(status=Case.Status.GROUND_TRUTH)
    reader = make_user(reader_name, Role.READER)
    study = study_create(project=case.project, name=name, case_ids=[case.pk], readers=[reader],
                         design="unaided", washout_days=0, actor=coordinator)
    return study, reader


def ground_truth_case(project, *, site="A", split="", herniation="none", status=Case.Status.GROUND_TRUTH) -> Case:
    """A case whose ground truth holds one herniation value at L4/L5: what the study form's filter picks from."""
    from annotation.models import GroundTruthItem

    case = CaseFactory(project=project, site_code=site, split=split, status=status)
    GroundTruthItem.objects.create(case=case, disc_level="L4/L5", finding_type="herniation", value=herniation,
                                   provenance=GroundTruthItem.Provenance.IMPORTED)
    return case
