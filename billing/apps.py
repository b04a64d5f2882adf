from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The order page's "N invoice lines →" link, for those who may see billing.
        from .admin_order_links import register as register_order_links

        register_order_links()
