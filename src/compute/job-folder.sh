# shellcheck shell=sh
# The job-folder protocol, on the machine that runs the trainer (POSIX sh; job-folder.ts appends the call).
# Each job lives in its own folder:
#   manifest.json  the job
#   events.jsonl   the trainer's stdout (appended across relaunches: one event stream per job)
#   stderr.log     the trainer's logs
#   pid            "<pid> <start time>" of the wrapper, which leads the job's process group and session
#                  (the start time, from /proc, guards against pid reuse; "?" where there is no /proc)
#   exit_code      written by the wrapper when the trainer exits; absent after a kill (= preemption)
#   launch.lock    a folder: one launcher at a time per job
#   env            optional, mode 600: "export NAME='value'" lines (credentials) sourced by the wrapper, so
#                  secrets never appear on a command line (ps) on either machine

# The wrapper stays the trainer's parent so it can record the exit status; the file appears atomically.
# SIGHUP is ignored so the end of the ssh session that started the job cannot end it.
# MSM_NPROC_PER_NODE > 1: torchrun starts that many ranks (a free rendezvous port on this host); only rank 0
# writes events. MSM_NNODES > 1: this host is node MSM_NODE_RANK of a job over several hosts; torchrun's
# static rendezvous at MSM_MASTER_ADDR:MSM_MASTER_PORT (node 0) fixes every rank's place, so rank r is the
# same process after a relaunch (its RNG file, its shard). torchrun ends every rank when one fails and exits
# 1, so a rank's refusal of its input (exit 2 of that rank) is mapped back to exit 2: rank 0's error event
# with retryable false, or, when another rank refused first and torchrun ended rank 0 before it spoke, the
# note that rank left in "refused" (MSM_REFUSAL_FILE), which then also becomes the job's error event.
# shellcheck disable=SC2016 # expanded by the sh that runs the wrapper, not here
#
# MSM_UNPOLLED_TIMEOUT_SEC > 0: a watchdog beside the trainer stops the job when no worker has polled it
# (the "polled" file, written by every status call) for that long: its worker and workflow are gone, and a
# job nobody watches must not hold (or bill for) the machine for ever. It TERMs the job's process group
# (then ignoring TERM itself), notes why in stderr.log and the "unpolled" file, and once the wrapper is gone runs
# MSM_UNPOLLED_COMMAND if set (e.g. a rented machine stopping itself).
WRAPPER='trap "" HUP; cd "$1" || exit 1
if [ -f "$3/env" ]; then . "$3/env" || exit 1; fi
watchdog=""
if [ "${MSM_UNPOLLED_TIMEOUT_SEC:-0}" -gt 0 ]; then
  (
    while sleep 1; do
      kill -0 $$ 2>/dev/null || exit 0
      last=$(cat "$3/polled" 2>/dev/null)
      case $last in "" | *[!0-9]*) continue ;; esac
      [ $(($(date +%s) - last)) -gt "$MSM_UNPOLLED_TIMEOUT_SEC" ] || continue
      echo "msm: no worker polled this job for over $MSM_UNPOLLED_TIMEOUT_SEC s (compute.unpolledTimeoutSec): stopping it" >> "$3/stderr.log"
      date +%s > "$3/unpolled"
      trap "" TERM # outlive the TERM below, to run the stop command once the job is gone
      kill -s TERM -- "-$$" 2>/dev/null
      i=0
      while kill -0 $$ 2>/dev/null && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
      if [ -n "${MSM_UNPOLLED_COMMAND:-}" ]; then sh -c "$MSM_UNPOLLED_COMMAND" >> "$3/stderr.log" 2>&1; fi
      kill -s KILL -- "-$$" 2>/dev/null
      exit 0
    done
  ) &
  watchdog=$!
fi
run=""
if [ "${MSM_NNODES:-1}" -gt 1 ]; then
  run="-m torch.distributed.run --nnodes $MSM_NNODES --node-rank $MSM_NODE_RANK --nproc-per-node ${MSM_NPROC_PER_NODE:-1}"
  run="$run --master-addr $MSM_MASTER_ADDR --master-port $MSM_MASTER_PORT --max-restarts 0"
