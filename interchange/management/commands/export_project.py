"""python manage.py export_project SLUG --out DIR: a whole project as a folder that import_project restores."""
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from interchange.backup import BackupError, project_export


class Command(BaseCommand):
    help = ("Writes a project (DICOM files, reads with their versions, ground truth with its provenance, audit, "
            "models, reader studies) to an empty folder, with the sha256 of every file in manifest.json.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the project's slug")
        parser.add_argument("--out", required=True, help="a folder that does not exist yet or is empty")

    def handle(self, *args, slug, out, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with the slug {slug!r}")
        try:
            manifest = project_export(project=project, out_dir=out)
        except BackupError as error:
            raise CommandError(str(error))
        for name, count in manifest["counts"].items():
            self.stdout.write(f"{name}: {count}")
        self.stdout.write(f"exported project {slug} to {out}: {len(manifest['files']) - 1} files")
