# The app image: the `outreach` command, Celery worker and beat, the LMTP listener.
# Built by `docker compose build`; every service of docker-compose.yml runs it with another command.

# --- build: wheels for everything (PyICU compiles against libicu-dev) --------------------------
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libicu-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY worker ./worker
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- run ---------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
# libicu for PyICU (Japanese collation), Pango/HarfBuzz for WeasyPrint, Noto CJK so Japanese
# PDFs embed a real font.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libicu72 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
# Dependencies from the wheels; the project itself runs from /app (its source tree), so that
# templates/ and config/ sit where worker/settings.py looks for them (PROJECT_ROOT).
COPY --from=build /wheels /wheels
RUN find /wheels -name 'outreach-*.whl' -delete \
 && pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && printf '#!/usr/local/bin/python\nfrom worker.cli import main\nmain()\n' > /usr/local/bin/outreach \
 && chmod 755 /usr/local/bin/outreach

RUN useradd --create-home --uid 10001 outreach && mkdir -p /data && chown outreach /data
WORKDIR /app
COPY pyproject.toml ./
COPY worker ./worker
COPY templates ./templates
COPY config ./config
ENV PYTHONPATH=/app \
    OUTREACH_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
USER outreach
VOLUME ["/data"]
EXPOSE 8024 8080 9808
HEALTHCHECK --interval=30s --timeout=15s --start-period=20s \
  CMD ["outreach", "health", "--quiet", "--check", "db", "--check", "broker"]
CMD ["outreach", "--help"]
