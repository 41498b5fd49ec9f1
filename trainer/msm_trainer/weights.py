"""baseModel.path -> a local Hugging Face model folder on the trainer host, from wherever the user keeps the
weights:

- a local folder (used in place), or a local `.gguf` file;
- `s3://bucket/prefix` (a model folder) or `s3://bucket/.../model.gguf`: downloaded once per host into the
  trainer cache (sizes checked, and sha256 where a SHA256SUMS file beside the weights records it), reused by
  later jobs. Weights never cross Temporal: only the URI does;
- `hf:<org>/<name>[@revision]`: `huggingface_hub.snapshot_download` on this host (its own cache); offline,
  or with the Hub unreachable, a non-retryable error that says how to get the weights here instead;
- a `.gguf` file (local, or fetched from S3): dequantized by transformers (needs the `gguf` package) and
  saved once as an HF folder in the cache, atomically (temp + rename).

`check_path` is the manifest's cheap check (no torch, no downloads); `resolve` does the work, in the job.
Run as `python -m msm_trainer.weights convert-gguf MODEL.gguf DEST` to convert a GGUF file into DEST."""

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import cast

from . import s3
from .errors import BadInput
from .storage import fsync_tree
from .uris import cache_dir, cached, sha256_file

HF_PREFIX = "hf:"
_HF_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
HF_ID = re.compile(rf"^hf:(?P<repo>{_HF_NAME}/{_HF_NAME})(?:@(?P<rev>[A-Za-z0-9][A-Za-z0-9._/-]{{0,127}}))?$")
SHA256SUMS = "SHA256SUMS"  # `sha256sum * > SHA256SUMS` beside the weights: checked on download
FORMS = (
    "a local Hugging Face model folder, a local .gguf file, s3://bucket/prefix (a model folder or a .gguf "
    "object) or hf:<org>/<name>[@revision]"
)


def _is_gguf(path: str) -> bool:
    return path.lower().endswith(".gguf")


def check_path(path: str, field: str) -> None:
    """Cheap checks when the manifest is read: the local path exists, the S3 URI is well formed and its
    listing reachable and non-empty, the Hub id is well formed."""
    if path.startswith(HF_PREFIX):
        if not HF_ID.match(path):
            raise BadInput(
                f"manifest field {field} is {path!r}: write a Hub model as hf:<org>/<name> or "
                "hf:<org>/<name>@<revision> (e.g. hf:google/gemma-3-270m)"
            )
    elif s3.is_s3(path):
        uri = s3.parse(path, field)
        found = s3.exists(uri) if _is_gguf(path) else bool(s3.list_sizes(uri))
        if not found:
            raise BadInput(
                f"manifest field {field}: nothing is stored at {path}; upload the model folder (or .gguf "
                "file) there first, or fix the URI"
            )
    elif "://" in path:
        raise BadInput(f"manifest field {field} is {path!r}: use {FORMS}")
    elif _is_gguf(path):
        if not Path(path).is_file():
            raise BadInput(f"manifest field {field}: {path} is not a file (a .gguf model file on the trainer host)")
    elif not Path(path).is_dir():
        raise BadInput(
            f"manifest field {field}: {path} is not a directory (a local Hugging Face model folder on the "
            f"trainer host); the path may also be {FORMS}"
        )


def fetch(path: str, field: str) -> Path:
    """The local folder (or .gguf file) for `path`: a Hub snapshot or an S3 copy fetched on first use."""
    if path.startswith(HF_PREFIX):
        return hub_snapshot(path, field)
    if s3.is_s3(path):
        return s3_model(path, field)
    return Path(path)


def resolve(path: str, field: str = "baseModel.path") -> Path:
    """The local HF model folder for `path` (see the module doc), fetching or converting it on first use."""
    local = fetch(path, field)
    if _is_gguf(str(local)):
        return cached_gguf_folder(local)
    if not (local / "config.json").is_file():
        raise BadInput(
            f"{field} {path}: {local} has no config.json, so it is not a Hugging Face model folder; use {FORMS}"
        )
    return local


# s3:// ----------------------------------------------------------------------------------------------------


