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
