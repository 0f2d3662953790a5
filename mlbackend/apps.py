from django.apps import AppConfig


class MlbackendConfig(AppConfig):
    name = "mlbackend"
    verbose_name = "ML backend"

    def ready(self):
        # Before anything imports ultralytics: no network, settings in the project's folder. Imports neither
        # ultralytics nor torch; the adapter completes the set-up (settings file, custom layers) before its first
        # ultralytics import.
        from mlbackend.offline import offline_environment

        offline_environment()
        from annotation.signals import project_copied
        from mlbackend.services.model_settings import model_settings_copy

        project_copied.connect(model_settings_copy, dispatch_uid="mlbackend-model-settings-copy")
