# One image for web, worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BIND=0.0.0.0:8000

WORKDIR /app
# The locked dependencies first (a layer that changes only with the lock), each
# checked against its hash; then E²A itself, resolving nothing again.
COPY requirements/lock.txt requirements/lock.txt
RUN pip install --require-hashes -r requirements/lock.txt
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
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 e2a \
    && mkdir -p /app/var && chown e2a /app/var
USER e2a
# Static files are part of the image. A failed collectstatic fails the build: an
# image without them would serve an unstyled console and a blank /docs.
RUN python manage.py collectstatic --no-input -v1
EXPOSE 8000
CMD ["gunicorn", "e2a_project.wsgi:application", "-c", "e2a_project/gunicorn.conf.py"]
