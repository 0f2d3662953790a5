"""python manage.py export_dataset PROJECT --format yolo|coco|voc|labelme|label-studio|dicom-sr --out DIR."""
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from interchange.exports import FORMATS, dataset_export


class Command(BaseCommand):
    help = "Exports a project's final ground truth as a dataset (split tags as given)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project slug")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument("--out", required=True)
        parser.add_argument("--split", action="append", help="only these split tags (repeatable; 'unassigned')")

    def handle(self, *args, project, fmt, out, split, **options):
        try:
            project = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project {project!r}")
        written = dataset_export(project, fmt=fmt, out_dir=out, splits=split)
        self.stdout.write(f"wrote {len(written)} files to {out}")
