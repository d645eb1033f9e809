# tgfleet daemon image. Build: docker build -t tgfleet .

# The web panel, built with Node and copied into the runtime image as static files: the image
# runs no Node, and the panel loads nothing from outside the daemon.
FROM node:20-slim AS panel
WORKDIR /panel
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/index.html frontend/tsconfig.json frontend/vite.config.ts ./
COPY frontend/src ./src
RUN npm run build

FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

# tgcrypto builds from source on some platforms.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY config ./config
RUN pip install . && apt-get purge -y gcc libc6-dev && apt-get autoremove -y
# the installed package is not next to the repo's frontend/, so say where the panel is
COPY --from=panel /panel/dist ./frontend/dist
ENV TGFLEET_PANEL_DIR=/app/frontend/dist

RUN useradd --system --home /data tgfleet && mkdir -p /data && chown tgfleet /data
USER tgfleet
VOLUME /data
EXPOSE 8080

# Bind to all interfaces inside the container; compose publishes it on the host's loopback.
CMD ["tgfleet", "serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
