"""The hospital's DICOM nodes a project takes studies from."""
from django.core.validators import RegexValidator
from django.db import models

from annotation.models import Project


class DicomNode(models.Model):
    """A calling AE title allowed to send to a project's DICOM receiver.

    A project with no node takes associations from any calling AE (a receiver on loopback or behind the
    hospital's firewall); once it has one, every other calling AE is refused at association.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dicom_nodes")
    # AE titles are at most 16 characters of the default repertoire, no backslash (PS3.5 6.2, VR AE).
    calling_ae_title = models.CharField(max_length=16, validators=[RegexValidator(
        r"^(?! *$)[ -\[\]-~]+$", "1 to 16 printable ASCII characters, not only spaces, no backslash")])
    description = models.CharField(max_length=200, blank=True, help_text="e.g. the PACS or modality it is")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "calling_ae_title"], name="dicom_node_unique")]
        ordering = ["project", "calling_ae_title"]
        verbose_name = "DICOM node"

    def __str__(self) -> str:
        return f"{self.calling_ae_title} -> {self.project.slug}"
