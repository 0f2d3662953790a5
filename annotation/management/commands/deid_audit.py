from django.core.management.base import BaseCommand, CommandError

from annotation.deid_audit import audit_storage
from annotation.management.options import project_named


class Command(BaseCommand):
    help = ("Audit stored DICOM files and the header fields copied into the database against the "
            "de-identification profile; exits non-zero when anything is not clean.")

    def add_arguments(self, parser):
        parser.add_argument("--project", default="", help="project slug (default: every project)")

    def handle(self, *args, project, **options):
        report = audit_storage(project=project_named(project) if project else None)
        for violation in report.violations:
            self.stdout.write(str(violation))
        self.stdout.write(report.summary())
        if not report.clean:
            raise CommandError(f"{len(report.violations)} de-identification violations; see above")
