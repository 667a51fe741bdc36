# One image for every role (web, worker, beat, migrate); docker-compose.yml picks the command.
# Debian bookworm pinned: its bubblewrap (0.8.0) is the one deploy/seccomp-bwrap.json was traced on.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPENBLAS_NUM_THREADS=1 \
    DJANGO_ENV=production \
    AUTOGRADER_VAR_DIR=/app/var

# bubblewrap: the sandbox for student code. Debian's bwrap is not setuid: run by the non-root
# worker it builds the sandbox in an unprivileged user namespace (deploy/README.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && bwrap --version

WORKDIR /app
RUN groupadd --gid 10001 app && useradd --create-home --uid 10001 --gid 10001 app

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

# Numeric, so a runtime that insists on a non-root user (runAsNonRoot) can check it.
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "autograder.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
