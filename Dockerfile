# Production image: daphne serving HTTP, static files and WebSockets from one process.
# Needs MONGODB_URI (real MongoDB or Atlas: the embedded database is for development only),
# SECRET_KEY and ALLOWED_HOSTS; see README.md for the rest.
# Bookworm: the Debian the tests and benchmarks run on. Its libopus (1.3.1), which encodes call
# recordings (postcall/opus.py), is the one README's recording figures measure.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends libopus0 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=False \
    PORT=8000 \
    TRUSTED_PROXY_COUNT=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY manage.py ./
COPY voiceproject voiceproject
COPY support support
COPY realtime realtime
COPY postcall postcall
COPY callbacks callbacks
COPY continuity continuity
COPY livestaff livestaff
COPY mongo_migrations mongo_migrations
COPY templates templates
COPY static static

# collectstatic needs settings but no database and no real secret.
RUN SECRET_KEY=collectstatic-only MONGODB_URI=mongodb://build.invalid \
    python manage.py collectstatic --noinput -v 0

RUN useradd --create-home --uid 10001 app && chown -R app /app/var
USER app

EXPOSE 8000
# Refuse to start without a real database rather than fail on the first request.
# No --proxy-headers: daphne would take the client's address from the first X-Forwarded-For
# entry, which the client writes. The app reads the header itself, trusting the last
# TRUSTED_PROXY_COUNT entries (1: Cloud Run's front end, or one balancer; see README).
# PORT set but empty counts as unset (README: Configuration): 8000.
CMD ["sh", "-c", ": \"${MONGODB_URI:?MONGODB_URI is required}\" && python manage.py check --deploy --fail-level ERROR && exec daphne -b 0.0.0.0 -p \"${PORT:-8000}\" voiceproject.asgi:application"]
