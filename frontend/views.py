"""Pages. Each view asks `access` (which holds the access and blinding rules), a selector for the data, and
renders."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

import access
from annotation import selectors, services
from annotation.api import adjudication_data
from annotation.models import Case, Role
from annotation.schema import schema_for_page

# Stands for an id the page learns only after it has loaded (the read it opens); never a real primary key.
_SLOT_ID = 2**31 - 1


def _context(request, **extra):
    return {"roles": sorted(access.user_roles(request.user)), **extra}


def _url_with_slot(name: str, slot: str) -> str:
    """The URL of a route with one argument left for the page to fill in, spelled `{slot}`."""
    return reverse(name, kwargs={slot: _SLOT_ID}).replace(str(_SLOT_ID), "{%s}" % slot)


def reading_endpoints(case: Case) -> dict:
    """The double reading's endpoints for the reading page (a study session's page passes its own)."""
    return {
        "open": reverse("api-my-read", args=[case.pk]),
        "draft": reverse("api-my-read-draft", args=[case.pk]),
        "submit": reverse("api-my-read-submit", args=[case.pk]),
        "model": reverse("api-model-findings", args=[case.pk]),
        # Always offered: whether it may happen now is the server's answer to the click (409), so that opening a
        # case does not tell its reader whether the two reads disagree.
        "correct": _url_with_slot("api-read-correct", "read_id"),
    }


@login_required
def home(request):
    roles = access.user_roles(request.user)
    if roles == {Role.READER.value}:
        return redirect("worklist")
    if roles == {Role.SENIOR.value}:
        return redirect("adjudications")
    return render(request, "frontend/home.html", _context(request, projects=access.projects_visible_to(request.user)))


@login_required
def project_cases(request, slug):
    project = access.project_get_for(request.user, slug)
    cases = selectors.case_list_with_counts(access.cases_visible_to(request.user, project=project))
    context = _context(request, project=project, cases=cases.order_by("-priority", "id"),
                       show_status=access.case_states_visible_to(request.user, project),
                       show_split=access.case_split_visible_to(request.user, project))
    if access.coordinates(request.user, project):
        context["progress"] = selectors.project_progress(project)
        context["readers"] = selectors.project_members(project, Role.READER)
        context["seniors"] = selectors.project_members(project, Role.SENIOR)
    return render(request, "frontend/project_cases.html", context)


@login_required
@require_POST
def project_assign(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    try:
        readers = selectors.users_with_role(request.POST.getlist("readers"), Role.READER, project=project)
        seniors = selectors.users_with_role(request.POST.getlist("seniors"), Role.SENIOR, project=project)
        count = services.cases_assign_balanced(project=project, readers=readers, seniors=seniors,
                                               seed=int(request.POST.get("seed") or 0), actor=request.user)
        messages.success(request, f"Assigned {count} unassigned case(s).")
    except ValueError as error:
        messages.error(request, str(error))
    return redirect("project-cases", slug=slug)


@login_required
@require_POST
def project_reassign(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    role = request.POST.get("role", Role.READER)
    try:
        case = access.cases_visible_to(request.user, project=project).get(pk=int(request.POST.get("case", 0)))
        from_user = selectors.user_named(request.POST.get("from_user", ""))
        to_user = selectors.users_with_role([request.POST.get("to_user", "")], role, project=project)[0]
        services.case_reassign(case=case, from_user=from_user, to_user=to_user, role=role, actor=request.user)
        messages.success(request, f"Case {case.pk}: {from_user.username}'s {role} assignment moved to {to_user.username}.")
    except (ValueError, Case.DoesNotExist) as error:
        messages.error(request, str(error) or "no such case in this project")
    return redirect("project-cases", slug=slug)


@login_required
def worklist(request):
    rows = selectors.worklist_for_reader(request.user)
    submitted = sum(1 for row in rows if row["state"] == "submitted")
    # The first case not yet submitted gets the focus, so that Enter opens it.
    first_open = next((row["case"].pk for row in rows if row["state"] != "submitted"), None)
    return render(request, "frontend/worklist.html",
                  _context(request, rows=rows, submitted=submitted, first_open=first_open))


@login_required
def case_read(request, case_id):
    case = access.case_get_for(request.user, case_id)
    if not access.may_read_case(request.user, case):
        raise Http404("no such case")
    context = access.reading_context(request.user, case)
    page = {
        "schema": schema_for_page(selectors.reading_schema(request.user, case, context=context)),
        "exhaustive": case.project.labelling_mode == case.project.LabellingMode.EXHAUSTIVE,
        "series": selectors.case_viewer_series(case, instances=access.instances_visible_to(request.user)),
        "endpoints": reading_endpoints(case),
        # The next unsubmitted case of this reader's worklist (null when none is left): the page's "Next case".
        "next": None,
    }
    next_case = selectors.next_case_for_reader(request.user, case)
    if next_case is not None:
        page["next"] = reverse("case-read", args=[next_case.pk])
    return render(request, "frontend/case_read.html", _context(
        request, case=case, page=page, position=selectors.worklist_position(request.user, case)))


@login_required
def adjudications(request):
    """The senior's queue, oldest first, with the counts: open cases, items to decide, per project."""
    queue = list(access.adjudication_queue_for(request.user).annotate(n_items=Count("items")))
    per_project = {}
    for adjudication in queue:
        row = per_project.setdefault(adjudication.case.project.name, {"cases": 0, "items": 0})
        row["cases"] += 1
        row["items"] += adjudication.n_items
    return render(request, "frontend/adjudications.html", _context(
        request, queue=queue, items_total=sum(a.n_items for a in queue), per_project=per_project))


@login_required
def adjudication_detail(request, adjudication_id):
    adjudication = access.adjudication_get_for(request.user, adjudication_id)
    next_adjudication = access.adjudication_queue_for(request.user).exclude(pk=adjudication.pk).first()
    page = {
        "schema": schema_for_page(adjudication.case.project.label_schema),
        "series": selectors.case_viewer_series(adjudication.case,
                                            instances=access.instances_visible_to(request.user)),
        "adjudication": adjudication_data(request.user, adjudication),
        "endpoints": {"resolve": reverse("api-adjudication-resolve", args=[adjudication.pk])},
        # The next case of the senior's queue ("Next case" after resolving this one); None when it is the last.
        "next": next_adjudication and reverse("adjudication", args=[next_adjudication.pk]),
        "queue": reverse("adjudications"),
    }
    return render(request, "frontend/adjudication.html", _context(request, adjudication=adjudication, page=page))
