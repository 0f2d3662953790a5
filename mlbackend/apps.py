from django.apps import AppConfig


class MlbackendConfig(AppConfig):
    name = "mlbackend"
