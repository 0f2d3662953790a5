from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation import services
from annotation.dicom import DicomRejected, path_sources
from annotation.management.options import add_project_arguments, project_named, user_named


class Command(BaseCommand):
    help = "Import DICOM files (a file, a .zip, or every file below a folder) into a project, de-identified."

    def add_arguments(self, parser):
        parser.add_argument("path")
        add_project_arguments(parser)
        parser.add_argument("--site", default="", help="site code (default: a hash of the institution name)")

    def handle(self, *args, path, project, site, as_user, **options):
        target, actor = project_named(project), user_named(as_user)
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