def _parse_sums(text: str) -> dict[str, str]:
    """`sha256sum` output: '<64 hex>  <name>' (or ' *<name>' in binary mode) per line."""
    sums = {}
    for line in text.splitlines():
        m = re.match(r"^([0-9a-fA-F]{64}) [ *](.+)$", line.strip())
        if m:
            sums[m.group(2).removeprefix("./")] = m.group(1).lower()
    return sums


def _verify(files: dict[str, Path], sums: dict[str, str], uri: str) -> None:
    for rel, local in files.items():
        want = sums.get(rel)
        if want is not None and sha256_file(local) != want:
            raise BadInput(
                f"baseModel.path {uri}: {rel} does not match the sha256 in {SHA256SUMS}; the stored copy is "
                "corrupt or the sums are stale: upload the model again (or regenerate SHA256SUMS)"
            )


def s3_model(path: str, field: str) -> Path:
    """An S3 model folder (or .gguf object), downloaded once into this host's cache and reused after."""
    src = s3.parse(path, field)
    if _is_gguf(path):

        def fill_one(tmp: Path) -> None:
            size = s3.head_size(src)
            if size is None:
                raise BadInput(f"{field}: {path} does not exist; upload the .gguf file there first, or fix the URI")
            s3.download(src, tmp / src.name, size)
            sums = src.parent.child(SHA256SUMS)
            if s3.exists(sums):
                _verify({src.name: tmp / src.name}, _parse_sums(s3.read_bytes(sums).decode("utf-8", "replace")), path)

        return cached(path, fill_one) / src.name

    def fill(tmp: Path) -> None:
        listing = s3.list_sizes(src)
        if "config.json" not in listing:
            raise BadInput(
                f"{field}: {path} holds no config.json ({len(listing)} objects), so it is not a Hugging Face "
                "model folder; upload the folder's files (config.json, *.safetensors, tokenizer files) under it"
            )
        for rel, size in listing.items():
            s3.download(src.child(rel), tmp / rel, size)
        if SHA256SUMS in listing:
            sums = _parse_sums((tmp / SHA256SUMS).read_text(encoding="utf-8", errors="replace"))
            _verify({rel: tmp / rel for rel in listing if rel != SHA256SUMS}, sums, path)

    return cached(path, fill)


# hf: ------------------------------------------------------------------------------------------------------


def _offline_message(path: str, why: str) -> str:
    return (
        f"baseModel.path {path}: cannot get the weights from the Hugging Face Hub on this host ({why}). "
        "Pre-download them where the Hub is reachable (huggingface-cli download <org>/<name> into this host's "
        "HF cache, or to a folder), or point baseModel.path at a local model folder or an s3:// copy"
    )


