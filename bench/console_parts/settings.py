"""The project's settings, unchanged, with one addition for `bench/console.py`: the
URLconf that also mounts the plain admin site (`plain_urls`) at /plain-admin/.

The bench selects it with DJANGO_SETTINGS_MODULE=bench.console_parts.settings, for
gunicorn and for its own process alike, so that the baseline and the pages it is
compared with are served by the same server, configuration and database. `bench` is
a namespace package (no __init__.py), importable from the repository root, which is
where gunicorn and manage.py run.
"""

from e2a_project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.console_parts.plain_urls"
