from django.contrib import admin

from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession


@admin.register(ReaderStudy)
class ReaderStudyAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "project", "design", "model_version", "washout_days", "created_at"]
    readonly_fields = ["created_by", "created_at"]


admin.site.register(StudyCase)
admin.site.register(StudyReader)
admin.site.register(StudySession)
