# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY marketplace ./marketplace
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    MARKETPLACE_ENVIRONMENT=production \
    MARKETPLACE_SIGNING_KEYS_DIR=/app/keys
RUN groupadd --system marketplace && useradd --system --gid marketplace --home-dir /app marketplace \
    && mkdir -p /app/keys && chown marketplace:marketplace /app/keys && chmod 700 /app/keys
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The CLI finds alembic.ini and migrations/ in the working directory.
COPY alembic.ini ./
COPY migrations ./migrations
USER marketplace
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# `serve` applies the migrations, then runs uvicorn.
CMD ["marketplace", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
