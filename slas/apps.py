from django.apps import AppConfig


class SlasConfig(AppConfig):
    name = "slas"
    default_auto_field = "django.db.models.BigAutoField"
