"""Cases, reads and ground truth: the ground floor that mlbackend and studies build on."""
import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from annotation.schema import default_schema


def validate_private_tags(value) -> None:
    """A list of private attribute tags as "gggg,eeee" (hex, odd group: private)."""
    if not isinstance(value, list) or not all(
            isinstance(tag, str) and re.fullmatch(r"[0-9a-fA-F]{4},[0-9a-fA-F]{4}", tag) and int(tag[:4], 16) % 2
            for tag in value):
        raise ValidationError('safe private tags must be a list of "gggg,eeee" with an odd (private) group')


class Role(models.TextChoices):
    READER = "reader", "Reader"
    SENIOR = "senior", "Senior (adjudicator)"
    COORDINATOR = "coordinator", "Coordinator"


class ReaderProfile(models.Model):
    """What a reader study reports about each reader: specialty and experience."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reader_profile")
    specialty = models.CharField(max_length=64, blank=True, help_text="e.g. spine surgery, radiology")
    years_experience = models.PositiveSmallIntegerField(default=0)

    def __str__(self):
        return f"{self.user.username} ({self.specialty}, {self.years_experience} y)"


class Project(models.Model):
    class LabellingMode(models.TextChoices):
        EXHAUSTIVE = "exhaustive", "Exhaustive (every level gets every finding)"
        POSITIVE_ONLY = "positive_only", "Positive-only (absence means not annotated)"

    class CaseOrder(models.TextChoices):
        PRIORITY = "priority", "Priority (active learning)"
        RANDOM = "random", "Random"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    label_schema = models.JSONField(default=default_schema)
    schema_version = models.PositiveIntegerField(default=1)
    labelling_mode = models.CharField(max_length=16, choices=LabellingMode, default=LabellingMode.EXHAUSTIVE)
    box_iou_threshold = models.FloatField(default=0.5, help_text="Boxes of one class match at IoU >= this")
    case_order = models.CharField(max_length=16, choices=CaseOrder, default=CaseOrder.PRIORITY)
    accept_burned_in = models.BooleanField(
        default=False, help_text="Store images with burned-in annotation (or screenshots), held back from readers "
                                 "until a coordinator has reviewed them; otherwise such an upload is refused")
    safe_private_tags = models.JSONField(
        default=list, blank=True, validators=[validate_private_tags], help_text='Private attributes de-identification keeps, as "gggg,eeee" (e.g. '
                                            'a vendor\'s b-value); every other private attribute is removed')
    calibration_every = models.PositiveSmallIntegerField(
        default=0, help_text="One calibration case per this many double-reading cases of a reader; 0: none")
    calibration_min_accuracy = models.FloatField(
        null=True, blank=True, help_text="Flag a reader whose calibration accuracy on a finding is below this")
    calibration_min_kappa = models.FloatField(
        null=True, blank=True, help_text="Flag a reader whose calibration kappa on a finding is below this")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.slug

    @property
    def safe_private_tag_set(self) -> frozenset[tuple[int, int]]:
        return frozenset((int(tag[:4], 16), int(tag[5:], 16)) for tag in self.safe_private_tags)


class ProjectSchema(models.Model):
    """Every version a project's label schema has had: a read keeps the version it was opened under."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="schema_versions")
    version = models.PositiveIntegerField()
    label_schema = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="project_schema_unique_version")
        ]

    def __str__(self):
        return f"{self.project} schema v{self.version}"


class ProjectMembership(models.Model):
    """Who works on a project: its coordinators, its ML client account (the Label Studio connection), and the
    readers and seniors it may assign cases to.

    Readers and seniors see a project's cases through their case assignments, never through a membership (which
    only makes them eligible); coordinators and the ML client only through a membership. Superusers (admins) see
    every project.
    """

    class Role(models.TextChoices):
        COORDINATOR = "coordinator", "Coordinator"
        ML_CLIENT = "ml_client", "ML client (Label Studio)"
        READER = "reader", "Reader"
        SENIOR = "senior", "Senior (adjudicator)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user", "role"], name="membership_unique_project_user_role")
        ]

    def __str__(self):
        return f"{self.user} as {self.role} of {self.project}"


