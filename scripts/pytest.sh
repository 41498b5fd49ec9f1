#!/usr/bin/env bash
# The trainer's pytest suite, with the allocator settings CPU trainer jobs get (CPU_ALLOCATOR_ENV in
# src/compute/from-config.ts; tests/unit/cpu-allocator.test.ts keeps the two the same): by default every step of a
# small CPU model maps and zeroes its logits afresh, and the suite's training runs 3× slower.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824
cd "$root/trainer"
# Arguments go to pytest; without a path under tests/ it runs them all.
case " $* " in *" tests"*) ;; *) set -- "$@" tests ;; esac
exec "${MSM_PYTHON:-$root/.venv/bin/python}" -m pytest -q "$@"