elif [ "${MSM_NPROC_PER_NODE:-1}" -gt 1 ]; then
  run="-m torch.distributed.run --standalone --nnodes 1 --nproc-per-node $MSM_NPROC_PER_NODE --max-restarts 0"
fi
rm -f "$3/refused"
PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MSM_REFUSAL_FILE="$3/refused" "$2" $run -m msm_trainer "$3/manifest.json" >> "$3/events.jsonl" 2>> "$3/stderr.log"
code=$?
if [ -n "$watchdog" ]; then kill -s KILL "$watchdog" 2>/dev/null; fi
if [ "$code" -ne 0 ] && [ -n "$run" ]; then
  if tail -n 1 "$3/events.jsonl" | grep -q "\"retryable\": false"; then
    code=2
  elif [ -s "$3/refused" ]; then
    if [ -s "$3/events.jsonl" ] && [ -n "$(tail -c 1 "$3/events.jsonl")" ]; then echo >> "$3/events.jsonl"; fi
    cat "$3/refused" >> "$3/events.jsonl"
    code=2
  fi
fi
echo $code > "$3/exit_code.tmp" && mv -f "$3/exit_code.tmp" "$3/exit_code"'

# starttime PID: field 22 of /proc/PID/stat (clock ticks since boot), "?" without /proc.
starttime() {
  st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo '?'; return; }
  # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- ${st##*")"}
  shift 19
  echo "$1"
}

