from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
    default_auto_field = "django.db.models.BigAutoField"
