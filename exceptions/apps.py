from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "exceptions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from orders import followups
        from slas import breach_listeners

        from .automation.stats import actions_section
        from .services.breach_sync import exceptions_sync_breaches
        from .services.detection import exceptions_detect
        from .services.parked_followups import exceptions_open_for_parked_followup
        from .stats import AT_RISK, BUILTIN_SECTIONS
        from .stats import register as register_stats_section

        breach_listeners.register("exceptions.breaches", exceptions_sync_breaches)
        followups.register("exceptions.detect", exceptions_detect, rank=followups.DETECTION)
        followups.register_parked_listener(
            "exceptions.system_error", exceptions_open_for_parked_followup
        )
        # The `stats` command's own sections; ai and billing add theirs the same way.
        for name, provider, rank in BUILTIN_SECTIONS:
            register_stats_section(name, provider, rank=rank)
        register_stats_section("exceptions.actions", actions_section, rank=AT_RISK + 50)
        # The order page's "N exceptions (M open) →" line.
        from .admin_order_links import register as register_order_links

        register_order_links()
