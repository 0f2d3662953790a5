from django.apps import AppConfig


class SpinePlatformConfig(AppConfig):
    """The project package as an app, so that its system checks (spineplatform.checks) are registered."""

    name = "spineplatform"
    verbose_name = "SpineRead platform"

    def ready(self):
        from spineplatform import checks  # noqa: F401  (registers the checks)
