from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation import services
from annotation.models import Project, ProjectMembership, Role


class Command(BaseCommand):
    help = ("Make a user a coordinator of a project (or take it away with --remove). Coordinators see and manage "
            "only the projects they belong to; admins (superusers) see all.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--remove", action="store_true", help="end the membership")
        parser.add_argument("--as-user", default="", help="username recorded in the audit log")

    def handle(self, *args, username, project, remove, as_user, **options):
        User = get_user_model()
        try:
            target = Project.objects.get(slug=project)
            user = User.objects.get(username=username)
        except (Project.DoesNotExist, User.DoesNotExist) as error:
            raise CommandError(str(error))
        actor = User.objects.filter(username=as_user).first() if as_user else None
        if remove:
            removed = services.project_member_remove(project=target, user=user,
                                                     role=ProjectMembership.Role.COORDINATOR, actor=actor)
            self.stdout.write(f"{username} {'is no longer' if removed else 'was not'} a coordinator of {project}")
            return
        services.user_set_role(user=user, role=Role.COORDINATOR, actor=actor)
        services.project_member_add(project=target, user=user, role=ProjectMembership.Role.COORDINATOR, actor=actor)
        self.stdout.write(f"{username} coordinates {project}")
