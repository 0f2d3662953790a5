"""Reader studies in the admin: view-only but for a study's name and description.

`studies.services.study_create` draws the cases, readers' arm orders, sessions and repeats from the design,
seed and pinned model version and audits the creation; editing any of those afterwards (or a session, or a
study's case list) would desynchronise the sessions from the design the dashboard reports, so they are shown,
not edited. Deleting a study would cascade to its sessions.
"""
from django.contrib import admin

from annotation.admin import AuditedAdmin, ReadOnlyAdmin
from studies.models import ReaderStudy, StudyCase, StudyReader, StudySession


@admin.register(ReaderStudy)
class ReaderStudyAdmin(AuditedAdmin):
    list_display = ["id", "name", "project", "design", "model_version", "washout_days", "created_at"]
    readonly_fields = ["project", "design", "model_version", "washout_days", "repeat_fraction", "seed",
                       "positive_from", "created_by", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StudyCase)
class StudyCaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "case", "repeat"]


@admin.register(StudyReader)
class StudyReaderAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "user", "arm_order"]


@admin.register(StudySession)
class StudySessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "study", "reader", "case", "arm", "repetition", "period", "position"]
    list_filter = ["arm", "repetition"]
