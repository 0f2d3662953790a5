"""The coordinators' DICOM upload page: drag and drop, chunked and resumable (annotation/api_upload.py)."""
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

import access
from annotation.services.uploads import CHUNK_MAX_BYTES


@login_required
def project_upload(request, slug):
    project = access.project_coordinated_get_for(request.user, slug)
    page = {
        "endpoints": {"start": reverse("api-uploads", args=[project.slug]),
                      "cases": reverse("project-cases", args=[project.slug])},
        # Smaller chunks lose less to a dropped connection; the API refuses any over CHUNK_MAX_BYTES.
        "chunk_bytes": min(getattr(settings, "DICOM_UPLOAD_CHUNK_BYTES", CHUNK_MAX_BYTES), CHUNK_MAX_BYTES),
        "max_bytes": settings.DICOM_MAX_UPLOAD_BYTES,
        "retries": 5,
    }
    return render(request, "frontend/upload.html", {"roles": sorted(access.user_roles(request.user)),
                                                    "project": project, "page": page})
