"""python manage.py import_project DIR [--slug NEW]: restores a folder that export_project wrote, all or
nothing."""
from django.core.management.base import BaseCommand, CommandError

from interchange.backup import BackupError, project_import


class Command(BaseCommand):
    help = ("Restores a project from a folder written by export_project, after checking every file against the "
            "manifest's sha256; stores nothing if the archive is damaged or the slug is taken.")

    def add_arguments(self, parser):
        parser.add_argument("folder", help="the folder export_project wrote")
        parser.add_argument("--slug", default=None, help="import under this slug (default: the exported one)")

    def handle(self, *args, folder, slug, **options):
        try:
            result = project_import(folder=folder, slug=slug)
        except BackupError as error:
            raise CommandError(str(error))
        for name, count in result.counts.items():
            self.stdout.write(f"{name}: {count}")
        self.stdout.write(f"users created: {', '.join(result.users_created) or 'none'}; "
                          f"reused: {', '.join(result.users_reused) or 'none'}")
        self.stdout.write(f"imported project {result.project.slug} from {folder}: {result.files} files")
