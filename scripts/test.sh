#!/usr/bin/env bash
# Every test: the quick checks (format, lint, types, conflict markers, cycles), the TypeScript suite (real
# Temporal server, real SeaweedFS S3, real trainer, real local model), the real-cluster lane and the Python
# trainer suite. Installs what it needs first (idempotent).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export MSM_PYTHON="$root/.venv/bin/python"
# The cluster lane's temporal-server is built from Go once (minutes on a fresh machine): start it now, at low
# priority, so it overlaps the suite's waits; the cluster step waits for it.
mkdir -p .msm/logs
nice -n 15 bash scripts/cluster/build-temporal.sh >.msm/logs/build-temporal.log 2>&1 &
build_pid=$!
bash scripts/check.sh
echo "[test] vitest"; node_modules/.bin/vitest run
echo "[test] cluster (temporal-server from Go on PostgreSQL)"
if ! wait "$build_pid"; then
  cat .msm/logs/build-temporal.log >&2
  echo "[test] building temporal-server failed (log above)" >&2
  exit 1
fi
bash scripts/cluster/test-cluster.sh
echo "[test] pytest"; (cd trainer && "$MSM_PYTHON" -m pytest -q tests)
