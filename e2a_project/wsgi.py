"""WSGI entry point (gunicorn e2a_project.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2a_project.settings")
application = get_wsgi_application()
