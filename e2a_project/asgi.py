"""ASGI entry point, for servers that prefer it; E²A's views are synchronous."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "e2a_project.settings")
application = get_asgi_application()
