from django.core.management.base import BaseCommand

from annotation import services
from annotation.management.options import add_project_arguments, project_named, user_named
from annotation.models import ProjectMembership, Role


class Command(BaseCommand):
    help = ("Make a user a coordinator of a project (or take it away with --remove). Coordinators see and manage "
            "only the projects they belong to; admins (superusers) see all.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        add_project_arguments(parser)
        parser.add_argument("--remove", action="store_true", help="end the membership")

    def handle(self, *args, username, project, remove, as_user, **options):
        target, user, actor = project_named(project), user_named(username), user_named(as_user)
        if remove:
            removed = services.project_member_remove(project=target, user=user,
                                                     role=ProjectMembership.Role.COORDINATOR, actor=actor)
            self.stdout.write(f"{username} {'is no longer' if removed else 'was not'} a coordinator of {project}")
            return
        services.user_set_role(user=user, role=Role.COORDINATOR, actor=actor)
        services.project_member_add(project=target, user=user, role=ProjectMembership.Role.COORDINATOR, actor=actor)
        self.stdout.write(f"{username} coordinates {project}")
