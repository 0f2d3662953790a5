from django.core.management.base import BaseCommand, CommandError

from annotation.management.options import add_project_arguments, project_named, user_named
from annotation.services.backlog import BATCH_FILES, backlog_enqueue


class Command(BaseCommand):
    help = ("Import a folder of many studies (a folder per study below it) through Celery workers: one task per "
            "batch of files, run in parallel by every worker; de-identified as import_dicom does. The folder "
            "must be at the same path on every worker. Without a broker the batches run here, in turn.")

    def add_arguments(self, parser):
        parser.add_argument("path")
        add_project_arguments(parser)
        parser.add_argument("--site", default="", help="site code (default: a hash of the institution name)")
        parser.add_argument("--batch-files", type=int, default=BATCH_FILES,
                            help=f"files per task (default {BATCH_FILES}); a study is kept in one where it fits")
        parser.add_argument("--queue", default="", help="Celery queue (default: the default queue)")

    def handle(self, *args, path, project, site, as_user, batch_files, queue, **options):
        target, actor = project_named(project), user_named(as_user)
        try:
            plan = backlog_enqueue(project=target, root=path, actor=actor, site_code=site,
                                   batch_files=batch_files, queue=queue or None)
        except ValueError as error:
            raise CommandError(str(error))
        self.stdout.write(f"enqueued {plan.files} files in {plan.batches} task(s) for project {target.slug}")