# alive PID START: the process runs (a zombie has exited) and is the one recorded (same start time).
alive() {
  if [ -r /proc/self/stat ]; then
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # shellcheck disable=SC2086 # split into fields on purpose
    set -- "$2" ${st##*")"}
    [ "$2" != Z ] && { [ "$1" = '?' ] || [ "$1" = "${21}" ]; }
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# group_alive PGID: a process of the job's group still runs (zombies aside), e.g. the trainer after its
# wrapper died. Builtins only (read, no cat): it runs every 100 ms while cancel waits.
group_alive() {
  [ -r /proc/self/stat ] || { kill -0 -- "-$1" 2>/dev/null; return; }
  g=$1
  for f in /proc/[0-9]*/stat; do
    read -r st 2>/dev/null < "$f" || continue
    # shellcheck disable=SC2086 # split into fields on purpose
    set -- ${st##*")"}
    [ "$1" != Z ] && [ "$3" = "$g" ] && return 0
  done
  return 1
}

# live DIR: the job's wrapper still runs; sets pid and start.
live() {
  [ -f "$1/pid" ] && read -r pid start < "$1/pid" || return 1
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  alive "$pid" "$start"
}

# exitcode DIR: the recorded exit status, or nothing.
exitcode() {
  c=$(cat "$1/exit_code" 2>/dev/null) || return 0
  case $c in '' | *[!0-9]*) ;; *) echo "$c" ;; esac
}

# size FILE: its length in bytes, 0 when missing.
size() {
  if [ -f "$1" ]; then n=$(wc -c < "$1"); echo $((n)); else echo 0; fi # BSD wc pads with spaces
}

# polled DIR: a worker looked at the job now (the watchdog's clock; see WRAPPER).
polled() {
  [ -d "$1" ] && date +%s > "$1/polled" 2>/dev/null
  return 0
}

# putenv DIR < lines: the job's environment file, written owner-only (umask 077) and atomically.
putenv() {
  mkdir -p "$1" || return 1
  (umask 077 && cat > "$1/env.tmp") && chmod 600 "$1/env.tmp" && mv -f "$1/env.tmp" "$1/env"
}

# take_launch_lock DIR TRIES: hold DIR/launch.lock (one launcher at a time per job) until this shell exits,
# waiting up to TRIES × 0.1 s. A launcher that died holding it leaves it behind; launching takes milliseconds.
take_launch_lock() {
  lock="$1/launch.lock"
  i=0
  until mkdir "$lock" 2>/dev/null; do
    if [ -n "$(find "$lock" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then rmdir "$lock" 2>/dev/null; continue; fi
    i=$((i + 1))
    [ $i -lt "$2" ] || { echo "timed out waiting for $lock" >&2; return 1; }
    sleep 0.1
  done
  trap 'rmdir "$lock" 2>/dev/null' EXIT
  trap 'exit 1' HUP INT TERM PIPE # a dropped ssh session: still free the lock
}

# launch DIR TRAINER_DIR PYTHON [NAME=VALUE...] < manifest: start the job, or re-attach if it runs.
launch() {
  d=$1 trainer=$2 py=$3
  shift 3
  mkdir -p "$d" || return 1
  polled "$d"
  take_launch_lock "$d" 1200 || return 1
  if live "$d"; then
    cat > /dev/null
    echo "attached $pid"
    return 0
  fi
  cat > "$d/manifest.json.tmp" && mv -f "$d/manifest.json.tmp" "$d/manifest.json" || return 1
  rm -f "$d/exit_code"
  # Close a line torn by a kill so the next run's first event starts on a line of its own.
  if [ -s "$d/events.jsonl" ] && [ -n "$(tail -c 1 "$d/events.jsonl")" ]; then echo >> "$d/events.jsonl"; fi
  # A new session (python's os.setsid: no setsid binary needed) makes the wrapper the leader of the job's
  # process group, detached from this shell; a background child of a non-interactive shell is never a
  # group leader, so setsid succeeds and $! is the wrapper's pid.
  env "$@" "$py" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' \
    sh -c "$WRAPPER" msm-job "$trainer" "$py" "$d" < /dev/null > /dev/null 2>> "$d/stderr.log" &
  pid=$!
  printf '%s %s\n' "$pid" "$(starttime "$pid")" > "$d/pid.tmp" && mv -f "$d/pid.tmp" "$d/pid" || return 1
  echo "started $pid"
}

# status DIR FROM TAIL: a header line "msm-status STATE EXIT FROM N K", then N bytes of events.jsonl from
# byte FROM, then the last K (<= TAIL) bytes of stderr.log.
status() {
  d=$1 from=$2
  polled "$d"
  # State first, events second: an exited job's events are then all on disk.
  code=$(exitcode "$d")
  if [ -n "$code" ]; then
    state=exited
  elif live "$d"; then
    state=running
  else
    code=$(exitcode "$d") # it may have exited between the two checks
    if [ -n "$code" ]; then state=exited; else state=lost; fi
  fi
  total=$(size "$d/events.jsonl")
  [ "$from" -le "$total" ] || from=0 # a new event stream (the folder was made again)
  n=$((total - from))
  k=$(size "$d/stderr.log")
  [ "$k" -le "$3" ] || k=$3
  printf 'msm-status %s %s %s %s %s\n' "$state" "${code:--}" "$from" "$n" "$k"
  [ "$n" -eq 0 ] || tail -c +$((from + 1)) "$d/events.jsonl" | head -c "$n"
  [ "$k" -eq 0 ] || tail -c "$k" "$d/stderr.log"
}

# state DIR: "running", "exited CODE" or "lost" (no events: a cheap look at one node of a multi-host job).
state() {
  polled "$1"
  code=$(exitcode "$1")
  if [ -n "$code" ]; then echo "exited $code"; return; fi
  if live "$1"; then echo running; return; fi
  code=$(exitcode "$1")
  if [ -n "$code" ]; then echo "exited $code"; else echo lost; fi
}

# freeport PYTHON: a TCP port free on this host now (the rendezvous of a job over several hosts).
freeport() {
  "$1" -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

# cancel DIR GRACE_TENTHS: SIGTERM the job's process group, SIGKILL after the grace period; returns once
# every process of the group is gone.
cancel() {
  live "$1" || return 0
  kill -s TERM -- "-$pid" 2>/dev/null
  i=0
  while group_alive "$pid" && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
  group_alive "$pid" || return 0
  kill -s KILL -- "-$pid" 2>/dev/null
  i=0
  while group_alive "$pid"; do
    [ $i -lt 50 ] || { echo "process group $pid survived SIGKILL" >&2; return 3; }
    sleep 0.1
    i=$((i + 1))
  done
}
