"""Output places. The trainer always writes a local folder (storage.py's protocol). For a file:// output that
folder is the output itself; for an s3:// output it is a scratch mirror (uris.scratch_path) whose finished
parts are uploaded files first and COMPLETE marker last, so a reader (the orchestrator, or this trainer on a
fresh machine after preemption) never takes half an upload for a finished one."""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from . import s3, storage, uris
from .events import Emitter
from .storage import COMPLETE

log = logging.getLogger("msm_trainer")

METRICS = "metrics.json"


@dataclass(frozen=True)
class OutputPlace:
    uri: str  # as the manifest spells it: events report this form
    local: Path  # where the trainer reads and writes
    remote: s3.S3Uri | None  # None for file:// outputs


def output_place(uri: str, field: str) -> OutputPlace:
    local, remote = uris.scratch_path(uri, field)
    return OutputPlace(uri, local, remote)


def publish_dir(local_dir: Path, remote: s3.S3Uri) -> None:
    """Upload a finished local folder's files, then its COMPLETE marker last."""
    for f in sorted(local_dir.rglob("*")):
        rel = f.relative_to(local_dir).as_posix()
        # Dot files named .*.tmp-* are local temp files; DCP's own `.metadata` is part of a checkpoint.
        if f.is_file() and rel != COMPLETE and not (f.name.startswith(".") and ".tmp" in f.name):
            s3.upload(f, remote.child(rel))
    s3.write_bytes(remote.child(COMPLETE), b"ok\n")


def publish_tree(local_dir: Path, place: OutputPlace, name: str) -> None:
    """Upload the files of a folder that grows while a job runs (its TensorBoard events) to <place>/<name>/,
    each file a single PUT; no COMPLETE marker: readers take it as a live view."""
    if place.remote is None or not local_dir.is_dir():
        return
    for f in sorted(local_dir.rglob("*")):
        if f.is_file():
            s3.upload(f, place.remote.child(name, f.relative_to(local_dir).as_posix()))


def published_metrics(place: OutputPlace) -> dict | None:
    """The metrics of a finished output, read where its readers look (S3 for s3:// outputs); else None."""
    if place.remote is None:
        if not storage.is_complete(place.local):
            return None
        return json.loads((place.local / METRICS).read_text(encoding="utf-8"))
    if not s3.exists(place.remote.child(COMPLETE)):
        return None
    return json.loads(s3.read_bytes(place.remote.child(METRICS)))


def finished_metrics(place: OutputPlace) -> dict | None:
    """Like published_metrics, but first publishes a local output that a killed run finished and did not
    upload in full."""
    metrics = published_metrics(place)
    if metrics is None and place.remote is not None and storage.is_complete(place.local):
        publish_dir(place.local, place.remote)
        metrics = published_metrics(place)
    return metrics


def emit_existing_done(place: OutputPlace, em: Emitter) -> bool:
    """Idempotent re-run: a complete output is reported as done, never made again."""
    metrics = finished_metrics(place)
    if metrics is None:
        return False
    log.info("output %s is already complete", place.uri)
    em.done(place.uri, metrics)
    return True


def upload_file(place: OutputPlace, name: str) -> None:
    """Replace one remote file of an unfinished output (a single PUT: atomic on S3)."""
    if place.remote is not None:
        s3.upload(place.local / name, place.remote.child(name))


def download_file(place: OutputPlace, name: str, dest: Path) -> bool:
    """Copy one remote file of an output to dest; False when the store has none."""
    if place.remote is None:
        return False
    src = place.remote.child(name)
    size = s3.head_size(src)
    if size is None:
        return False
    s3.download(src, dest, size)
    return True


# Checkpoints: <prefix>/step-000123/ on both sides, each complete-marked.


def _remote_checkpoints(prefix: s3.S3Uri) -> dict[str, dict[str, int]]:
    """{step folder name: {file: size}} for every remote step-N folder, complete or not."""
    out: dict[str, dict[str, int]] = {}
    for rel, size in s3.list_sizes(prefix).items():
        name, _, file = rel.partition("/")
        if file and storage.step_of(name) is not None:
            out.setdefault(name, {})[file] = size
    return out


def _step(name: str) -> int:
    """The step of a folder _remote_checkpoints kept: only step-N names get there."""
    step = storage.step_of(name)
    assert step is not None, name
    return step


def _complete_steps(remote: dict[str, dict[str, int]]) -> list[str]:
    return sorted((n for n, files in remote.items() if COMPLETE in files), key=_step)


def publish_checkpoint(place: OutputPlace, d: Path) -> None:
    if place.remote is not None:
        publish_dir(d, place.remote.child(d.name))


def sync_newest_checkpoint(place: OutputPlace) -> None:
    """Make the local scratch and S3 agree on the newest complete checkpoint before training: a fresh machine
    (preemption) downloads it; a checkpoint whose upload a kill cut short is uploaded again."""
    if place.remote is None:
        return
    remote = _remote_checkpoints(place.remote)
    complete = _complete_steps(remote)
    remote_step = _step(complete[-1]) if complete else -1
    local = storage.newest_complete_checkpoint(place.local)
    local_step = local[0] if local else -1
    if remote_step > local_step:
        name = complete[-1]
        src = place.remote.child(name)

        def fill(tmp: Path) -> None:
            for file, size in remote[name].items():
                if file != COMPLETE:
                    s3.download(src.child(file), tmp / file, size)

        storage.write_dir_atomic(place.local / name, fill)  # COMPLETE last, locally too
    elif local is not None and local_step > remote_step:
        publish_checkpoint(place, local[1])


def prune_remote_checkpoints(place: OutputPlace, keep: int = 2) -> None:
    """Keep the `keep` newest complete remote checkpoints. Removes a folder's marker before its files, so a
    half-deleted folder is never taken for a complete one; also removes uploads a kill left incomplete."""
    if place.remote is None:
        return
    remote = _remote_checkpoints(place.remote)
    kept = set(_complete_steps(remote)[-keep:])
    doomed = [n for n in remote if n not in kept]
    markers = [place.remote.child(n, COMPLETE) for n in doomed if COMPLETE in remote[n]]
    if markers:
        s3.delete(markers)
    rest = [place.remote.child(n, f) for n in doomed for f in remote[n] if f != COMPLETE]
    if rest:
        s3.delete(rest)
