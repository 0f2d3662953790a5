"""Pages of reader studies: the coordinator's list and dashboard, the report download, a reader's sessions."""
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

import access
from annotation import selectors as annotation_selectors
from annotation import services as annotation_services
from annotation.schema import schema_for_page
from studies import plots, report
from studies.dashboard import ALL_LEVELS


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
