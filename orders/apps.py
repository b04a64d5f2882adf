from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders and ingestion"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            schema_extensions,  # noqa: F401 - registers the OpenAPI auth scheme
            tasks,  # noqa: F401 - registers the Celery tasks in every process
        )
