"""Input and output shapes of the reader-study API."""
from rest_framework import serializers

from studies.models import ReaderStudy, StudySession


class StudyCreateSerializer(serializers.Serializer):
    project = serializers.SlugField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    case_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=100_000)
    readers = serializers.ListField(child=serializers.CharField(max_length=150), min_length=1, max_length=100)
    design = serializers.ChoiceField(choices=ReaderStudy.Design.choices, default=ReaderStudy.Design.UNAIDED)
    model_version = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, default=28)
    repeat_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.0)
    seed = serializers.IntegerField(default=0)
    positive_from = serializers.DictField(child=serializers.CharField(), required=False, default=dict)


class StudySerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    arms = serializers.ListField(child=serializers.CharField(), read_only=True)
    cases = serializers.SerializerMethodField()
    readers = serializers.SerializerMethodField()

    class Meta:
        model = ReaderStudy
        fields = ["id", "name", "description", "project", "design", "arms", "model_version", "washout_days",
                  "repeat_fraction", "seed", "positive_from", "cases", "readers", "created_at"]

    def get_cases(self, study) -> int:
        return study.study_cases.count()

    def get_readers(self, study) -> list[str]:
        return [r.user.username for r in study.study_readers.select_related("user")]


class SessionSerializer(serializers.ModelSerializer):
    context = serializers.CharField(read_only=True)

    class Meta:
        model = StudySession
        fields = ["id", "study", "case", "arm", "repetition", "period", "position", "context"]


class SessionRowSerializer(serializers.Serializer):
    session = SessionSerializer()
    state = serializers.CharField()
    available = serializers.BooleanField()
    why = serializers.CharField()
    read = serializers.IntegerField(source="read.pk", allow_null=True, default=None)
