from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import followups
        from slas import breach_listeners

        from .services.breach_sync import exceptions_sync_breaches
        from .services.detection import exceptions_detect
        from .services.parked_followups import exceptions_open_for_parked_followup

        breach_listeners.register("exceptions.breaches", exceptions_sync_breaches)
        followups.register("exceptions.detect", exceptions_detect, rank=followups.DETECTION)
        followups.register_parked_listener(
            "exceptions.system_error", exceptions_open_for_parked_followup
        )
