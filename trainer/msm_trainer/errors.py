"""Error classes that map onto the job contract's exit codes."""

import errno
from typing import TypeVar

T = TypeVar("T")

EXIT_DONE = 0
EXIT_RETRYABLE = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3


class BadInput(Exception):
    """The job cannot succeed as written (exit 2, not retried): the message says what to fix."""


def present(value: T | None, field: str) -> T:
    """A manifest field that is optional in general but that the parser (manifest.py) requires of this job's kind:
    narrows its type, and fails loudly should the parser ever let the job through without it."""
    if value is None:
        raise BadInput(f"the manifest has no {field}: a job of this kind needs it")
    return value


class JobLocked(Exception):
    """Another trainer process holds this job's lock (retryable: it may be a dying previous attempt)."""


class Retryable(Exception):
    """A transient fault outside the job (network, S3 5xx or throttling): exit 1, the orchestrator relaunches
    and the job resumes from its newest complete checkpoint."""


_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded")


def _chain(e: BaseException):
    """The exception and every cause or context behind it (a write error is often wrapped, e.g. by torch), and the
    per-rank errors a torch.distributed.checkpoint CheckpointException carries."""
    seen: set[int] = set()
    todo: list[BaseException] = [e]
    while todo:
        cur = todo.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        failures = getattr(cur, "failures", None)
        if isinstance(failures, dict):
            todo.extend(f[0] for f in failures.values() if isinstance(f, tuple) and isinstance(f[0], BaseException))
        todo.extend(x for x in (cur.__cause__, cur.__context__) if x is not None)


def _is_full(x: BaseException) -> bool:
    if isinstance(x, OSError):
        return x.errno in _DISK_FULL_ERRNOS or any(w in str(x) for w in _DISK_FULL_WORDS)
    # A wrapper that carries the failures itself names them in its message: judge those instead.
    return not hasattr(x, "failures") and any(w in str(x) for w in _DISK_FULL_WORDS)


def disk_full(e: BaseException) -> str | None:
    """A message with the fix when `e` comes from a full disk (or quota), else None. A full disk is bad input:
    the job writes the same bytes after a restart and fills it again."""
    for x in _chain(e):
        if _is_full(x):
            where = f" writing {x.filename}" if isinstance(x, OSError) and x.filename else ""
            return (
                f"the machine's disk is full{where} ({type(x).__name__}: {x}): raise compute.containerDiskGb "
                "(runpod; `msm plan` estimates the disk a job needs) or free disk space on the host (ssh, local: "
                "the job folders under compute.workDir, the run's store and the model cache), then start the run again"
            )
    return None
