# One image for web, worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BIND=0.0.0.0:8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY e2a_project ./e2a_project
COPY orders ./orders
COPY slas ./slas
COPY exceptions ./exceptions
COPY ai ./ai
COPY billing ./billing
COPY prompts ./prompts
COPY fixtures ./fixtures
COPY manage.py Procfile ./
RUN pip install . \
    && useradd --create-home --uid 10001 e2a \
    && mkdir -p /app/var && chown e2a /app/var
USER e2a
RUN python manage.py collectstatic --no-input -v0 || true
EXPOSE 8000
CMD ["gunicorn", "e2a_project.wsgi:application", "-c", "e2a_project/gunicorn.conf.py"]
