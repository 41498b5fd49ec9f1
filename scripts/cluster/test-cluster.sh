#!/usr/bin/env bash
# npm run test:cluster: msm on a real Temporal cluster (temporal-server built from Go, on PostgreSQL).
# Builds the server first when it is not cached (minutes; `npm test` starts that build in the background early).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash scripts/cluster/build-temporal.sh >/dev/null
exec node_modules/.bin/vitest run --config vitest.cluster.config.mts "$@"
