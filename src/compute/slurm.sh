# shellcheck shell=sh
# The Slurm side of the slurm backend (POSIX sh), appended to job-folder.sh: the worker calls these on the
# login node (here or over ssh); batch.sh, written into the job folder, runs `batch` in the allocation and
# `node` on every allocated host. The job folder sits on the cluster's shared file system, so the worker
# reads events and exit codes where the compute nodes write them; whether the job runs is Slurm's answer
# (squeue), never a pid, which means nothing on the login node.
#   slurm_id     the id of the job's newest Slurm job (written at submit)
#   batch.sh     the batch script (slurm.ts renders it)

# ACTIVE: states in which a job still holds or waits for its allocation (COMPLETING aside: it is ending).
ACTIVE=PENDING,RUNNING,CONFIGURING,SUSPENDED,REQUEUED,REQUEUE_HOLD,REQUEUE_FED,RESIZING,SIGNALING,STAGE_OUT

me() { id -un; }

# active NAME: the newest active Slurm job of this user with that name, or nothing.
active() {
  squeue --noheader --user="$(me)" --name="$1" --states="$ACTIVE" -o %i | sort -n | tail -n 1
}

# submit DIR NAME [SBATCH_OPTION...] < manifest: "attached ID" when the job is in the queue already (a retry
# re-attaches), else "started ID" after sbatch. One submitter at a time per job (launch.lock).
submit() {
  d=$1 name=$2
  shift 2
  mkdir -p "$d" || return 1
  polled "$d"
  take_launch_lock "$d" 600 || return 1
  id=$(active "$name") || return 1
  if [ -n "$id" ]; then
    cat > /dev/null
    echo "$id" > "$d/slurm_id"
    echo "attached $id"
    return 0
  fi
  cat > "$d/manifest.json.tmp" && mv -f "$d/manifest.json.tmp" "$d/manifest.json" || return 1
  rm -f "$d/exit_code"
  if [ -s "$d/events.jsonl" ] && [ -n "$(tail -c 1 "$d/events.jsonl")" ]; then echo >> "$d/events.jsonl"; fi
  id=$(sbatch --parsable --job-name="$name" --chdir="$d" --output="$d/stderr.log" --open-mode=append "$@" \
    "$d/batch.sh" batch "$d") || return 4
  id=${id%%;*} # "id;cluster" on a federation
  echo "$id" > "$d/slurm_id"
  echo "started $id"
}

# testonly [SBATCH_OPTION...]: whether Slurm would take a job with these options (sbatch --test-only
# submits nothing); sbatch's own message on stderr either way.
testonly() {
  sbatch --test-only "$@" --wrap=true
}

# putfile PATH < content: write a file atomically, owner-only (the env file holds credentials).
putfile() {
  mkdir -p "$(dirname "$1")" && (umask 077 && cat > "$1.tmp") && chmod 600 "$1.tmp" && mv -f "$1.tmp" "$1"
}

# slurmstate DIR: "slurm ID STATE RESTARTS" of the job's newest Slurm job; STATE GONE when Slurm no longer
# knows it (purged after MinJobAge), NONE when none was submitted.
slurmstate() {
  id=$(cat "$1/slurm_id" 2>/dev/null)
  case $id in '' | *[!0-9_]*) echo "slurm - NONE 0"; return ;; esac
  line=$(squeue --noheader -j "$id" --states=all -O State:30,RestartCnt:10 2>/dev/null)
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- $line
  if [ -n "${1:-}" ]; then echo "slurm $id $1 ${2:-0}"; else echo "slurm $id GONE 0"; fi
}

# slurmstatus DIR FROM TAIL: slurmstate's line, then the job folder's status (job-folder.sh). Slurm is asked
# first: a job it reports finished has written its exit code by the time the folder is read.
slurmstatus() {
  slurmstate "$1"
  status "$@"
}

# cancelname NAME WAIT_TENTHS: scancel every job of this user with that name, then wait (up to the limit)
# until none of them holds its allocation any more (its processes are gone). Prints how many it cancelled.
cancelname() {
  n=$(squeue --noheader --user="$(me)" --name="$1" --states="$ACTIVE,COMPLETING" -o %i | wc -l)
  [ "$n" -gt 0 ] || { echo 0; return 0; }
  scancel --user="$(me)" --name="$1" || return 1
  i=0
  while [ -n "$(squeue --noheader --user="$(me)" --name="$1" --states="$ACTIVE,COMPLETING" -o %i)" ]; do
    [ $i -lt "$2" ] || { echo "Slurm jobs named $1 still end after scancel" >&2; return 3; }
    sleep 0.2
    i=$((i + 2))
  done
  echo $((n))
}

# release NAME DIR WAIT_TENTHS: a job whose trainer has exited (exit_code written) gets up to 10 s to end
# on its own (its batch step is finishing) before cancelname stops whatever Slurm still holds for it.
release() {
  if [ -f "$2/exit_code" ]; then
    i=0
    while [ $i -lt 100 ] && [ -n "$(squeue --noheader --user="$(me)" --name="$1" --states="$ACTIVE,COMPLETING" -o %i)" ]; do
      sleep 0.2
      i=$((i + 2))
    done
  fi
  cancelname "$1" "$3"
}

# node DIR TRAINER_DIR PYTHON: one host's torchrun (job-folder.sh's WRAPPER) in the foreground of its srun
# task, so Slurm tracks, signals and times it. Node r > 0 keeps its files in DIR.node-r.
node() {
  d=$1
  r=${SLURM_NODEID:-0}
  if [ "$r" -gt 0 ]; then
    d="$1.node-$r"
    mkdir -p "$d" && cp -p "$1/manifest.json" "$d/" || return 1
    if [ -f "$1/env" ]; then cp -p "$1/env" "$d/" || return 1; fi
  fi
  rm -f "$d/exit_code"
  printf '%s %s\n' "$$" "$(starttime "$$")" > "$d/pid"
  export MSM_NODE_RANK="$r"
  # The wrapper's watchdog stops its own process group: lead one (a task may already lead its own).
  exec "$3" -c 'import os, sys
try:
    os.setsid()
except OSError:
    pass
os.execvp(sys.argv[1], sys.argv[1:])' sh -c "$WRAPPER" msm-job "$2" "$3" "$d"
}
