# msm's Node workers (workflows, LLM calls, CPU stages; GPU jobs are driven over ssh / runpod from here).
# The GPU trainer image is separate: any PyTorch image with trainer/requirements.txt (see README).
FROM node:26-bookworm-slim
WORKDIR /app
# The Worker Deployment build id (docs/deploying.md): pass the commit or image tag, e.g.
# docker compose build --build-arg MSM_BUILD_ID=$(git rev-parse --short HEAD)
ARG MSM_BUILD_ID=
ENV MSM_BUILD_ID=${MSM_BUILD_ID}
RUN apt-get update && apt-get install -y --no-install-recommends openssh-client ca-certificates && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY specs ./specs
COPY experiments ./experiments
COPY evals ./evals
COPY trainer ./trainer
USER node
CMD ["node", "--import", "tsx", "src/workers/main.ts"]
