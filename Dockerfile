# kgn-align worker image (CPU). docker compose builds it as service kgn-align-worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# CPU-only torch first, in its own layer: the same pin as pyproject.toml, so that
# `pip install .` below finds it satisfied and does not pull a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /src
COPY . .
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 10001 kgn
USER kgn
WORKDIR /home/kgn
# kgn-align's home (models, run state); docker compose mounts the volume kgn-home here, which
# takes this folder's owner when it is created
RUN mkdir -p /home/kgn/.kgn-align

ENTRYPOINT ["kgn-align"]
CMD ["worker"]
