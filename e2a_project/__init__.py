"""E²A project package: settings, URLs, Celery app, health views."""

from .celery import app as celery_app

__all__ = ("celery_app",)
