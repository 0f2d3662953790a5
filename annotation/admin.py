from django.contrib import admin

from annotation import models


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "labelling_mode", "schema_version", "created_at"]


@admin.register(models.Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "patient_key", "site_code", "modality", "split", "priority"]
    list_filter = ["project", "split", "site_code"]


@admin.register(models.ReaderProfile)
class ReaderProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "specialty", "years_experience"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]

    def has_change_permission(self, request, obj=None):
        return False  # the audit log is append-only

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register([models.Series, models.Instance, models.Assignment, models.Read, models.Finding,
                     models.GroundTruthItem])
