from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Cases, reads and adjudication"

    def ready(self):
        from annotation import auth_audit

        auth_audit.connect()
