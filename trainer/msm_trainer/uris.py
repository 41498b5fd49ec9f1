"""Where a job's data URIs resolve: the one module that turns a manifest's URI (file:///abs/path, a plain path
or s3://bucket/key) into a local path. `check_uri` checks one's spelling; `local_input` gives an input's local
copy, `require_input` fails fast on one that is not there; mirror.py places outputs (an s3:// output is written
to a local scratch mirror of it, found with `scratch_path`). s3.py is only the S3 client.

A file:// input is read in place; an s3:// input is downloaded once into this machine's cache
(cache_dir()/inputs), keyed by endpoint + URI, and the local code reads the copy. Artifacts in the store never
change once written (content-keyed, or complete-marked), so a cached copy stays valid.

Each input lands as one folder, filled under a temp name, verified (sizes, and the sha256 the packed
manifest records) and renamed into place whole: a torn or killed download is never used."""

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from . import s3
from .errors import BadInput
from .storage import COMPLETE, fsync_tree

MODEL_INFO = "msm_model.json"  # models.MODEL_INFO; repeated here so the manifest checks stay torch-free
PACKED_DATA_FILES = ("tokensFile", "indexFile", "lossMaskFile", "lengthsFile")
TOKENIZER_CONFIG = "tokenizer_config.json"


def check_uri(uri: object, field: str) -> str:
    """`uri` as the manifest's `field` may spell it (the scheme and, for s3://, bucket and key); else BadInput."""
    if not isinstance(uri, str) or not uri:
        raise BadInput(
            f"manifest field {field} must be a non-empty URI string (file:///abs/path, s3://bucket/key or a path)"
        )
    if s3.is_s3(uri):
        s3.parse(uri, field)  # checks bucket and key; imports no boto3
    elif "://" in uri:
        p = urlparse(uri)
        if p.scheme != "file" or p.netloc not in ("", "localhost"):
            raise BadInput(
                f"manifest field {field} is {uri}: use a file:///absolute/path URI, an s3://bucket/key URI "
                "or a plain path"
            )
    return uri


def local_path(uri: str, field: str) -> Path:
    """`file:///abs` or a plain path -> Path (an s3:// input has a local copy, see local_input; an output a
    scratch mirror, see scratch_path)."""
    check_uri(uri, field)
    if s3.is_s3(uri):
        raise ValueError(f"{field} {uri}: an s3:// URI has no local path; use local_input or scratch_path")
    if "://" in uri:
        return Path(unquote(urlparse(uri).path))
    return Path(uri)


def cache_dir() -> Path:
    """This machine's trainer cache: downloaded s3:// inputs and the scratch mirrors of s3:// outputs."""
    return Path(os.environ.get("MSM_TRAINER_CACHE") or "~/.cache/msm-trainer").expanduser()


def scratch_path(uri: str, field: str) -> tuple[Path, s3.S3Uri | None]:
    """An output URI's local folder, and its S3 place for an s3:// output (written there by mirror.py)."""
    check_uri(uri, field)
    if not s3.is_s3(uri):
        return local_path(uri, field), None
    remote = s3.parse(uri, field)
    return cache_dir() / "scratch" / remote.bucket / remote.key, remote


def _cache_name(uri: str) -> str:
    digest = hashlib.sha256(f"{s3.endpoint() or 'aws'}\n{uri}".encode()).hexdigest()[:16]
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(uri.rstrip("/").split("/")[-2:]))[-60:]
    return f"{digest}-{tail}"


def cached(uri: str, fill: Callable[[Path], None]) -> Path:
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


def sha256_file(path: Path) -> str:
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
    if sha256 is not None and sha256_file(dest) != sha256:
        s3.download(src, dest, size)  # once more: a bit flipped in transit
        if sha256_file(dest) != sha256:
            raise BadInput(
                f"{where}: {src} does not match the sha256 its manifest records; the stored dataset is "
                "corrupt, rewrite it with msm tokenize"
            )


def _packed_manifest(uri: str) -> Path:
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
        files = m.get("files")
        hashes: dict[str, str] = files if isinstance(files, dict) else {}
        for field in PACKED_DATA_FILES:
            name = m.get(field)
            if isinstance(name, str) and name and "/" not in name and name != src.name:
                _fetch(src.parent.child(name), tmp / name, f"dataUri {uri}", hashes.get(name))

    return cached(uri, fill) / src.name


def _tokenizer_file(uri: str) -> Path:
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

    return cached(uri, fill) / src.name


def _plain_file(uri: str, field: str) -> Path:
    """A single-file input (promptsUri)."""
    if not s3.is_s3(uri):
        return local_path(uri, field)
    src = s3.parse(uri, field)
    return cached(uri, lambda tmp: _fetch(src, tmp / src.name, field)) / src.name


def _incomplete_model(uri: str, field: str) -> BadInput:
    return BadInput(
        f"manifest field {field}: {uri} is not a complete trainer output (no COMPLETE marker or {MODEL_INFO}); "
        "run the training job that produces it to completion first"
    )


def _model_dir(uri: str, field: str) -> Path:
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

    return cached(uri, fill)


def _require_file(uri: str, field: str) -> None:
    """Fail fast (before the slow imports) on an input that is not there."""
    if s3.is_s3(uri):
        present = s3.exists(s3.parse(uri, field))
    else:
        present = local_path(uri, field).exists()
    if not present:
        raise BadInput(f"manifest field {field}: {uri} does not exist (check the URI, or produce it first)")


def _require_model(uri: str, field: str) -> None:
    if s3.is_s3(uri):
        # An S3 "folder" is only a key prefix: its COMPLETE marker is what says it exists.
        src = s3.parse(uri, field)
        complete = s3.exists(src.child(COMPLETE)) and s3.exists(src.child(MODEL_INFO))
    else:
        _require_file(uri, field)
        p = local_path(uri, field)
        complete = (p / COMPLETE).is_file() and (p / MODEL_INFO).is_file()
    if not complete:
        raise _incomplete_model(uri, field)


InputKind = Literal["file", "packed", "tokenizer", "model"]


def local_input(uri: str, field: str, kind: InputKind) -> Path:
    """The local path of the input `uri` (the manifest's `field`): a single file, a packed dataset's
    manifest.json (its data files beside it), a tokenizer.json (its tokenizer_config.json beside it when the
    store has one) or a trainer output folder."""
    check_uri(uri, field)
    if kind == "packed":
        return _packed_manifest(uri)
    if kind == "tokenizer":
        return _tokenizer_file(uri)
    if kind == "model":
        return _model_dir(uri, field)
    return _plain_file(uri, field)


def require_input(uri: str, field: str, kind: InputKind) -> None:
    """Fail fast (before the slow imports) on an input that is not there, or a model output not complete."""
    check_uri(uri, field)
    if kind == "model":
        _require_model(uri, field)
    else:
        _require_file(uri, field)
