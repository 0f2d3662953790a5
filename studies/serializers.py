"""Input and output shapes of the reader-study API."""
from rest_framework import serializers

from annotation.models import Case
from studies.models import ReaderStudy, StudySession


class CaseFilterSerializer(serializers.Serializer):
    """The study form's case filter, the keyword arguments of ``selectors.study_candidate_cases``: a blank or
    absent field matches every case."""

    site = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    # null or absent: any split; "": the unassigned one (as Case.split stores it).
    split = serializers.ChoiceField(choices=Case.Split.choices, required=False, allow_null=True, default=None)
    finding = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    value = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    count = serializers.IntegerField(min_value=1, max_value=100_000, required=False, allow_null=True, default=None)
    # null or absent: the study's seed, as the form uses one seed for both the sample and the study.
    seed = serializers.IntegerField(required=False, allow_null=True, default=None)


class StudyCreateSerializer(serializers.Serializer):
    project = serializers.SlugField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    # Exactly one of the two: the cases by id, or the filter that picks them as the form does.
    case_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=100_000,
                                     required=False)
    case_filter = CaseFilterSerializer(required=False)
    readers = serializers.ListField(child=serializers.CharField(max_length=150), min_length=1, max_length=100)
    design = serializers.ChoiceField(choices=ReaderStudy.Design.choices, default=ReaderStudy.Design.UNAIDED)
    model_version = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, default=28)
    repeat_fraction = serializers.FloatField(min_value=0, max_value=1, default=0.0)
    seed = serializers.IntegerField(default=0)
    positive_from = serializers.DictField(child=serializers.CharField(), required=False, default=dict)

    def validate(self, data):
        if ("case_ids" in data) == ("case_filter" in data):
            raise serializers.ValidationError("give exactly one of case_ids and case_filter")
        if "case_filter" in data and data["case_filter"]["seed"] is None:
            data["case_filter"] = {**data["case_filter"], "seed": data["seed"]}
        return data


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
