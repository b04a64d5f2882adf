from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import followups
        from slas import breach_listeners

        from .services.breach_sync import exceptions_sync_breaches
        from .services.detection import exceptions_detect

        breach_listeners.register("exceptions.breaches", exceptions_sync_breaches)
        followups.register("exceptions.detect", exceptions_detect)
