#!/usr/bin/env bash
# Every test: the quick checks (format, lint, types, conflict markers, cycles), the TypeScript suite by lane
# (tests/unit, tests/workflows, tests/integration, tests/e2e: docs/testing.md), the real-cluster lane and the
# Python trainer suite. Installs what it needs first (idempotent).
#
# Two streams run at once on the machine's two cores: the end-to-end lane, the cluster lane and pytest in one;
# the unit, workflow and integration lanes in the other. Much of an end-to-end test's time is waiting (timers, polls, process
# starts), so the two overlap well. Each stream runs its files one at a time; a stream's output is kept in
# its own log and printed whole when it ends, so lines never interleave.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export MSM_PYTHON="$root/.venv/bin/python"
logs=.msm/logs
mkdir -p "$logs"
# The cluster lane's temporal-server is built from Go once (minutes on a fresh machine): start it now, at low
# priority, so it overlaps the checks; the cluster step waits for it.
rm -f "$logs/build-temporal.rc"
(
  rc=0
  nice -n 15 bash scripts/cluster/build-temporal.sh >"$logs/build-temporal.log" 2>&1 || rc=$?
  echo "$rc" >"$logs/build-temporal.rc"
) &
started=$SECONDS
bash scripts/check.sh
echo "[test] check: $((SECONDS - started)) s"

timed() { # name, command...: run it, print how long it took, return its status
  local name=$1 t0=$SECONDS rc=0
  shift
  echo "[test] $name"
  "$@" || rc=$?
  echo "[test] $name: $((SECONDS - t0)) s$([ "$rc" = 0 ] || echo ", FAILED (exit $rc)")"
  return "$rc"
}

whole_runs() {
  local status=0
  timed "vitest tests/e2e" node_modules/.bin/vitest run tests/e2e || status=1
  while [ ! -f "$logs/build-temporal.rc" ]; do sleep 2; done
  if [ "$(cat "$logs/build-temporal.rc")" != 0 ]; then
    cat "$logs/build-temporal.log" >&2
    echo "[test] building temporal-server failed (log above): the cluster lane did not run" >&2
    status=1
  else
    timed "cluster (temporal-server from Go on PostgreSQL)" bash scripts/cluster/test-cluster.sh || status=1
  fi
  (cd trainer && timed "pytest" "$MSM_PYTHON" -m pytest -q tests) || status=1
  return "$status"
}

whole_runs >"$logs/test-e2e-stream.log" 2>&1 &
e2e_pid=$!
status=0
timed "vitest tests/unit tests/workflows tests/integration" \
  node_modules/.bin/vitest run tests/unit tests/workflows tests/integration || status=1

echo "[test] waiting for the e2e, cluster and pytest stream (its log follows: $logs/test-e2e-stream.log)"
wait "$e2e_pid" || status=1
cat "$logs/test-e2e-stream.log"
echo "[test] all: $((SECONDS - started)) s; $([ "$status" = 0 ] && echo passed || echo FAILED)"
exit "$status"
