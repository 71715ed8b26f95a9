# The serving image: a virtual environment with the runtime dependencies only (numpy,
# onnxruntime, msgspec, starlette, uvicorn with uvloop and httptools), the conveyor.serve
# package, model.onnx and signature.json.
# Build it after `dvc repro` (it copies models/); `make image` passes the build arguments.
# Both stages start from the same base, pinned by digest and written out (not an ARG) so that
# Dependabot's docker updates can move it. Without a registry, `scripts/container.sh build`
# builds from a copy of this file whose FROM lines name a local base instead (or BASE_IMAGE).

FROM python:3.12-slim@sha256:f77ac9e44ae96ef2c90b8053ea08c31f8be030f824196b0ae4db6d462c84e51f AS build
# Optional CA bundle for networks that intercept TLS, passed as a build secret so no layer
# keeps it: --secret id=pipca,src=/path/ca.pem --build-arg PIP_CERT=/run/secrets/pipca
ARG PIP_CERT=""
RUN python3 -m venv /opt/venv
COPY requirements/serve.txt /tmp/requirements.txt
COPY scripts/prune-runtime.sh /tmp/prune-runtime.sh
RUN --mount=type=secret,id=pipca \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
        ${PIP_CERT:+--cert "$PIP_CERT"} -r /tmp/requirements.txt \
    && /opt/venv/bin/pip uninstall --yes pip setuptools \
    && bash /tmp/prune-runtime.sh /opt/venv

FROM python:3.12-slim@sha256:f77ac9e44ae96ef2c90b8053ea08c31f8be030f824196b0ae4db6d462c84e51f
ARG GIT_SHA=unknown
ARG VERSION=0.0.0
# The repository URL (release.yml and scripts/container.sh pass it): no default here, so
# `make init` never has to edit this file, which would make its commit a release.
ARG SOURCE_URL=""
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="conveyor-serve" \
      org.opencontainers.image.description="ONNX model server built by the Conveyor pipeline" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT"
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin conveyor
COPY --from=build /opt/venv /opt/venv
COPY src/conveyor/__init__.py src/conveyor/contract.py src/conveyor/drift.py /app/conveyor/
COPY src/conveyor/serve /app/conveyor/serve
COPY models/model.onnx models/signature.json /app/models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONVEYOR_MODEL_PATH=/app/models/model.onnx \
    CONVEYOR_SIGNATURE_PATH=/app/models/signature.json \
    CONVEYOR_GIT_SHA=${GIT_SHA}
USER 10001:10001
WORKDIR /app
# The server's default port (serve/settings.py; a test keeps the two equal).
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "conveyor.serve.healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "conveyor.serve"]
