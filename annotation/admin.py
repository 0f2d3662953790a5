"""The Django admin: a window onto the data, not a way around the services.

Reads, findings, ground truth, assignments, adjudications and the audit log change only through
`annotation.services`, which validate and write the audit row in the same transaction; in the admin they are
view-only (superusers, or staff given the model's view permission, can browse them). What stays editable
(a project's name, description and case order; reader profiles) is audited here on save.
"""
from django.contrib import admin

from annotation import models, services


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: no add, change or delete page, and no delete action.

    Django answers 403 to a POST on the change page of a model whose change permission is refused, so a form
    crafted outside the admin's own page changes nothing either.
    """

    def has_add_permission(self, request, obj=None):  # obj: inlines pass the parent
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _json_value(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


class AuditedAdmin(admin.ModelAdmin):
    """Editable in the admin, with an audit row per save naming the changed fields, old and new values."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        fields = form.changed_data
        services.audit_log(
            actor=request.user, action="admin_change" if change else "admin_add", target=obj,
            payload={"fields": {name: {"from": _json_value(form.initial.get(name)),
                                       "to": _json_value(form.cleaned_data.get(name))} for name in fields}},
        )


@admin.register(models.Project)
class ProjectAdmin(AuditedAdmin):
    """Projects are created by `services.project_create` (it validates the label schema and audits).

    The label schema, its version, the labelling mode and the box IoU threshold decide how reads validate and
    when two reads agree, and the slug seeds the train/val/test partition; changing any of them under
    existing reads would silently change the ground truth's rules, so they are shown, not edited. The
    calibration settings change through their service (which gives readers the cases they are then due).
    Deleting a project would cascade to its cases, reads and ground truth.
    """

    list_display = ["slug", "name", "labelling_mode", "schema_version", "created_at"]
    readonly_fields = ["slug", "label_schema", "schema_version", "labelling_mode", "box_iou_threshold",
                       "calibration_every", "calibration_min_accuracy", "calibration_min_kappa", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "patient_key", "site_code", "modality", "split", "priority"]
    list_filter = ["project", "split", "site_code"]


@admin.register(models.ReaderProfile)
class ReaderProfileAdmin(AuditedAdmin):
    list_display = ["user", "specialty", "years_experience"]


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit log is append-only: an admin could otherwise forge, edit or erase its rows.

    On PostgreSQL a trigger also refuses UPDATE and DELETE on the table (migration 0005).
    """

    list_display = ["at", "actor", "on_behalf_of", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]


@admin.register(models.Read)
class ReadAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "reader", "version", "context", "status", "origin", "submitted_at"]
    list_filter = ["status", "origin"]


@admin.register(models.Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "read", "disc_level", "finding_type", "value", "source", "model_version"]
    list_filter = ["source", "finding_type"]


@admin.register(models.GroundTruthItem)
class GroundTruthItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "disc_level", "finding_type", "value", "provenance", "decided_by"]
    list_filter = ["provenance", "finding_type"]


@admin.register(models.Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "status", "resolved_by", "resolved_at"]
    list_filter = ["status"]


@admin.register(models.AdjudicationItem)
class AdjudicationItemAdmin(ReadOnlyAdmin):
    list_display = ["id", "adjudication", "kind", "disc_level", "finding_type", "decision", "decided_value"]


@admin.register(models.Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "user", "role", "assigned_at"]
    list_filter = ["role"]


@admin.register(models.ProjectMembership)
class ProjectMembershipAdmin(ReadOnlyAdmin):
    list_display = ["id", "project", "user", "role", "created_at"]
    list_filter = ["role"]


admin.site.register([models.Series, models.Instance], ReadOnlyAdmin)
