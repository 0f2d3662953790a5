"""python manage.py import_label_studio PROJECT FILE --reader USER [--context CONTEXT]."""
import json

from django.core.management.base import BaseCommand, CommandError

from annotation import selectors
from annotation.models import Project, Role
from interchange.imports import label_studio_import


class Command(BaseCommand):
    help = "Imports a Label Studio JSON export as submitted reads of one reader (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("file")
        parser.add_argument("--reader", required=True)
        parser.add_argument("--context", default="", help='"" (primary double reading) or a study context')

    def handle(self, *args, project, file, reader, context, **options):
        try:
            project = Project.objects.get(slug=project)
            reader = selectors.users_with_role([reader], Role.READER, project=project)[0]
            with open(file, encoding="utf-8") as handle:
                tasks = json.load(handle)
            result = label_studio_import(project=project, tasks=tasks, reader=reader, context=context)
        except (Project.DoesNotExist, OSError, ValueError) as error:
            raise CommandError(str(error))
        self.stdout.write(f"imported {result['cases']} reads ({result['findings']} findings)")