class Case(models.Model):
    """One imaging study of one patient, de-identified."""

    class Split(models.TextChoices):
        UNASSIGNED = "", "Unassigned"
        TRAIN = "train", "Train"
        VAL = "val", "Validation"
        TEST = "test", "Held-out test"
        STUDY = "study", "Reader study"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cases")
    patient_key = models.CharField(max_length=64, db_index=True, help_text="Keyed hash of the original patient ID")
    study_instance_uid = models.CharField(max_length=64, help_text="De-identified Study Instance UID")
    site_code = models.CharField(max_length=64, blank=True)
    study_date = models.DateField(null=True, blank=True, help_text="Shifted by de-identification")
    modality = models.CharField(max_length=16, blank=True)
    split = models.CharField(max_length=8, choices=Split, default=Split.UNASSIGNED, blank=True)
    class Status(models.TextChoices):
        UNREAD = "unread", "Not read yet"
        IN_READING = "in_reading", "In reading"
        ADJUDICATION = "adjudication", "Awaiting adjudication"
        GROUND_TRUTH = "ground_truth", "Ground truth final"

    priority = models.FloatField(default=0.0, help_text="Higher is read first when the project orders by priority")
    status = models.CharField(max_length=16, choices=Status, default=Status.UNREAD, db_index=True)
    calibration = models.BooleanField(default=False, help_text="Ground truth final; blended into readers' "
                                                               "worklists to measure them (never shown to them)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "study_instance_uid"], name="case_unique_study_per_project")
        ]
        ordering = ["id"]

    def __str__(self):
        return f"case {self.pk} ({self.patient_key[:8]})"


class Series(models.Model):
    class Plane(models.TextChoices):
        SAGITTAL = "sagittal", "Sagittal"
        AXIAL = "axial", "Axial"
        CORONAL = "coronal", "Coronal"
        OTHER = "other", "Other"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=128, blank=True)
    plane = models.CharField(max_length=16, choices=Plane, default=Plane.OTHER)
    sequence = models.CharField(max_length=64, blank=True, help_text="e.g. T2 (from the series description)")
    slice_thickness = models.FloatField(null=True, blank=True)
    manufacturer = models.CharField(max_length=64, blank=True)
    manufacturer_model = models.CharField(max_length=64, blank=True)
    field_strength = models.FloatField(null=True, blank=True)
    repetition_time = models.FloatField(null=True, blank=True)
    echo_time = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "series_instance_uid"], name="series_unique_uid_per_case")
        ]
        ordering = ["series_number", "id"]

    def __str__(self):
        return f"{self.plane} series {self.series_number} of case {self.case_id}"


class Instance(models.Model):
    """One de-identified DICOM file in storage."""

    class BurnedIn(models.TextChoices):
        NONE = "", "No burned-in annotation"
        PENDING = "pending", "Burned-in annotation: awaiting a coordinator's review (not shown to readers)"
        CLEARED = "cleared", "Burned-in annotation: reviewed and cleared by a coordinator"

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64)
    file = models.FileField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    transfer_syntax_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    slice_position = models.FloatField(null=True, blank=True, help_text="mm along the series' slice normal")
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    pixel_spacing_row = models.FloatField(null=True, blank=True)
    pixel_spacing_column = models.FloatField(null=True, blank=True)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    burned_in = models.CharField(max_length=8, choices=BurnedIn, default=BurnedIn.NONE, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "sop_instance_uid"], name="instance_unique_sop_per_series")
        ]
        ordering = ["slice_position", "instance_number", "id"]

    def __str__(self):
        return f"instance {self.instance_number} of series {self.series_id}"


