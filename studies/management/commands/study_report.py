"""python manage.py study_report STUDY --out DIR: report.html, tables/*.csv, dashboard.json, long.csv, imrmc/."""
from django.core.management.base import BaseCommand, CommandError

from studies.models import ReaderStudy
from studies.report import report_write


class Command(BaseCommand):
    help = "Writes a reader study's report (HTML, CSV tables, JSON, long-format CSV, iMRMC files) into DIR."

    def add_arguments(self, parser):
        parser.add_argument("study", help="study id")
        parser.add_argument("--out", required=True, help="output folder (created if missing)")

    def handle(self, *args, study, out, **options):
        try:
            study = ReaderStudy.objects.select_related("project").get(pk=int(study))
        except (ReaderStudy.DoesNotExist, ValueError):
            raise CommandError(f"no reader study {study!r}")
        written = report_write(study, out)
        self.stdout.write(f"wrote {len(written)} files to {out} (report.html, tables/, dashboard.json, long.csv, imrmc/)")
