"""python manage.py import_predictions PROJECT FILE --format coco|label-studio --model-version NAME [--min-score S].

An entry point composing the rooms: the file is read by ``interchange.external`` and stored through
``mlbackend.services.external`` (which places boxes on disc levels the way our own detector's are).
"""
import json

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from interchange.external import FORMATS
from mlbackend.services.external import DEFAULT_MIN_SCORE, external_predictions_import


class Command(BaseCommand):
    help = ("Imports another model's predictions (COCO results JSON or Label Studio predictions) as the model "
            "version external:NAME, all or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("file")
        parser.add_argument("--format", dest="fmt", required=True, choices=FORMATS)
        parser.add_argument("--model-version", required=True, help='stored as "external:NAME"')
        parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE,
                            help="boxes scoring less are not findings (default %(default)s)")

    def handle(self, *args, project, file, fmt, model_version, min_score, **options):
        try:
            project = Project.objects.get(slug=project)
            with open(file, encoding="utf-8") as handle:
                data = json.load(handle)
            result = external_predictions_import(project=project, model_version=model_version, fmt=fmt,
                                                 data=data, actor=None, min_score=min_score)
        except (Project.DoesNotExist, OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            raise CommandError(str(error))
        self.stdout.write(f"imported {result['findings']} findings of {result['model_version']} on "
                          f"{result['cases']} cases ({result['boxes']} boxes)")
