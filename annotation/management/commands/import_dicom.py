from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation import services
from annotation.dicom import DicomRejected, path_sources
from annotation.models import Project


class Command(BaseCommand):
    help = "Import DICOM files (a file, a .zip, or every file below a folder) into a project, de-identified."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--site", default="", help="site code (default: a hash of the institution name)")
        parser.add_argument("--as-user", default="", help="username recorded in the audit log")

    def handle(self, *args, path, project, site, as_user, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project {project!r}")
        actor = get_user_model().objects.filter(username=as_user).first() if as_user else None
        try:
            result = services.case_import(
                project=target,
                sources=path_sources(path, max_file_bytes=settings.DICOM_MAX_FILE_BYTES),
                actor=actor,
                site_code=site,
            )
        except DicomRejected as rejection:
            raise CommandError(f"rejected, nothing stored: {rejection}")
        except services.ImportRejected as rejection:
            lines = "\n".join(f"  {name}: {reason}" for name, reason in rejection.errors)
            raise CommandError(f"rejected, nothing stored:\n{lines}")
        self.stdout.write(
            f"imported {result.instances_created} new instances ({result.instances_existing} already held) "
            f"in {len(result.case_ids)} case(s), {result.series_count} series; skipped {len(result.skipped)}"
        )
