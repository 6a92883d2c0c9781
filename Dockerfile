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
# hnswlib is published as source only (no wheel on PyPI): it is compiled here, so the
# compiler comes in for this step and goes again in the same layer (libstdc++, which the
# compiled module needs at run time, stays: apt itself depends on it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && pip install . \
 && apt-get purge -y --auto-remove build-essential \
 && rm -rf /var/lib/apt/lists/* /src

RUN useradd --create-home --uid 10001 kgn
USER kgn
WORKDIR /home/kgn
# kgn-align's home (models, run state); docker compose mounts the volume kgn-home here, which
# takes this folder's owner when it is created
RUN mkdir -p /home/kgn/.kgn-align

ENTRYPOINT ["kgn-align"]
CMD ["worker"]
