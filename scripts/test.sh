#!/usr/bin/env bash
# Every test: types, lint, the TypeScript suite (real Temporal server, real SeaweedFS S3, real trainer,
# real local model) and the Python trainer suite. Installs what it needs first (idempotent).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export MSM_PYTHON="$root/.venv/bin/python"
echo "[test] merge-conflict markers"
if git grep -nE '^(<<<<<<<|=======|>>>>>>>)( |$)' -- . ':!package-lock.json'; then echo "[test] merge-conflict markers found (above): resolve them" >&2; exit 1; fi
echo "[test] typecheck"; node_modules/.bin/tsc --noEmit -p .
echo "[test] lint"; node_modules/.bin/eslint src tests bench
echo "[test] vitest"; node_modules/.bin/vitest run
# The real-cluster lane: temporal-server built from Go (cached after the first build) on PostgreSQL.
echo "[test] cluster"; node_modules/.bin/vitest run --config vitest.cluster.config.mts
echo "[test] pytest"; (cd trainer && "$MSM_PYTHON" -m pytest -q tests)
