from rest_framework import serializers

from mlbackend.models import ModelVersion, TrainingRun


class ModelVersionSerializer(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent.version", allow_null=True, default=None)
    label = serializers.CharField(read_only=True)
    training_cases = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "label", "version", "parent", "config_name", "config", "class_names", "decision", "metrics",
                  "gate", "training_cases", "training_case_ids", "heldout_case_ids", "sha256", "size_bytes",
                  "device", "train_seconds", "epochs", "imgsz", "created_at"]

    def get_training_cases(self, version) -> int:
        return len(version.training_case_ids)


class TrainingRunSerializer(serializers.ModelSerializer):
    model_version = serializers.IntegerField(source="model_version.version", allow_null=True, default=None)

    class Meta:
        model = TrainingRun
        fields = ["id", "status", "trigger", "config_name", "epochs", "imgsz", "queue", "device", "epoch", "loss",
                  "eta_seconds", "heartbeat_at", "created_at", "started_at", "finished_at", "error", "model_version"]


class TrainingRequestSerializer(serializers.Serializer):
    epochs = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    imgsz = serializers.IntegerField(min_value=32, max_value=4096, required=False)
    config_name = serializers.CharField(required=False)


class ModelSettingsSerializer(serializers.Serializer):
    config_name = serializers.CharField(required=False)
    retrain_after_cases = serializers.IntegerField(min_value=0, required=False)
    retrain_crontab = serializers.CharField(required=False, allow_blank=True)
