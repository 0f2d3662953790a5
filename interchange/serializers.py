from rest_framework import serializers


class LabelStudioImportSerializer(serializers.Serializer):
    reader = serializers.CharField(max_length=150)
    context = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    tasks = serializers.JSONField()
