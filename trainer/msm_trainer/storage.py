"""The local protocol: atomic writes, complete-markers, checkpoint folders and the job lock. Every place reaches
this code as a local folder: uris.py resolves a manifest's URIs to them (and mirror.py publishes s3:// outputs)."""

import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .errors import JobLocked

COMPLETE = "COMPLETE"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def join_uri(uri: str, *parts: str) -> str:
    # Keep the caller's scheme and spelling: events report URIs in the form the manifest used.
    return "/".join([uri.rstrip("/"), *parts])


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_path(path.parent)


def is_complete(d: Path) -> bool:
    return (d / COMPLETE).is_file()


def fsync_tree(d: Path) -> None:
    for f in d.rglob("*"):
        if f.is_file():
            _fsync_path(f)


def _test_pause() -> None:
    """Tests only: MSM_TRAINER_TEST_WRITE_PAUSE_S holds each step of a folder write open that long, so a
    test can kill the process while a checkpoint is half written (trainer/tests/test_kill_resume.py)."""
    pause = os.environ.get("MSM_TRAINER_TEST_WRITE_PAUSE_S")
    if pause:
        time.sleep(float(pause))


def write_dir_atomic(final: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temp dir, fsync it, rename it into place, then write COMPLETE last."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    fill(tmp)
    commit_dir_atomic(tmp, final)


def commit_dir_atomic(tmp: Path, final: Path) -> None:
    """A filled temp dir becomes `final`: fsync it, rename it into place, then write COMPLETE last."""
    _test_pause()
    fsync_tree(tmp)
    if final.exists():  # an incomplete leftover of a killed attempt
        shutil.rmtree(final)
    os.rename(tmp, final)
    _test_pause()
    write_file_atomic(final / COMPLETE, b"ok\n")


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def step_of(name: str) -> int | None:
    """The step of a checkpoint folder name (step-000123 -> 123), None for other names."""
    m = _STEP_DIR.match(name)
    return int(m.group(1)) if m else None


def list_checkpoints(prefix: Path) -> list[tuple[int, Path, bool]]:
    """(step, dir, complete) for every step-N folder, oldest first."""
    if not prefix.is_dir():
        return []
    out = []
    for d in prefix.iterdir():
        step = step_of(d.name)
        if step is not None and d.is_dir():
            out.append((step, d, is_complete(d)))
    return sorted(out)


def newest_complete_checkpoint(prefix: Path) -> tuple[int, Path] | None:
    done = [(s, d) for s, d, c in list_checkpoints(prefix) if c]
    return done[-1] if done else None


def clean_stale(prefix: Path) -> None:
    """Remove temp dirs and incomplete checkpoints left by killed attempts (we hold the job lock)."""
    if not prefix.is_dir():
        return
    for d in prefix.iterdir():
        if d.is_dir() and d.name.startswith(".tmp-"):
            shutil.rmtree(d, ignore_errors=True)
    for _, d, complete in list_checkpoints(prefix):
        if not complete:
            shutil.rmtree(d, ignore_errors=True)


def prune_checkpoints(prefix: Path, keep: int = 2) -> None:
    done = [d for _, d, c in list_checkpoints(prefix) if c]
    for d in done[:-keep]:
        # Drop the marker first so a half-deleted folder is never taken for a complete one.
        (d / COMPLETE).unlink(missing_ok=True)
        shutil.rmtree(d, ignore_errors=True)


class JobLock:
    """flock on <dir>/LOCK: the kernel drops it when the process dies, so a killed job never blocks a retry."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "LOCK"
        self.fd: int | None = None

    def __enter__(self) -> "JobLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobLocked(f"another trainer process is running this job (lock {self.path} is held)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None
