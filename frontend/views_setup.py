"""Coordinators' set-up pages: a new project, its schema versions, its settings, its people and their roles.

Plain server-rendered forms: each POST calls one service (the same ones the API in annotation/api_setup.py
calls) and comes back with a message saying what happened, or why nothing did.
"""
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import access
from annotation import selectors
from annotation.services.projects import (
    ROLE_CHOICES, member_add_for, member_remove_for, project_create_for, user_invite_path
)
from annotation.models import Project
from annotation.schema import schema_value_edit
from annotation.services import projects as project_services
from frontend.views import _context
from mlbackend.configs import config_names
from mlbackend.services.model_settings import model_settings_update, project_model_settings


@login_required
def project_new(request):
    if not access.may_create_projects(request.user):
        raise Http404("no such page")
    if request.method == "POST":
        slug, name = request.POST.get("slug", "").strip(), request.POST.get("name", "").strip()
        copy_from = request.POST.get("copy_from", "")
        try:
            project = project_create_for(request.user, slug=slug, name=name, copy_from=copy_from)
        except ValueError as error:
            messages.error(request, f"No project created: {error}")
            return redirect("project-new")
        origin = f"a copy of {copy_from}" if copy_from else "the lumbar template"
        messages.success(request, f"Created project {project.name} from {origin} (schema v{project.schema_version}); "
                                  "you coordinate it.")
        return redirect("project-schema", slug=project.slug)
    return render(request, "frontend/setup/project_new.html",
                  _context(request, sources=access.projects_coordinated_by(request.user)))


def _schema_page(request, project, *, text=None, status=200):
    return render(request, "frontend/setup/project_schema.html", _context(
        request, project=project, history=selectors.project_schema_history(project),
        schema_text=text if text is not None else json.dumps(project.label_schema, indent=2),
        findings=project.label_schema.get("findings", [])), status=status)


@login_required
def project_schema(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    if request.method != "POST":
        return _schema_page(request, project)
    action = request.POST.get("action", "json")
    text = request.POST.get("label_schema", "")
    try:
        if action == "json":
            try:
                schema = json.loads(text)
            except json.JSONDecodeError as error:
                raise project_services.SetupError(f"the schema is not valid JSON ({error})")
        else:
            schema = schema_value_edit(
                project.label_schema, finding=request.POST.get("finding", ""),
                value=request.POST.get("value", "").strip(), add=action == "add_value")
        row = project_services.project_schema_new_version(project=project, label_schema=schema, actor=request.user)
    except ValueError as error:
        messages.error(request, f"Schema not saved; it stays v{project.schema_version}: {error}")
        return _schema_page(request, project, text=text if action == "json" else None, status=400)
    messages.success(request, f"Saved schema v{row.version}. Reads opened before keep the version they were opened "
                              "under.")
    return redirect("project-schema", slug=slug)


@login_required
def project_settings(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "model":
                model_settings_update(
                    project=project, actor=request.user, config_name=request.POST.get("config_name") or None,
                    retrain_after_cases=_whole_number(request.POST.get("retrain_after_cases", ""),
                                                      "retrain after (cases)"),
                    retrain_crontab=request.POST.get("retrain_crontab", ""))
                messages.success(request, "Model settings saved.")
            else:
                project_services.project_settings_update(
                    project=project, actor=request.user, labelling_mode=request.POST.get("labelling_mode", ""),
                    box_iou_threshold=request.POST.get("box_iou_threshold", ""),
                    case_order=request.POST.get("case_order", ""))
                messages.success(request, "Project settings saved.")
        except ValueError as error:
            messages.error(request, f"Nothing saved: {error}")
        return redirect("project-settings", slug=slug)
    return render(request, "frontend/setup/project_settings.html", _context(
        request, project=project, modes=Project.LabellingMode.choices, orders=Project.CaseOrder.choices,
        model_settings=project_model_settings(project), configs=config_names()))


def _whole_number(text: str, what: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise ValueError(f"{what} must be a whole number of 0 or more")
    return int(text)


@login_required
def project_people(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    if request.method == "POST":
        data = {key: request.POST.get(key, "").strip() for key in ("username", "email", "role", "specialty")}
        data.update(create=request.POST.get("create") == "on", password=request.POST.get("password", ""))
        try:
            data["years_experience"] = _whole_number(request.POST.get("years_experience", ""), "years") or 0
            membership = member_add_for(request.user, project, data)
        except ValueError as error:
            messages.error(request, f"Nobody added: {error}")
        else:
            made = "Created the account and gave" if data["create"] else "Gave"
            messages.success(request, f"{made} {membership.user.username} the {membership.role} role on "
                                      f"{project.name}.")
            if data["create"] and not data["password"]:
                messages.info(request, "Invitation: send them this link to set their own password (it works "
                                       f"once): {request.build_absolute_uri(user_invite_path(membership.user))}")
        return redirect("project-people", slug=slug)
    return render(request, "frontend/setup/project_people.html", _context(
        request, project=project, memberships=selectors.project_memberships(project), role_choices=ROLE_CHOICES))


@login_required
@require_POST
def project_people_remove(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    data = {"username": request.POST.get("username", ""), "role": request.POST.get("role", "")}
    try:
        member_remove_for(request.user, project, data)
    except ValueError as error:
        messages.error(request, f"Nothing removed: {error}")
    else:
        messages.success(request, f"Removed {data['username']}'s {data['role']} role on {project.name}.")
    return redirect("project-people", slug=slug)
