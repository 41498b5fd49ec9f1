# msm's Node workers (workflows, LLM calls, CPU stages; GPU jobs are driven over ssh / runpod from here).
# The GPU trainer image is separate: any PyTorch image with trainer/requirements.txt (see README).
FROM node:22-bookworm-slim
WORKDIR /app
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