class Assignment(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    # "study": the case is read in a reader study's sessions only; it grants sight of the images, never a place
    # in the double reading (worklist, adjudication) nor its reads or ground truth.
    STUDY = "study"
    # Also the Read.context of a calibration read (annotation.services.calibration): never double reading.
    CALIBRATION = "calibration"
    role = models.CharField(max_length=16, choices=[(Role.READER, "Reader"), (Role.SENIOR, "Senior"),
                                                    (STUDY, "Reader-study reader"),
                                                    (CALIBRATION, "Calibration reader")])
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user", "role"], name="assignment_unique_case_user_role")
        ]

    def __str__(self):
        return f"{self.user} as {self.role} on case {self.case_id}"


class Read(models.Model):
    """One reader's findings for one case. Submitted reads are immutable: a correction is a new version."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"

    class Origin(models.TextChoices):
        PLATFORM = "platform", "Read in SpineRead"
        LABEL_STUDIO = "label_studio", "From a Label Studio annotation (ML client webhook)"
        IMPORT = "import", "Imported by a coordinator"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reads")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reads")
    version = models.PositiveIntegerField(default=1)
    schema_version = models.PositiveIntegerField(default=1, help_text="The project's label schema version the "
                                                                      "read was opened under")
    # "" is the project's blind double reading, which makes the ground truth. A reader study's sessions (an arm
    # with or without model help, a repeat read after washout) are other contexts of the same case and reader.
    context = models.CharField(max_length=64, blank=True, default="", db_index=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.DRAFT)
    origin = models.CharField(max_length=16, choices=Origin, default=Origin.PLATFORM)
    opened_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    active_seconds = models.FloatField(default=0.0, help_text="Time on task, paused while the tab is hidden or idle")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "reader", "context", "version"], name="read_unique_version"),
        ]

    def __str__(self):
        return f"read v{self.version} of case {self.case_id} by {self.reader}"

    def label_schema(self) -> dict:
        """The schema version the read was opened under (the project's current one if its history lacks it)."""
        row = ProjectSchema.objects.filter(project_id=self.case.project_id, version=self.schema_version).first()
        return row.label_schema if row is not None else self.case.project.label_schema


class Source(models.TextChoices):
    HUMAN = "human", "Human"
    MODEL = "model", "Model"


def box_fields(box) -> dict:
    """Model field values for an optional (x0, y0, x1, y1) box in pixels."""
    x0, y0, x1, y1 = box if box is not None else (None, None, None, None)
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1}


class LevelFinding(models.Model):
    """A value for one finding at one disc level, with an optional box (pixels) on one image of the case."""

    disc_level = models.CharField(max_length=8)
    finding_type = models.CharField(max_length=32)
    value = models.CharField(max_length=32)
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE)
    x0 = models.FloatField(null=True, blank=True)
    y0 = models.FloatField(null=True, blank=True)
    x1 = models.FloatField(null=True, blank=True)
    y1 = models.FloatField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def box(self):
        return None if self.x0 is None else (self.x0, self.y0, self.x1, self.y1)


class ReviewAction(models.TextChoices):
    """What a reader did with a model pre-annotation (the data for measuring automation bias)."""

    NONE = "", "No model suggestion"
    ACCEPTED = "accepted", "Accepted unchanged"
    EDITED = "edited", "Edited"
    DELETED = "deleted", "Deleted"
    ADDED = "added", "Added by the reader"


