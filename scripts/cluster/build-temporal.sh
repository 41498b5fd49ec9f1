#!/usr/bin/env bash
# Builds temporal-server and temporal-sql-tool from the Go module go.temporal.io/server (cached, idempotent) and
# copies the PostgreSQL schema next to them. Prints the install directory on stdout (everything else goes to stderr).
set -euo pipefail
version="${TEMPORAL_SERVER_VERSION:-v1.32.2}"
# The server's go.mod asks for a newer Go than the machine's; GOTOOLCHAIN fetches it through the module proxy.
toolchain="${MSM_GO_TOOLCHAIN:-go1.27.3}"
cache="${MSM_CACHE_DIR:-$HOME/.cache/msm}"
dest="$cache/temporal-server-$version"
if [ -x "$dest/temporal-server" ] && [ -x "$dest/temporal-sql-tool" ] && [ -f "$dest/.complete" ]; then
  echo "$dest"; exit 0
fi
command -v go >/dev/null || { echo "build-temporal: 'go' is not on PATH; install Go >= 1.21 (it fetches $toolchain)" >&2; exit 1; }
export GOPATH="$cache/go" GOMODCACHE="$cache/go/pkg/mod" GOTOOLCHAIN="$toolchain" GOFLAGS="-mod=mod" CGO_ENABLED=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "[build-temporal] go.temporal.io/server@$version with $toolchain (first time: a few minutes)" >&2
start=$(date +%s)
# A throw-away module pins the server version; building from it keeps the server's own go.mod requirements.
cd "$work"
go mod init msm.local/temporal-build >/dev/null 2>&1
go get "go.temporal.io/server@$version" >&2
mkdir -p "$dest.tmp"
go build -o "$dest.tmp/temporal-server" go.temporal.io/server/cmd/server >&2
go build -o "$dest.tmp/temporal-sql-tool" go.temporal.io/server/cmd/tools/sql >&2
src="$(go list -m -f '{{.Dir}}' "go.temporal.io/server")"
mkdir -p "$dest.tmp/schema"
cp -r "$src/schema/postgresql" "$dest.tmp/schema/"
chmod -R u+w "$dest.tmp/schema"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
touch "$dest/.complete"
echo "[build-temporal] done in $(( $(date +%s) - start ))s: $dest" >&2
echo "$dest"
