"""Coordinator pages: the model registry of a project, its learning curve and the running training."""
from __future__ import annotations

import io

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

import access
from mlbackend import selectors, services


def _coordinator(request):
    """Coordinators only; anyone else gets 404, as for a project they do not coordinate."""
    if not access.is_coordinator(request.user):
        raise Http404("no such page")


@login_required
def registry_index(request):
    _coordinator(request)
    projects = [{"project": p, "served": selectors.served_version_for(p)}
                for p in access.projects_coordinated_by(request.user)]
    return render(request, "mlbackend/index.html",
                  {"roles": sorted(access.user_roles(request.user)), "projects": projects})


@login_required
def registry_page(request, slug):
    _coordinator(request)
    project = access.project_coordinated_get_for(request.user, slug)
    services.training_runs_reap(project=project)
    return render(request, "mlbackend/registry.html", {
        "roles": sorted(access.user_roles(request.user)), "project": project,
        "served": selectors.served_version_for(project), "versions": selectors.model_versions_for(project),
        "runs": selectors.training_runs_for(project, limit=10), "active": selectors.active_training_for(project),
        "settings": services.project_model_settings(project),
    })


@login_required
def learning_curve_png(request, slug):
    """mAP50 and mAP50-95 on the held-out set per version; promoted versions filled, rejected hollow."""
    _coordinator(request)
    project = access.project_coordinated_get_for(request.user, slug)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    curve = [point for point in selectors.learning_curve(project) if point["map50"] is not None]
    figure = Figure(figsize=(6, 3.2), dpi=100)
    axes = figure.add_subplot()
    for key, colour in (("map50", "tab:blue"), ("map50_95", "tab:orange")):
        xs = [p["version"] for p in curve]
        axes.plot(xs, [p[key] for p in curve], color=colour, label=key.replace("_", "-").replace("map", "mAP"))
        for p in curve:
            axes.scatter([p["version"]], [p[key]], color=colour if p["decision"] != "rejected" else "white",
                         edgecolors=colour, zorder=3)
    axes.set_xlabel("model version")
    axes.set_ylabel("held-out metric")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    if curve:
        axes.legend(loc="lower right")
    else:
        axes.text(0.5, 0.5, "no evaluated model yet", ha="center", transform=axes.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return HttpResponse(buffer.getvalue(), content_type="image/png")
