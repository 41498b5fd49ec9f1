#!/usr/bin/env bash
# Every test: the quick checks (format, lint, types, conflict markers, cycles), the TypeScript suite (real
# Temporal server, real SeaweedFS S3, real trainer, real local model) and the Python trainer suite.
# Installs what it needs first (idempotent).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export MSM_PYTHON="$root/.venv/bin/python"
bash scripts/check.sh
echo "[test] vitest"; node_modules/.bin/vitest run
echo "[test] pytest"; (cd trainer && "$MSM_PYTHON" -m pytest -q tests)
