#!/usr/bin/env bash
# The trainer's pytest suite, with the environment CPU trainer jobs get (CPU_JOB_ENV in src/compute/from-config.ts;
# tests/unit/cpu-job-env.test.ts keeps the two the same): by default every step of a small CPU model maps and
# zeroes its logits afresh (3× slower), and waiting OpenMP threads spin on cores the other test stream needs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 OMP_WAIT_POLICY=PASSIVE
cd "$root/trainer"
# Arguments go to pytest; without a path under tests/ it runs them all.
case " $* " in *" tests"*) ;; *) set -- "$@" tests ;; esac
exec "${MSM_PYTHON:-$root/.venv/bin/python}" -m pytest -q "$@"
