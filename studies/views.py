"""Pages of reader studies: the coordinator's list, form and dashboard, the report download, a reader's sessions."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

import access
from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.models import Role
from annotation.schema import schema_for_page
from studies import plots, report, selectors, services
from studies.dashboard import ALL_LEVELS
from studies.forms import StudyForm
from studies.models import ReaderStudy


def _context(request, **extra):
    return {"roles": sorted(access.user_roles(request.user)), **extra}


@login_required
def study_list(request):
    if not access.is_coordinator(request.user):
        return redirect("study-sessions")
    return render(request, "studies/study_list.html",
                  _context(request, studies=access.studies_visible_to(request.user)))


@login_required
def study_dashboard_page(request, study_id):
    study = access.study_get_for(request.user, study_id)
    _data, dashboard = report.study_dashboard_for(study)
    level_options = [ALL_LEVELS, *dashboard["levels"]]
    level = request.GET.get("level", ALL_LEVELS)
    if level not in level_options:
        level = ALL_LEVELS
    tables = []
    for table in report._display_tables(dashboard):
        if "level" in table["columns"]:
            at = table["columns"].index("level")
            table["rows"] = [row for row in table["rows"] if row[at] == level]
        tables.append(table)
    figures = {name: plots.data_uri(png) for name, png in plots.dashboard_figures(dashboard).items()}
    return render(request, "studies/dashboard.html", _context(
        request, study=study, dashboard=dashboard, tables=tables, figures=figures, level=level,
        sessions=selectors.study_session_progress(study),
        level_options=level_options, readers=sorted({r["name"] for r in dashboard["raters"] if r["kind"] == "reader"})))


@login_required
def study_report_download(request, study_id):
    study = access.study_get_for(request.user, study_id)
    response = HttpResponse(report.report_zip(study), content_type="application/zip")
    annotation_services.audit_log(actor=request.user, action="study_report_export", target=study)
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-report.zip"'
    return response


@login_required
def study_sessions(request):
    rows = list(access.session_states(request.user).values())
    return render(request, "studies/sessions.html", _context(request, rows=rows))


@login_required
def study_session_read(request, session_id):
    """The reading page for one study session whose period is open: the same viewer and form, the session's own
    endpoints, and the model's findings only in an aided arm."""
    try:
        session = access.session_open_get_for(request.user, session_id)
    except access.AccessDenied:
        raise Http404("this session's period is not open")
    case = session.case
    aided = access.session_model_findings_allowed(request.user, session)
    page = {
        "schema": schema_for_page(case.project.label_schema),
        "exhaustive": case.project.labelling_mode == case.project.LabellingMode.EXHAUSTIVE,
        "series": annotation_selectors.case_viewer_series(
            case, instances=access.instances_visible_to(request.user)),
        # No "correct": a session's read is final once submitted.
        "endpoints": {
            "open": reverse("api-study-session-open", args=[session.pk]),
            "draft": reverse("api-study-session-draft", args=[session.pk]),
            "submit": reverse("api-study-session-submit", args=[session.pk]),
            "model": reverse("api-study-session-model-findings", args=[session.pk]) if aided else None,
        },
    }
    return render(request, "frontend/case_read.html", _context(
        request, case=case, page=page, back_url=reverse("study-sessions"), back_label="study sessions",
        heading=f"{session.study.name}: {session.get_arm_display()}{' (repeat)' if session.repetition > 1 else ''}"))


def _study_form(request, projects, data=None) -> StudyForm:
    finding_names = sorted({f["name"] for p in projects for f in p.label_schema["findings"]})
    return StudyForm(data, projects=projects, finding_names=finding_names,
                     model_versions=selectors.study_pinnable_model_versions(projects),
                     readers=selectors.study_eligible_readers(projects))


def _study_define(request, form: StudyForm) -> ReaderStudy:
    """The study the valid form defines; raises ValueError (StudyError among them) in words, storing nothing."""
    data = form.cleaned_data
    project = access.project_coordinated_get_for(request.user, data["project"])
    case_ids = selectors.study_candidate_cases(project, **form.case_filter())
    if not case_ids:
        raise ValueError("no case of the project with final ground truth matches the filter")
    readers = annotation_selectors.users_with_role(data["readers"], Role.READER, project=project)
    return services.study_create(
        project=project, name=data["name"], description=data["description"], case_ids=case_ids, readers=readers,
        design=data["design"], model_version=data["model_version"], washout_days=data["washout_days"],
        repeat_fraction=data["repeat_fraction"], seed=data["seed"], actor=request.user)


@login_required
def study_new(request):
    """The coordinator's form defining a study; "Preview" counts the matching cases without storing anything."""
    if not access.is_coordinator(request.user):
        raise Http404("no such page")
    projects = list(access.projects_coordinated_by(request.user))
    form = _study_form(request, projects, request.POST if request.method == "POST" else None)
    preview, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid() and "preview" in request.POST:
            project = access.project_coordinated_get_for(request.user, form.cleaned_data["project"])
            preview, status = len(selectors.study_candidate_cases(project, **form.case_filter())), 200
        elif form.is_valid():
            try:
                study = _study_define(request, form)
            except ValueError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Study {study.pk} defined: {study.study_cases.count()} cases, "
                                          f"{study.sessions.count()} sessions.")
                return redirect("study-dashboard", study_id=study.pk)
    return render(request, "studies/study_form.html", _context(
        request, form=form, preview=preview, sites=selectors.study_site_codes(projects)), status=status)
