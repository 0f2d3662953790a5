from django.urls import path

from annotation import api

urlpatterns = [
    path("projects/", api.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<slug:slug>/cases/", api.CaseListApi.as_view(), name="api-project-cases"),
    path("projects/<slug:slug>/dicom/", api.DicomUploadApi.as_view(), name="api-dicom-upload"),
    path("cases/<int:case_id>/", api.CaseDetailApi.as_view(), name="api-case"),
    path("instances/<int:instance_id>/dicom", api.InstanceDicomApi.as_view(), name="api-instance-dicom"),
]
