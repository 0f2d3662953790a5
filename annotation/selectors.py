"""Reads, and the one place that decides who may see what.

Every view and page goes through `*_visible_to` / `*_get_for`; nothing else filters cases by user. A reader or
senior sees only the cases assigned to them; a coordinator (or superuser) sees every case.
"""
from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404

from annotation.models import Case, Instance, Project, Role


def user_roles(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    if not hasattr(user, "_spineread_roles"):
        roles = set(user.groups.values_list("name", flat=True)) & {r.value for r in Role}
        if user.is_superuser:
            roles.add(Role.COORDINATOR.value)
        user._spineread_roles = roles
    return user._spineread_roles


def is_coordinator(user) -> bool:
    return Role.COORDINATOR.value in user_roles(user)


def projects_visible_to(user) -> QuerySet[Project]:
    if is_coordinator(user):
        return Project.objects.all().order_by("slug")
    return Project.objects.filter(cases__assignments__user=user).distinct().order_by("slug")


def cases_visible_to(user, *, project: Project | None = None) -> QuerySet[Case]:
    cases = Case.objects.all() if is_coordinator(user) else Case.objects.filter(assignments__user=user).distinct()
    if project is not None:
        cases = cases.filter(project=project)
    return cases


def project_get_for(user, slug: str) -> Project:
    try:
        return projects_visible_to(user).get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("no such project")


def case_get_for(user, case_id: int) -> Case:
    """The case, or 404 when it does not exist or the user may not see it (no hint which)."""
    try:
        return cases_visible_to(user).select_related("project").get(pk=case_id)
    except (Case.DoesNotExist, ValueError):
        raise Http404("no such case")


def instance_get_for(user, instance_id: int) -> Instance:
    visible = cases_visible_to(user)
    try:
        return Instance.objects.select_related("series__case").get(pk=instance_id, series__case__in=visible)
    except (Instance.DoesNotExist, ValueError):
        raise Http404("no such instance")


def case_list_with_counts(cases: QuerySet[Case]) -> QuerySet[Case]:
    return cases.annotate(series_count=Count("series", distinct=True), instance_count=Count("series__instances"))


def case_detail(case: Case) -> Case:
    """The case with its series and their instances in slice order, in three queries."""
    return Case.objects.prefetch_related("series__instances").select_related("project").get(pk=case.pk)
