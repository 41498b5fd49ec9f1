#!/usr/bin/env bash
# Every test: the quick checks (format, lint, types, conflict markers, cycles), the TypeScript suite by lane
# (tests/unit, tests/workflows, tests/integration, tests/e2e: docs/testing.md), the real-cluster lane and the
# Python trainer suite. Installs what it needs first (idempotent).
#
# Two streams at once, each running its lanes one after another (their files one at a time): the suite's tests
# wait on servers, trainers and timers much of the time, so one stream keeps about one of the two cores busy.
#   stream 1: tests/unit (two files at a time), tests/integration (but the two below), pytest
#   stream 2: tests/workflows, tests/e2e, tests/integration's Slurm and serving-engine files, the real-cluster lane
# The streams are balanced by their lanes' measured times (docs/testing.md); the Slurm file (a one-node Slurm of
# its own, ~2 min) and the engine file (transformers serve, ~40 s) go to stream 2 to even them. Each lane prints its time; stream 2's
# log follows stream 1's. MSM_TEST_STREAMS=1 runs everything in one stream (the old order), e.g. to time a lane alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export MSM_PYTHON="$root/.venv/bin/python"
# Two streams share the cores: OpenMP threads that wait sleep rather than spin, in every process the tests start
# (trainer jobs get it anyway: CPU_JOB_ENV in src/compute/from-config.ts).
export OMP_WAIT_POLICY=PASSIVE
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

STREAM2_FILES=(tests/integration/compute-slurm.test.ts tests/integration/openai-engine.test.ts)

timed() { # name, command...: run it, print how long it took, return its status
  local name=$1 t0=$SECONDS rc=0
  shift
  echo "[test] $name"
  "$@" || rc=$?
  echo "[test] $name: $((SECONDS - t0)) s$([ "$rc" = 0 ] || echo ", FAILED (exit $rc)")"
  return "$rc"
}

stream1() {
  local status=0
  timed "vitest tests/unit" node_modules/.bin/vitest run --config vitest.fast.config.ts || status=1
  timed "vitest tests/integration (but ${STREAM2_FILES[*]})" node_modules/.bin/vitest run tests/integration \
    "${STREAM2_FILES[@]/#/--exclude=}" || status=1
  timed "pytest" bash scripts/pytest.sh --durations=20 || status=1
  return "$status"
}

stream2() {
  local status=0
  timed "vitest tests/workflows" node_modules/.bin/vitest run tests/workflows || status=1
  timed "vitest tests/e2e" node_modules/.bin/vitest run tests/e2e || status=1
  timed "vitest ${STREAM2_FILES[*]}" node_modules/.bin/vitest run "${STREAM2_FILES[@]}" || status=1
  while [ ! -f "$logs/build-temporal.rc" ]; do sleep 2; done
  if [ "$(cat "$logs/build-temporal.rc")" != 0 ]; then
    cat "$logs/build-temporal.log" >&2
    echo "[test] building temporal-server failed (log above): the cluster lane did not run" >&2
    return 1
  fi
  timed "cluster (temporal-server from Go on PostgreSQL)" bash scripts/cluster/test-cluster.sh || status=1
  return "$status"
}

status=0
if [ "${MSM_TEST_STREAMS:-2}" = 1 ]; then
  stream1 || status=1
  stream2 || status=1
else
  stream2 >"$logs/test-stream2.log" 2>&1 &
  stream2_pid=$!
  stream1 || status=1
  echo "[test] stream 1 done at $((SECONDS - started)) s; waiting for stream 2 (log: $logs/test-stream2.log, follows)"
  wait "$stream2_pid" || status=1
  cat "$logs/test-stream2.log"
fi
echo "[test] all: $((SECONDS - started)) s; $([ "$status" = 0 ] && echo passed || echo FAILED)"
exit "$status"
