# Owned by the reader-study app; included at the site root by spineplatform/urls.py.
from django.urls import path

from studies import api, views

urlpatterns = [
    path("studies/", views.study_list, name="study-list"),
    path("studies/new/", views.study_new, name="study-new"),
    path("studies/sessions/", views.study_sessions, name="study-sessions"),
    path("studies/sessions/<int:session_id>/read/", views.study_session_read, name="study-session-read"),
    path("studies/<int:study_id>/", views.study_dashboard_page, name="study-dashboard"),
    path("studies/<int:study_id>/report.zip", views.study_report_download, name="study-report"),
    path("api/studies/", api.StudyListApi.as_view(), name="api-studies"),
    path("api/studies/sessions/", api.MySessionsApi.as_view(), name="api-study-sessions"),
    path("api/studies/sessions/<int:session_id>/open/", api.SessionOpenApi.as_view(), name="api-study-session-open"),
    path("api/studies/sessions/<int:session_id>/draft/", api.SessionDraftApi.as_view(),
         name="api-study-session-draft"),
    path("api/studies/sessions/<int:session_id>/submit/", api.SessionSubmitApi.as_view(),
         name="api-study-session-submit"),
    path("api/studies/sessions/<int:session_id>/model-findings/", api.SessionModelFindingsApi.as_view(),
         name="api-study-session-model-findings"),
    path("api/studies/<int:study_id>/", api.StudyDetailApi.as_view(), name="api-study"),
    path("api/studies/<int:study_id>/dashboard/", api.StudyDashboardApi.as_view(), name="api-study-dashboard"),
    path("api/studies/<int:study_id>/report.zip", api.StudyReportApi.as_view(), name="api-study-report"),
]
