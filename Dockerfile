# One image for every role (web, worker, beat, migrate); docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPENBLAS_NUM_THREADS=1 \
    DJANGO_ENV=production \
    AUTOGRADER_VAR_DIR=/app/var

WORKDIR /app
RUN useradd --create-home --uid 10001 app

# Dependencies first (cached while only the code changes), then the code itself.
COPY pyproject.toml README.md ./
COPY nncore ./nncore
COPY autograder ./autograder
COPY exercises ./exercises
COPY manage.py ./
RUN pip install ".[service]"

# Static files (admin, API docs) are served by WhiteNoise from the image. Production settings
# insist on a secret key and allowed hosts; these placeholders exist only for this build step.
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput -v 0 \
    && chown -R app:app /app/var

USER app
EXPOSE 8000
CMD ["gunicorn", "autograder.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
