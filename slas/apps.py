from django.apps import AppConfig


class SlasConfig(AppConfig):
    name = "slas"
    verbose_name = "SLAs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import followups, projection_hooks

        from . import config  # noqa: F401  (connects the cache-refresh signals)
        from .services.clock_rows import clock_rows_followup
        from .services.clocks import on_projected
        from .stages import ORDER_FIELDS

        projection_hooks.register("slas.clocks", on_projected, reads=ORDER_FIELDS)
        followups.register("slas.clock_rows", clock_rows_followup, rank=followups.CLOCKS)
