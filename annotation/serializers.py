from rest_framework import serializers

from annotation.models import (
    Adjudication, AdjudicationItem, Case, Finding, GroundTruthItem, Instance, Project, Read, Series
)


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "labelling_mode", "box_iou_threshold", "case_order",
                  "schema_version", "label_schema", "created_at"]
        read_only_fields = ["id", "schema_version", "created_at"]


class InstanceSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Instance
        fields = ["id", "sop_instance_uid", "instance_number", "slice_position", "rows", "columns",
                  "pixel_spacing_row", "pixel_spacing_column", "window_center", "window_width",
                  "transfer_syntax_uid", "url"]

    def get_url(self, instance) -> str:
        return f"/api/instances/{instance.pk}/dicom"


class BurnedInInstanceSerializer(serializers.ModelSerializer):
    case = serializers.IntegerField(source="series.case_id", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Instance
        fields = ["id", "case", "series", "instance_number", "burned_in", "url"]

    def get_url(self, instance) -> str:
        return f"/api/instances/{instance.pk}/dicom"


class SeriesSerializer(serializers.ModelSerializer):
    instances = InstanceSerializer(many=True, read_only=True)

    class Meta:
        model = Series
        fields = ["id", "series_instance_uid", "series_number", "description", "plane", "sequence",
                  "slice_thickness", "manufacturer", "manufacturer_model", "field_strength", "repetition_time",
                  "echo_time", "instances"]


class _SplitForCoordinators:
    """Leaves ``split`` out unless the view's context says the user may see it (``access.case_split_visible_to``)."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("split_visible", False):
            data.pop("split", None)
        return data


class CaseListSerializer(_SplitForCoordinators, serializers.ModelSerializer):
    series_count = serializers.IntegerField(read_only=True)
    instance_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Case
        fields = ["id", "patient_key", "site_code", "study_date", "modality", "split", "priority",
                  "series_count", "instance_count"]


class CaseDetailSerializer(_SplitForCoordinators, serializers.ModelSerializer):
    series = SeriesSerializer(many=True, read_only=True)
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Case
        fields = ["id", "project", "patient_key", "site_code", "study_date", "modality", "split", "priority",
                  "series"]


class DicomUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=False), allow_empty=False)
    site_code = serializers.SlugField(required=False, allow_blank=True, max_length=64)


class ImportResultSerializer(serializers.Serializer):
    case_ids = serializers.ListField(child=serializers.IntegerField())
    series = serializers.IntegerField()
    instances_created = serializers.IntegerField()
    instances_existing = serializers.IntegerField()
    skipped = serializers.ListField(child=serializers.DictField())


# Reading and adjudication -------------------------------------------------------------------------------------

class BoxField(serializers.ListField):
    child = serializers.FloatField()

    def __init__(self, **kwargs):
        super().__init__(min_length=4, max_length=4, allow_null=True, required=False, **kwargs)


class FindingInputSerializer(serializers.Serializer):
    disc_level = serializers.CharField(max_length=8)
    finding_type = serializers.CharField(max_length=32)
    value = serializers.CharField(max_length=32)
    instance = serializers.IntegerField(required=False, allow_null=True)
    box = BoxField()
    review_action = serializers.CharField(required=False, allow_blank=True, default="")
    model_finding = serializers.IntegerField(required=False, allow_null=True)


class ReadInputSerializer(serializers.Serializer):
    findings = FindingInputSerializer(many=True, required=False, max_length=1000)
    active_seconds = serializers.FloatField(required=False, min_value=0, max_value=24 * 3600)


class LevelFindingSerializer(serializers.ModelSerializer):
    box = serializers.SerializerMethodField()

    def get_box(self, item) -> list[float] | None:
        return list(item.box) if item.box else None


class FindingSerializer(LevelFindingSerializer):

    class Meta:
        model = Finding
        fields = ["id", "disc_level", "finding_type", "value", "instance", "box", "source", "model_version",
                  "score", "review_action", "model_finding"]


class ReadSerializer(serializers.ModelSerializer):
    reader = serializers.SlugRelatedField(slug_field="username", read_only=True)
    findings = FindingSerializer(many=True, read_only=True)

    class Meta:
        model = Read
        fields = ["id", "case", "reader", "version", "supersedes", "status", "opened_at", "submitted_at",
                  "active_seconds", "findings"]

    def to_representation(self, read):
        data = super().to_representation(read)
        if self.context.get("hide_reader"):  # access.reader_identities_visible_to said no: A and B, no names
            data["reader"] = None
        return data


class DraftReceiptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Read
        fields = ["id", "case", "version", "status", "active_seconds", "updated_at"]


class GroundTruthSerializer(LevelFindingSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GroundTruthItem
        fields = ["id", "disc_level", "finding_type", "value", "instance", "box", "provenance", "decided_by",
                  "reason"]


class AdjudicationItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = AdjudicationItem
        fields = ["id", "kind", "disc_level", "finding_type", "value_a", "value_b", "instance", "box_a", "box_b",
                  "decision", "decided_value", "decided_box", "reason"]


class AdjudicationSerializer(serializers.ModelSerializer):
    read_a = ReadSerializer(read_only=True)  # the parent's context (hide_reader) reaches these
    read_b = ReadSerializer(read_only=True)
    items = AdjudicationItemSerializer(many=True, read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Adjudication
        fields = ["id", "case", "status", "read_a", "read_b", "items", "resolved_by", "resolved_at", "created_at"]


class AdjudicationListSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="case.project.slug", read_only=True)
    item_count = serializers.IntegerField(source="items.count", read_only=True)

    class Meta:
        model = Adjudication
        fields = ["id", "case", "project", "status", "item_count", "created_at"]


class DecisionSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    choice = serializers.ChoiceField(choices=["reader_a", "reader_b", "senior"])
    value = serializers.CharField(max_length=32, required=False, allow_null=True)
    box = BoxField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ResolveSerializer(serializers.Serializer):
    decisions = DecisionSerializer(many=True, allow_empty=False)


class WorklistRowSerializer(serializers.Serializer):
    case = serializers.IntegerField(source="case.pk")
    project = serializers.CharField(source="case.project.slug")
    state = serializers.CharField()
    read = serializers.IntegerField(source="read.pk", allow_null=True, default=None)
    priority = serializers.FloatField(source="case.priority")


class BalancedAssignSerializer(serializers.Serializer):
    readers = serializers.ListField(child=serializers.CharField(), min_length=2)
    seniors = serializers.ListField(child=serializers.CharField(), min_length=1)
    seed = serializers.IntegerField(required=False, default=0)


class ReassignSerializer(serializers.Serializer):
    case = serializers.IntegerField()
    from_user = serializers.CharField()
    to_user = serializers.CharField()
    role = serializers.ChoiceField(choices=["reader", "senior"])
