"""What every project command takes: the project's slug and the user recorded in the audit log."""
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from annotation.models import Project


def add_project_arguments(parser, *, as_user: bool = True) -> None:
    parser.add_argument("--project", required=True, help="project slug")
    if as_user:
        parser.add_argument("--as-user", default="", help="username recorded in the audit log")


def project_named(slug: str) -> Project:
    try:
        return Project.objects.get(slug=slug)
    except Project.DoesNotExist:
        raise CommandError(f"no project {slug!r}")


def user_named(username: str):
    """The user, or CommandError; an empty name is no user (None)."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user {username!r}")
    return user
