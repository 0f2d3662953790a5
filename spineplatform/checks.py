"""`manage.py check --deploy` findings of SpineRead's own, beside Django's security checks.

Settings already refuse to load with a published SECRET_KEY or DEID_SALT, or none on a database server; what
is left for the deployment check is the newcomer set-up itself: values made up for one machine in var/, a
SQLite file, tasks run inside the web process.
"""
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def secrets_from_environment(app_configs=None, **kwargs):
    errors = []
    for name, check_id in (("SECRET_KEY", "spineread.E001"), ("DEID_SALT", "spineread.E002")):
        source = getattr(settings, f"{name}_SOURCE", "environment")
        if source != "environment":
            errors.append(Error(
                f"{name} was generated for this machine's SQLite set-up ({source}), not set in the environment.",
                hint=f"Set {name} to a long random value kept with the database (see .env.example).",
                id=check_id,
            ))
    return errors


@register(Tags.database, deploy=True)
def production_services(app_configs=None, **kwargs):
    warnings = []
    if not settings.SERVER_DATABASE:
        warnings.append(Warning("The database is a SQLite file: fine for one person's demo, not for a site.",
                                hint="Set DATABASE_URL to the PostgreSQL database.", id="spineread.W003"))
    if settings.CELERY_TASK_ALWAYS_EAGER:
        warnings.append(Warning("No CELERY_BROKER_URL: imports, pre-annotation and training run inside the web "
                                "process.", hint="Set CELERY_BROKER_URL to Redis and run workers.",
                                id="spineread.W004"))
    return warnings
