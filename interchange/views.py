"""Pages of data exchange: a project's downloads (datasets in every export format, its studies' reports)."""
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.shortcuts import render

import access
from annotation import services as annotation_services
from interchange.downloads import dataset_zip
from interchange.exports import FORMATS


@login_required
def project_downloads(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    studies = access.studies_visible_to(request.user).filter(project=project)
    return render(request, "interchange/downloads.html", {
        "roles": sorted(access.user_roles(request.user)), "project": project, "formats": FORMATS,
        "studies": studies})


@login_required
def project_dataset_download(request, slug):
    """The project's final ground truth as a zip in ``?format=`` (one of FORMATS); 400 in words for another."""
    project = access.project_coordinated_get_for(request.user, slug)
    fmt = request.GET.get("format", "")
    if fmt not in FORMATS:
        return HttpResponse(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", status=400,
                            content_type="text/plain; charset=utf-8")
    archive, files = dataset_zip(project, fmt=fmt)
    annotation_services.audit_log(actor=request.user, action="dataset_export", target=project,
                                  payload={"format": fmt, "files": files})
    return FileResponse(archive, as_attachment=True, filename=f"{project.slug}-{fmt}.zip",
                        content_type="application/zip")
