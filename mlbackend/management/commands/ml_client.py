"""python manage.py ml_client --project SLUG: creates the project's ML client account, or gives it a new password.

Prints exactly two lines, ``username: ...`` and ``password: ...``: enter them in Label Studio's ML backend
connection as Basic authentication (basic_auth_user / basic_auth_pass). Running it again rotates the password;
the old one stops working at once.
"""
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from mlbackend.services.ml_client import MlClientError, ml_client_rotate


class Command(BaseCommand):
    help = "Create or rotate a project's ML client account (Label Studio's HTTP Basic login to /ml/*)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="the SpineRead project's slug")

    def handle(self, *args, project, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project {project!r}")
        try:
            credentials = ml_client_rotate(project=target)
        except MlClientError as error:
            raise CommandError(str(error))
        self.stdout.write(f"username: {credentials.username}")
        self.stdout.write(f"password: {credentials.password}")
