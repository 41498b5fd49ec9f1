#!/usr/bin/env bash
# Formats the whole tree in place: prettier (TS/JSON/YAML/Markdown) and ruff (the trainer).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools="${MSM_TOOLS_DIR:-${MSM_CACHE_DIR:-$HOME/.cache/msm}/tools}"
node_modules/.bin/prettier --write --log-level warn .
ruff="$tools/ruff/bin/ruff"; [ -x "$ruff" ] || ruff=ruff
"$ruff" check --fix --quiet trainer || true # what it cannot fix, `npm run check` reports
"$ruff" format --quiet trainer
