from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotation import selectors


@login_required
def home(request):
    projects = selectors.projects_visible_to(request.user)
    return render(request, "frontend/home.html", {
        "projects": projects,
        "roles": sorted(selectors.user_roles(request.user)),
    })


@login_required
def project_cases(request, slug):
    project = selectors.project_get_for(request.user, slug)
    cases = selectors.case_list_with_counts(selectors.cases_visible_to(request.user, project=project))
    return render(request, "frontend/project_cases.html", {
        "project": project,
        "cases": cases.order_by("-priority", "id"),
        "roles": sorted(selectors.user_roles(request.user)),
    })
