from rest_framework import serializers

from annotation.models import Case, Instance, Project, Series


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


class SeriesSerializer(serializers.ModelSerializer):
    instances = InstanceSerializer(many=True, read_only=True)

    class Meta:
        model = Series
        fields = ["id", "series_instance_uid", "series_number", "description", "plane", "sequence",
                  "slice_thickness", "manufacturer", "manufacturer_model", "field_strength", "repetition_time",
                  "echo_time", "instances"]


class CaseListSerializer(serializers.ModelSerializer):
    series_count = serializers.IntegerField(read_only=True)
    instance_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Case
        fields = ["id", "patient_key", "site_code", "study_date", "modality", "split", "priority",
                  "series_count", "instance_count"]


class CaseDetailSerializer(serializers.ModelSerializer):
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
