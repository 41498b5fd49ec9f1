"""Job inputs as local paths. A file:// input is read in place; an s3:// input is downloaded once into
this machine's cache (storage.cache_dir()/inputs), keyed by endpoint + URI, and the local code reads the
copy. Artifacts in the store never change once written (content-keyed, or complete-marked), so a cached
copy stays valid.

Each input lands as one folder, filled under a temp name, verified (sizes, and the sha256 the packed
manifest records) and renamed into place whole: a torn or killed download is never used."""

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from . import s3
from .errors import BadInput
from .storage import COMPLETE, cache_dir, fsync_tree, local_path

MODEL_INFO = "msm_model.json"  # models.MODEL_INFO; repeated here so the manifest checks stay torch-free
PACKED_DATA_FILES = ("tokensFile", "indexFile", "lossMaskFile", "lengthsFile")
TOKENIZER_CONFIG = "tokenizer_config.json"


def _cache_name(uri: str) -> str:
    digest = hashlib.sha256(f"{s3.endpoint() or 'aws'}\n{uri}".encode()).hexdigest()[:16]
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(uri.rstrip("/").split("/")[-2:]))[-60:]
    return f"{digest}-{tail}"


def _cached(uri: str, fill: Callable[[Path], None]) -> Path:
    """The cache folder holding `uri`'s files, downloaded by `fill` into a temp folder on first use."""
    root = cache_dir() / "inputs"
    final = root / _cache_name(uri)
    if final.is_dir():  # only ever renamed into place complete
        return final
    root.mkdir(parents=True, exist_ok=True)
    _drop_dead_downloads(root, final.name)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fill(tmp)
        fsync_tree(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # not merely another job on this machine having fetched it first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _drop_dead_downloads(root: Path, name: str) -> None:
    """Remove temp folders of killed downloads of this input (another live job may be fetching it too)."""
    for d in root.glob(f".tmp-{name}-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(src: s3.S3Uri, dest: Path, where: str, sha256: str | None = None) -> None:
    size = s3.head_size(src)
    if size is None:
        raise BadInput(f"{where}: {src} does not exist; check the URI, or produce it first")
    s3.download(src, dest, size)
    if sha256 is not None and _sha256(dest) != sha256:
        s3.download(src, dest, size)  # once more: a bit flipped in transit
        if _sha256(dest) != sha256:
            raise BadInput(
                f"{where}: {src} does not match the sha256 its manifest records; the stored dataset is "
                "corrupt, rewrite it with msm tokenize"
            )


def packed_manifest(uri: str) -> Path:
    """dataUri: a packed dataset's manifest.json; its data files (named in it) come along as siblings."""
    if not s3.is_s3(uri):
        return local_path(uri, "dataUri")
    src = s3.parse(uri, "dataUri")

    def fill(tmp: Path) -> None:
        raw = s3.read_bytes(src)
        (tmp / src.name).write_bytes(raw)
        try:
            m = json.loads(raw)
        except ValueError:
            return  # data.load_packed reports the unreadable manifest
        if not isinstance(m, dict):
            return
        # The TypeScript writer records each file's sha256 (src/tokenize/packed-format.ts).
        hashes = m.get("files") if isinstance(m.get("files"), dict) else {}
        for field in PACKED_DATA_FILES:
            name = m.get(field)
            if isinstance(name, str) and name and "/" not in name and name != src.name:
                _fetch(src.parent.child(name), tmp / name, f"dataUri {uri}", hashes.get(name))

    return _cached(uri, fill) / src.name


def tokenizer_file(uri: str) -> Path:
    """tokenizerUri: tokenizer.json, with the tokenizer_config.json next to it when the store has one."""
    if not s3.is_s3(uri):
        return local_path(uri, "tokenizerUri")
    src = s3.parse(uri, "tokenizerUri")

    def fill(tmp: Path) -> None:
        _fetch(src, tmp / src.name, "tokenizerUri")
        config = src.parent.child(TOKENIZER_CONFIG)
        size = s3.head_size(config)
        if size is not None and src.name != TOKENIZER_CONFIG:
            s3.download(config, tmp / TOKENIZER_CONFIG, size)

    return _cached(uri, fill) / src.name


def plain_file(uri: str, field: str) -> Path:
    """A single-file input (promptsUri)."""
    if not s3.is_s3(uri):
        return local_path(uri, field)
    src = s3.parse(uri, field)
    return _cached(uri, lambda tmp: _fetch(src, tmp / src.name, field)) / src.name


def _incomplete_model(uri: str, field: str) -> BadInput:
    return BadInput(
        f"manifest field {field}: {uri} is not a complete trainer output (no COMPLETE marker or {MODEL_INFO}); "
        "run the training job that produces it to completion first"
    )


def model_dir(uri: str, field: str) -> Path:
    """A trainer output folder (initFromUri, modelUri, or the base a LoRA output records)."""
    if not s3.is_s3(uri):
        return local_path(uri, field)
    src = s3.parse(uri, field)

    def fill(tmp: Path) -> None:
        files = s3.list_sizes(src)
        if COMPLETE not in files or MODEL_INFO not in files:
            raise _incomplete_model(uri, field)
        for rel, size in files.items():
            s3.download(src.child(rel), tmp / rel, size)

    return _cached(uri, fill)


def require_file(uri: str, field: str) -> None:
    """Fail fast (before the slow imports) on an input that is not there."""
    if s3.is_s3(uri):
        present = s3.exists(s3.parse(uri, field))
    else:
        present = local_path(uri, field).exists()
    if not present:
        raise BadInput(f"manifest field {field}: {uri} does not exist (check the URI, or produce it first)")


def require_model(uri: str, field: str) -> None:
    if s3.is_s3(uri):
        # An S3 "folder" is only a key prefix: its COMPLETE marker is what says it exists.
        src = s3.parse(uri, field)
        complete = s3.exists(src.child(COMPLETE)) and s3.exists(src.child(MODEL_INFO))
    else:
        require_file(uri, field)
        p = local_path(uri, field)
        complete = (p / COMPLETE).is_file() and (p / MODEL_INFO).is_file()
    if not complete:
        raise _incomplete_model(uri, field)
