from django.urls import include, path

from annotation import api

urlpatterns = [
    path("", include("annotation.urls_setup")),
    path("", include("annotation.urls_upload")),
    path("projects/", api.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<slug:slug>/cases/", api.CaseListApi.as_view(), name="api-project-cases"),
    path("projects/<slug:slug>/dicom/", api.DicomUploadApi.as_view(), name="api-dicom-upload"),
    path("projects/<slug:slug>/progress/", api.ProjectProgressApi.as_view(), name="api-project-progress"),
    path("projects/<slug:slug>/assignments/balanced/", api.BalancedAssignApi.as_view(), name="api-assign-balanced"),
    path("projects/<slug:slug>/assignments/reassign/", api.ReassignApi.as_view(), name="api-reassign"),
    path("projects/<slug:slug>/burned-in/", api.BurnedInReviewListApi.as_view(), name="api-burned-in"),
    path("instances/<int:instance_id>/burned-in/clear/", api.BurnedInClearApi.as_view(), name="api-burned-in-clear"),
    path("worklist/", api.WorklistApi.as_view(), name="api-worklist"),
    path("cases/<int:case_id>/", api.CaseDetailApi.as_view(), name="api-case"),
    path("cases/<int:case_id>/read/", api.MyReadApi.as_view(), name="api-my-read"),
    path("cases/<int:case_id>/read/draft/", api.MyReadDraftApi.as_view(), name="api-my-read-draft"),
    path("cases/<int:case_id>/read/submit/", api.MyReadSubmitApi.as_view(), name="api-my-read-submit"),
    path("cases/<int:case_id>/reads/", api.CaseReadsApi.as_view(), name="api-case-reads"),
    path("cases/<int:case_id>/ground-truth/", api.GroundTruthApi.as_view(), name="api-ground-truth"),
    path("cases/<int:case_id>/model-findings/", api.ModelFindingsApi.as_view(), name="api-model-findings"),
    path("reads/<int:read_id>/", api.ReadDetailApi.as_view(), name="api-read"),
    path("reads/<int:read_id>/correct/", api.ReadCorrectApi.as_view(), name="api-read-correct"),
    path("adjudications/", api.AdjudicationListApi.as_view(), name="api-adjudications"),
    path("adjudications/<int:adjudication_id>/", api.AdjudicationDetailApi.as_view(), name="api-adjudication"),
    path("adjudications/<int:adjudication_id>/resolve/", api.AdjudicationResolveApi.as_view(),
         name="api-adjudication-resolve"),
    path("instances/<int:instance_id>/dicom", api.InstanceDicomApi.as_view(), name="api-instance-dicom"),
]
