from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from frontend import views, views_calibration

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # An invited user sets their own password (the coordinator's People page makes the link).
    path("invite/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="frontend/invite.html", success_url=reverse_lazy("login"), post_reset_login=False),
        name="invite"),
    path("", views.home, name="home"),
    path("worklist/", views.worklist, name="worklist"),
    path("cases/<int:case_id>/read/", views.case_read, name="case-read"),
    path("adjudications/", views.adjudications, name="adjudications"),
    path("adjudications/<int:adjudication_id>/", views.adjudication_detail, name="adjudication"),
    # Coordinators' set-up pages: projects, schema, users and roles; DICOM upload.
    path("", include("frontend.urls_setup")),
    path("", include("frontend.urls_upload")),
    path("projects/<slug:slug>/", views.project_cases, name="project-cases"),
    path("projects/<slug:slug>/assign/", views.project_assign, name="project-assign"),
    path("projects/<slug:slug>/reassign/", views.project_reassign, name="project-reassign"),
    path("projects/<slug:slug>/calibration/", views_calibration.project_calibration, name="project-calibration"),
]
