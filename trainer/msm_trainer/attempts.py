"""Every start of a training job, logged next to its checkpoints (attempts.json: the step each attempt
started from, oldest first). Checkpoints only carry the resumes that led to them, so without this log an
attempt killed before it wrote a checkpoint of its own would go uncounted as a preemption."""

import json

from . import mirror, storage

ATTEMPTS = "attempts.json"


def _read(path) -> list[int]:
    try:
        v = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return v if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v) else []


def record_start(place: mirror.OutputPlace, step: int) -> list[int]:
    """Append this attempt's starting step to the log (locally, then S3 for s3:// prefixes) and return it."""
    path = place.local / ATTEMPTS
    starts = _read(path)
    fetched = place.local / f".{ATTEMPTS}.fetched"
    if mirror.download_file(place, ATTEMPTS, fetched):
        # A fresh machine continues the log kept in S3. The log only grows, so the longer copy is the newer
        # (the local one when a kill fell between writing it and uploading it).
        remote = _read(fetched)
        fetched.unlink(missing_ok=True)
        if len(remote) > len(starts):
            starts = remote
    starts.append(step)
    storage.write_file_atomic(path, json.dumps(starts).encode())
    mirror.upload_file(place, ATTEMPTS)
    return starts