def hub_snapshot(path: str, field: str) -> Path:
    m = HF_ID.match(path)
    if not m:
        check_path(path, field)  # raises the format message for a malformed hf: id
        raise BadInput(f"manifest field {field} is {path!r}: not a Hugging Face Hub id (hf:<org>/<name>)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        # In offline mode this returns a snapshot already in the HF cache, and raises when there is none.
        return Path(snapshot_download(m.group("repo"), revision=m.group("rev"), local_files_only=offline))
    except (GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError) as e:
        # Gated is a subclass of not-found: ask for it first.
        raise BadInput(
            f"{field} {path}: the Hub refused it ({type(e).__name__}): check the id and revision, and for a "
            "gated model set HF_TOKEN to a token that has accepted its licence"
        ) from e
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        why = "HF_HUB_OFFLINE is set and the HF cache has no copy" if offline else f"{type(e).__name__}: {e}"
        raise BadInput(_offline_message(path, why)) from e
    except OSError as e:  # requests' connection errors are OSErrors
        raise BadInput(_offline_message(path, f"{type(e).__name__}: {e}")) from e


# .gguf ----------------------------------------------------------------------------------------------------


def gguf_cache_name(gguf: Path) -> str:
    # Keyed by where the file is, its size and mtime: hashing many GB on every job would cost more than it saves.
    st = gguf.stat()
    key = f"{gguf.resolve()}\n{st.st_size}\n{st.st_mtime_ns}".encode()
    return f"{gguf.stem[:60]}-{hashlib.sha256(key).hexdigest()[:16]}"


def cached_gguf_folder(gguf: Path) -> Path:
    if not gguf.is_file():
        raise BadInput(f"baseModel.path: {gguf} is not a file (a .gguf model file on the trainer host)")
    dest = cache_dir() / "gguf" / gguf_cache_name(gguf)
    if not (dest / "config.json").is_file():
        convert_gguf(gguf, dest)
    return dest


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def convert_gguf(gguf: Path, dest: Path, dtype: str = "bfloat16", tokenizer_dir: Path | None = None) -> Path:
    """Dequantize a GGUF file into an HF folder at dest, written under a temp name and renamed into place whole.
    bfloat16 by default: the rounding is far below the quantization error, and the folder is half the size of
    float32. The tokenizer is the one transformers rebuilds from the GGUF's vocabulary, or, with tokenizer_dir,
    that folder's tokenizer.json + tokenizer_config.json: the rebuilt one can split text differently from the
    tokenizer the model was trained with (it does for Gemma 3)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if (dest / "config.json").is_file():
        return dest
    try:
        import gguf as _  # noqa: F401  transformers' GGUF reader
    except ImportError as e:
        raise BadInput("reading a .gguf model needs the `gguf` package: pip install -r trainer/requirements.txt") from e
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            # dequantize: plain dense layers (trainable, LoRA-wrappable) instead of kept GGUF blocks.
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent),
                gguf_file=gguf.name,
                dtype=getattr(torch, dtype),
                quantization_config=GgufConfig(dequantize=True),
            )
            tok = None if tokenizer_dir else AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        except (OSError, MemoryError):  # the machine's fault (disk, memory), not the file's: let it be retried
            raise
        except Exception as e:  # unsupported architecture or quantization, a torn or foreign file (struct.error, ...)
            raise BadInput(
                f"baseModel.path {gguf}: transformers cannot read this GGUF file ({e}); convert it to a "
                "Hugging Face folder another way, or use the original safetensors weights"
            ) from e
        # The GGUF quantizer stays attached and refuses to save; the dequantized model is an ordinary one.
        model.hf_quantizer = None  # type: ignore[assignment]  # torch types any attribute as a Tensor or Module
        model.save_pretrained(str(tmp))
        if tokenizer_dir is not None:
            embeddings = cast(torch.nn.Embedding, model.get_input_embeddings())
            copy_tokenizer(tokenizer_dir, tmp, embeddings.num_embeddings)
        elif tok is not None:
            tok.save_pretrained(str(tmp))
        fsync_tree(tmp)
        if dest.exists() and not (dest / "config.json").is_file():  # not a finished conversion: replace it
            shutil.rmtree(dest)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / "config.json").is_file():  # not merely another job having converted it first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def copy_tokenizer(src: Path, dest: Path, rows: int) -> None:
    """The tokenizer files of src into dest, refused when its ids would not fit the model's embedding rows."""
    from tokenizers import Tokenizer

    missing = [f for f in TOKENIZER_FILES if not (src / f).is_file()]
    if missing:
        raise BadInput(f"--tokenizer {src}: no {', '.join(missing)} there")
    size = Tokenizer.from_file(str(src / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
    if size > rows:
        raise BadInput(f"--tokenizer {src}: {size} token ids do not fit the model's {rows} embedding rows")
    for f in TOKENIZER_FILES:
        shutil.copyfile(src / f, dest / f)


def main(argv: list | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    tokenizer = None
    if len(args) == 5 and args[3] == "--tokenizer":
        tokenizer, args = Path(args[4]), args[:3]
    if len(args) != 3 or args[0] != "convert-gguf":
        print(
            "usage: python -m msm_trainer.weights convert-gguf MODEL.gguf DEST_FOLDER [--tokenizer DIR]",
            file=sys.stderr,
        )
        return 2
    try:
        out = convert_gguf(Path(args[1]), Path(args[2]), tokenizer_dir=tokenizer)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
