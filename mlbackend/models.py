"""The model registry, training runs, per-project ML settings and active-learning scores.

A trained model becomes a ModelVersion only once its training finished and it was evaluated; which version a
project serves is one pointer (ProjectModelSettings.served_version), so promotion and rollback are one update
and a training killed at any moment leaves both untouched.
"""
from django.conf import settings
from django.db import models

from annotation.models import Case, Project
from mlbackend.configs import DEFAULT_CONFIG


class ProjectModelSettings(models.Model):
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="model_settings")
    config_name = models.CharField(max_length=64, default=DEFAULT_CONFIG, help_text="A file in mlbackend/configs/")
    retrain_after_cases = models.PositiveIntegerField(
        default=20, help_text="Queue a training once this many new ground-truth cases exist (0: never)")
    retrain_crontab = models.CharField(
        max_length=64, blank=True, help_text="Scheduled retraining, cron syntax 'm h dom mon dow'; empty: none")
    epochs = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the config's epochs")
    imgsz = models.PositiveIntegerField(null=True, blank=True, help_text="Overrides the config's image size")
    served_version = models.ForeignKey("ModelVersion", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")

    def __str__(self):
        return f"ML settings of {self.project}"


class ModelVersion(models.Model):
    """One trained model, kept whether or not it was promoted."""

    class Decision(models.TextChoices):
        PROMOTED = "promoted", "Promoted (beat the served model)"
        REJECTED = "rejected", "Kept, not served (did not beat the served model)"
        REGISTERED = "registered", "Registered (imported, e.g. the starter model)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    version = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    config_name = models.CharField(max_length=64)
    config = models.JSONField(default=dict)
    class_names = models.JSONField(default=list)
    training_case_ids = models.JSONField(default=list, help_text="The training set snapshot")
    validation_case_ids = models.JSONField(default=list)
    heldout_case_ids = models.JSONField(default=list, help_text="The held-out test cases the metrics come from")
    metrics = models.JSONField(default=dict, help_text="map50, map50_95, per_class on the held-out set")
    gate = models.JSONField(default=dict, help_text="The promotion decision's evidence")
    decision = models.CharField(max_length=16, choices=Decision)
    file = models.CharField(max_length=255, help_text="Path relative to MEDIA_ROOT")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField(default=0)
    device = models.CharField(max_length=64, blank=True)
    train_seconds = models.FloatField(default=0.0)
    epochs = models.PositiveIntegerField(default=0)
    imgsz = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="model_version_unique")]
        ordering = ["project", "version"]

    @property
    def label(self) -> str:
        return f"{self.project.slug}-v{self.version}"

    @property
    def is_two_stage(self) -> bool:
        """A detector and a level classifier in one file (level_model.TwoStageAdapter), not a YOLO checkpoint."""
        return self.config.get("task") == "two_stage"

    @property
    def predict_conf(self) -> float:
        """Boxes the model reports at all: low, so that the informativeness sees the classes it hesitates over."""
        return float(self.config.get("conf", 0.05))

    @property
    def findings_conf(self) -> float:
        """Boxes shown to readers (stored as model findings, answered to Label Studio) need this score; at the
        predict threshold every disc would carry a faint HIZ, Schmorl's node and herniation to delete."""
        return float(self.config.get("findings_conf", 0.25))

    def __str__(self):
        return self.label


class TrainingRun(models.Model):
    """A training job. Status moves only along TRANSITIONS (training_run_transition checks it)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted (worker died)"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Coordinator"
        NEW_CASES = "new_cases", "New ground-truth cases"
        SCHEDULE = "schedule", "Schedule"
        LABEL_STUDIO = "label_studio", "Label Studio"
        STARTER = "starter", "Starter model script"

    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.SUCCEEDED, Status.FAILED, Status.INTERRUPTED},
        Status.SUCCEEDED: set(),
        Status.FAILED: set(),
        Status.INTERRUPTED: set(),
    }

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    config_name = models.CharField(max_length=64)
    epochs = models.PositiveIntegerField()
    imgsz = models.PositiveIntegerField()
    queue = models.CharField(max_length=32, blank=True)
    device = models.CharField(max_length=64, blank=True)
    worker_pid = models.IntegerField(null=True, blank=True)
    epoch = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="training_runs")

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"training {self.pk} of {self.project} ({self.status})"


class CaseInformativeness(models.Model):
    """Why active learning put a case where it is: the score and its parts, per model version."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="informativeness")
    model_version = models.CharField(max_length=64)
    score = models.FloatField()
    uncertainty = models.FloatField(default=0.0)
    plane_disagreement = models.FloatField(default=0.0)
    rare_bonus = models.FloatField(default=0.0)
    computed_at = models.DateTimeField(auto_now=True)


class LabelStudioLink(models.Model):
    """A Label Studio project connected through /ml/setup by the project's ML client account: where its media
    lives and how to fetch it, and the host that webhook events are confirmed with.

    The same Label Studio project id may be linked to several SpineRead projects (ids repeat across Label Studio
    servers); each link belongs to the account that registered it. A link without one (made before the ML
    client accounts) is not trusted for anything until its project's ML client calls /ml/setup again."""

    ls_project = models.CharField(max_length=64, help_text="Label Studio's project id")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="label_studio_links")
    ml_client = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="label_studio_links",
                                  help_text="The ML client account that registered this link at /ml/setup")
    hostname = models.CharField(max_length=255, blank=True)
    access_token = models.CharField(max_length=255, blank=True)
    label_config = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "ls_project"],
                                               name="label_studio_link_unique_project_ls_project")]
        indexes = [models.Index(fields=["ls_project"], name="label_studio_link_ls_project")]
