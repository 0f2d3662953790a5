"""Reader studies: which cases, which readers, which model version, and each reader's reading sessions.

A study reads cases whose ground truth is final (they become ``split="study"``, so they are never trained
on). Each reader reads each case once per arm (without and/or with the model's pre-annotations); a random
subset is read a second time after the washout for intra-reader agreement. A session's reads live in the
annotation app as ``Read`` rows whose ``context`` is the session's context string, so a study read never
mixes with the project's primary double reading (context "").
"""
from django.conf import settings
from django.db import models

from annotation.models import Case, Project


class Arm(models.TextChoices):
    UNAIDED = "unaided", "Without model help"
    AIDED = "aided", "With model pre-annotations"


class ReaderStudy(models.Model):
    class Design(models.TextChoices):
        UNAIDED = "unaided", "Unaided only"
        AIDED = "aided", "Aided only"
        BOTH = "both", "Both arms, randomised order per reader, washout between"

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="reader_studies")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    design = models.CharField(max_length=16, choices=Design, default=Design.UNAIDED)
    model_version = models.CharField(max_length=64, blank=True,
                                     help_text="The model version whose findings the aided arm shows and the "
                                               "dashboard scores as one more reader (pinned at creation)")
    washout_days = models.PositiveIntegerField(default=28, help_text="Days between a reader's periods")
    repeat_fraction = models.FloatField(default=0.0, help_text="Share of cases read a second time (intra-reader)")
    seed = models.IntegerField(default=0, help_text="Seed of the randomised arm order, case order and repeats")
    # Where a finding counts as positive for sensitivity/specificity/AUC: the first value in clinical order
    # that is "positive", per finding (e.g. {"herniation": "protrusion"}); the schema's positive_from
    # (annotation.schema.FindingSpec) fills in findings not named here.
    positive_from = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"study {self.pk}: {self.name}"

    @property
    def arms(self) -> list[str]:
        return [Arm.UNAIDED, Arm.AIDED] if self.design == self.Design.BOTH else [self.design]


class StudyCase(models.Model):
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="study_cases")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    repeat = models.BooleanField(default=False, help_text="In the random subset read twice (intra-reader)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "case"], name="studycase_unique")]
        ordering = ["id"]


class StudyReader(models.Model):
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="study_readers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    arm_order = models.JSONField(default=list, help_text="This reader's arms in the order read (randomised)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "user"], name="studyreader_unique")]
        ordering = ["id"]


class StudySession(models.Model):
    """One reading of one case by one reader in one arm (repetition 2 is the repeat after washout).

    ``period`` orders a reader's work: period p opens when every session of period p - 1 is submitted and the
    washout has passed since the last of them.
    """

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="sessions")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    arm = models.CharField(max_length=16, choices=Arm)
    repetition = models.PositiveSmallIntegerField(default=1)
    period = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveIntegerField(help_text="Order within the reader's period (randomised)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "reader", "case", "arm", "repetition"],
                                               name="studysession_unique")]
        ordering = ["reader_id", "period", "position"]

    @property
    def context(self) -> str:
        return session_context(self.study_id, self.arm, self.repetition)


def session_context(study_id: int, arm: str, repetition: int) -> str:
    """The Read.context of a study session, e.g. "study:7:aided:1"."""
    return f"study:{study_id}:{arm}:{repetition}"


def parse_session_context(context: str) -> tuple[int, str, int] | None:
    parts = context.split(":")
    if len(parts) != 4 or parts[0] != "study" or not parts[1].isdigit() or not parts[3].isdigit():
        return None
    return int(parts[1]), parts[2], int(parts[3])