class Finding(LevelFinding):
    """A value for one finding at one disc level, optionally with a box on one instance.

    Model output and human labels are stored apart: a model finding has no read and keeps its model version
    and score; a reader's edit of it is a new human finding on the reader's read.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="findings")
    read = models.ForeignKey(Read, null=True, blank=True, on_delete=models.CASCADE, related_name="findings")
    source = models.CharField(max_length=8, choices=Source, default=Source.HUMAN)
    model_version = models.CharField(max_length=64, blank=True)
    score = models.FloatField(null=True, blank=True)
    review_action = models.CharField(max_length=16, choices=ReviewAction, default=ReviewAction.NONE, blank=True)
    # DO_NOTHING keeps deleting a draft's findings to one DELETE (autosave's hot path); the database's foreign
    # key still refuses to delete a model finding that a reader's finding refers to.
    model_finding = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="reviews",
        help_text="The model pre-annotation this human finding accepts, edits or deletes",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["case", "disc_level", "finding_type"]),
            # A model version's findings per case, a study's reader boxes: else the dashboard scans every finding.
            models.Index(fields=["model_version", "case"], condition=models.Q(read__isnull=True),
                         name="finding_model_version_case"),
            models.Index(fields=["read"], condition=models.Q(x0__isnull=False), name="finding_box_read"),
        ]

    def __str__(self):
        return f"{self.disc_level} {self.finding_type}={self.value} ({self.source})"


class GroundTruthItem(LevelFinding):
    class Provenance(models.TextChoices):
        AGREEMENT = "agreement", "Readers agreed"
        READER_A = "reader_a", "Senior took reader A"
        READER_B = "reader_b", "Senior took reader B"
        SENIOR = "senior", "Senior's own"
        IMPORTED = "imported", "Imported reference"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="ground_truth")
    provenance = models.CharField(max_length=16, choices=Provenance)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"GT {self.disc_level} {self.finding_type}={self.value} ({self.provenance})"


class Adjudication(models.Model):
    """A case whose two reads disagree, waiting for (or decided by) a senior. Exactly one senior decides."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="adjudication")
    read_a = models.ForeignKey(Read, on_delete=models.PROTECT, related_name="+")
    read_b = models.ForeignKey(Read, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status, default=Status.OPEN, db_index=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"adjudication of case {self.case_id} ({self.status})"


class AdjudicationItem(models.Model):
    """One disagreeing item: a value (value_a vs value_b) or a box only one reader drew or they drew apart."""

    class Kind(models.TextChoices):
        VALUE = "value", "Value"
        BOX = "box", "Box"

    class Decision(models.TextChoices):
        UNDECIDED = "", "Undecided"
        READER_A = "reader_a", "Reader A"
        READER_B = "reader_b", "Reader B"
        SENIOR = "senior", "Senior's own"

    adjudication = models.ForeignKey(Adjudication, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=8, choices=Kind)
    disc_level = models.CharField(max_length=8)
    finding_type = models.CharField(max_length=32)
    value_a = models.CharField(max_length=32, null=True, blank=True)
    value_b = models.CharField(max_length=32, null=True, blank=True)
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE)
    box_a = models.JSONField(null=True, blank=True)
    box_b = models.JSONField(null=True, blank=True)
    decision = models.CharField(max_length=16, choices=Decision, default=Decision.UNDECIDED, blank=True)
    decided_value = models.CharField(max_length=32, null=True, blank=True)
    decided_box = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]


class AuditEvent(models.Model):
    """Append-only log of every change: who did what to which object, when, with what payload."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    # Set when the actor (the ML client, a coordinator's import) wrote something that is another user's work.
    on_behalf_of = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"


class Upload(models.Model):
    """One file (a DICOM file or a zip) arriving in chunks, so that a dropped connection resumes where it broke
    off. The bytes gather in a temporary file; when the last chunk is in, the file goes through the ingest
    service and `results` holds one entry per DICOM file in it (stored, duplicate, refused with the reason)."""

    class Status(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        DONE = "done", "Ingested"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="uploads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    received = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status, default=Status.RECEIVING)
    results = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"upload {self.filename} ({self.received}/{self.size} bytes) to {self.project}"


class TaskOutbox(models.Model):
    """A Celery task recorded in the transaction that called for it and published once that commits
    (annotation.outbox): a broker that is down when the work is saved delays the task, never loses it or the work.
    `sent_at` is set once the broker took the message; the relay publishes the rows still without it."""

    created_at = models.DateTimeField(auto_now_add=True)
    name = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # Blank: the router (CELERY_TASK_ROUTES) chooses when the message is published, not when it was recorded.
    queue = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sent_at", "id"], name="outbox_unsent")]

    def __str__(self):
        return f"{self.name}{tuple(self.args)} {'sent' if self.sent_at else 'unsent'}"
