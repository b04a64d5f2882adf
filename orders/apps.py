from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders and ingestion"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import roles_sync_after_migrate

        # The role table (orders/roles.py) is applied after every `migrate`.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="orders.roles")
        from . import (
            schema_extensions,  # noqa: F401 - registers the OpenAPI auth scheme
            tasks,  # noqa: F401 - registers the Celery tasks in every process
        )
