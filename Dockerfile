# msm's workers (workflows, LLM calls, CPU stages, and trainer jobs on the `local` CPU backend; GPU jobs are
# driven over ssh / runpod from here). The GPU trainer image is separate: any PyTorch image with
# trainer/requirements.txt (see docs/cluster.md).
FROM node:26-bookworm-slim
WORKDIR /app
# The Worker Deployment build id (docs/deploying.md): required, e.g. the commit the image is built from:
#   MSM_BUILD_ID=$(git rev-parse --short HEAD) docker compose build
ARG MSM_BUILD_ID
RUN test -n "$MSM_BUILD_ID" || { echo "build with --build-arg MSM_BUILD_ID=<commit or tag> (docs/deploying.md)" >&2; exit 1; }
ENV MSM_BUILD_ID=${MSM_BUILD_ID}
RUN apt-get update \
  && apt-get install -y --no-install-recommends openssh-client ca-certificates python3 python3-venv \
  && rm -rf /var/lib/apt/lists/*
# The trainer's Python: CPU torch from PyTorch's CPU wheel index (no CUDA libraries, a few hundred MB instead
# of several GB), then the rest of trainer/requirements.txt (its torch pin is then already met).
COPY trainer/requirements.txt /tmp/trainer-requirements.txt
RUN python3 -m venv /opt/msm-venv \
  && /opt/msm-venv/bin/pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
    "torch==$(sed -n 's/^torch==//p' /tmp/trainer-requirements.txt)" \
  && /opt/msm-venv/bin/pip install --no-cache-dir -r /tmp/trainer-requirements.txt \
  && rm /tmp/trainer-requirements.txt
ENV MSM_PYTHON=/opt/msm-venv/bin/python
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY specs ./specs
COPY experiments ./experiments
COPY evals ./evals
COPY trainer ./trainer
COPY deploy/seaweedfs/ensure-bucket.mjs ./deploy/seaweedfs/
# The state folder (a named volume in docker-compose.yml) belongs to the user the workers run as: a new
# volume takes this folder's owner, so the workers can write their ledgers, ssh known_hosts and local jobs.
RUN mkdir -p /app/.msm && chown node:node /app/.msm
USER node
CMD ["node", "--import", "tsx", "src/workers/main.ts"]
