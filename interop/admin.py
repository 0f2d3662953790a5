"""Staff list the PACS and modalities allowed to send to a project's DICOM receiver; every change is audited,
since the list decides who may put images into a project."""
from django.contrib import admin

from annotation import services
from annotation.admin import AuditedAdmin
from interop.models import DicomNode


@admin.register(DicomNode)
class DicomNodeAdmin(AuditedAdmin):
    list_display = ("calling_ae_title", "project", "description")
    list_filter = ("project",)
    search_fields = ("calling_ae_title", "description")

    def delete_model(self, request, obj):
        self._audit_delete(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        self._audit_delete(request, list(queryset))
        super().delete_queryset(request, queryset)

    @staticmethod
    def _audit_delete(request, nodes):
        for node in nodes:
            services.audit_log(actor=request.user, action="admin_delete", target=node,
                               payload={"calling_ae_title": node.calling_ae_title, "project": node.project.slug})
