"""Read the packed formats written by src/tokenize (packed-format.ts) and decide the data order:
msm-packed-v1 (one row per example, with lengths and loss masks: AFT chat data) and msm-megatron-v1 (a
Megatron-LM indexed dataset of documents whose token stream is cut into rows of seqLen: corpora)."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BadInput
from .megatron import read_index
from .uris import local_input

FORMAT = "msm-packed-v1"
MEGATRON_FORMAT = "msm-megatron-v1"
SUBSET_SEED = 42


@dataclass
class PackedData:
    seq_len: int
    tokens: np.ndarray  # (n, seq_len) int32, memory-mapped; or 1-D: a token stream cut every seq_len
    loss_mask: np.ndarray | None  # (n, seq_len) uint8 or None (= all ones)
    lengths: np.ndarray | None  # (n,) int32 or None (= full rows)
    pad_id: int
    eos_id: int
    vocab_size: int

    @property
    def n(self) -> int:
        if self.tokens.ndim == 1:
            return -(-self.tokens.shape[0] // self.seq_len)
        return self.tokens.shape[0]

    def rows(self, rows: np.ndarray) -> np.ndarray:
        if self.tokens.ndim == 2:
            return np.asarray(self.tokens[rows], dtype=np.int64)
        out = np.full((len(rows), self.seq_len), self.pad_id, dtype=np.int64)
        for i, r in enumerate(rows):
            piece = self.tokens[r * self.seq_len : (r + 1) * self.seq_len]
            out[i, : len(piece)] = piece
        return out

    def batch(self, rows: np.ndarray):
        """input ids, attention mask and target mask (1 where token t is a training target) for some rows."""
        ids = self.rows(rows)
        pos = np.arange(self.seq_len)[None, :]
        if self.lengths is not None:
            attn = (pos < self.lengths[rows][:, None]).astype(np.int64)
        else:
            attn = np.ones_like(ids)
        target = attn.copy()
        if self.loss_mask is not None:
            target &= np.asarray(self.loss_mask[rows], dtype=np.int64)
        return ids, attn, target


def _field(m: dict, key: str, kinds, where: str):
    v = m.get(key)
    if not isinstance(v, kinds) or isinstance(v, bool):
        raise BadInput(
            f"{where}: field {key} is missing or has the wrong type ({v!r}); rewrite the dataset with msm tokenize"
        )
    return v


def load_packed(uri: str) -> PackedData:
    path = local_input(uri, "dataUri", "packed")
    where = f"dataUri {uri}"
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{where}: cannot read the packed-data manifest.json ({e})") from e
    if not isinstance(m, dict) or m.get("format") not in (FORMAT, MEGATRON_FORMAT):
        raise BadInput(
            f"{where}: format is {m.get('format') if isinstance(m, dict) else m!r}, "
            f"expected {FORMAT} or {MEGATRON_FORMAT}"
        )
    seq_len = _field(m, "seqLen", int, where)
    n = _field(m, "numSequences", int, where)
    if seq_len < 2 or n < 1:
        raise BadInput(f"{where}: needs seqLen >= 2 and numSequences >= 1 (got {seq_len}, {n}); the dataset is empty")
    d = path.parent
    if m["format"] == MEGATRON_FORMAT:
        return _load_megatron(m, d, seq_len, n, where)

    def arr(name_key: str, dtype: str, shape, required: bool):
        name = m.get(name_key)
        if name is None and not required:
            return None
        if not isinstance(name, str) or "/" in name:
            raise BadInput(f"{where}: field {name_key} must be a file name next to manifest.json")
        f = d / name
        want = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if not f.is_file() or f.stat().st_size != want:
            have = f.stat().st_size if f.is_file() else "missing"
            raise BadInput(f"{where}: {name} should be {want} bytes ({dtype} x {shape}), found {have}")
        return np.memmap(f, dtype=dtype, mode="r", shape=shape)

    tokens = arr("tokensFile", "<i4", (n, seq_len), True)
    loss_mask = arr("lossMaskFile", "u1", (n, seq_len), False)
    lengths = arr("lengthsFile", "<i4", (n,), False)
    vocab = _field(m, "vocabSize", int, where)
    _check_range(tokens, vocab, where)
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.min() < 1 or lengths.max() > seq_len:
            raise BadInput(f"{where}: lengths.bin values must lie in [1, {seq_len}]")
    return PackedData(
        seq_len=seq_len,
        tokens=tokens,
        loss_mask=loss_mask,
        lengths=lengths,
        pad_id=_field(m, "padId", int, where),
        eos_id=_field(m, "eosId", int, where),
        vocab_size=vocab,
    )


def _check_range(tokens: np.ndarray, vocab: int, where: str) -> None:
    lo, hi = int(tokens.min()), int(tokens.max())
    if lo < 0 or hi >= vocab:
        raise BadInput(f"{where}: token ids span [{lo}, {hi}] but vocabSize is {vocab}; the dataset is corrupt")


def _load_megatron(m: dict, d: Path, seq_len: int, n: int, where: str) -> PackedData:
    """Documents back to back in a Megatron .bin; rows are that stream cut every seq_len tokens."""
    names = {}
    for key in ("tokensFile", "indexFile"):
        name = m.get(key)
        if not isinstance(name, str) or "/" in name:
            raise BadInput(f"{where}: field {key} must be a file name next to manifest.json")
        names[key] = d / name
    try:
        index = read_index(names["indexFile"])
    except (OSError, ValueError) as e:
        raise BadInput(f"{where}: {e}; rewrite the dataset with msm tokenize") from e
    if index.dtype != np.int32:
        raise BadInput(f"{where}: the index says {index.dtype} tokens; msm writes int32")
    total = int(index.sizes.sum(dtype=np.int64))
    num_tokens = _field(m, "numTokens", int, where)
    f = names["tokensFile"]
    have = f.stat().st_size if f.is_file() else "missing"
    if total != num_tokens or have != 4 * total:
        raise BadInput(
            f"{where}: {f.name} is {have} bytes, the index counts {total} tokens and the manifest "
            f"{num_tokens}; the dataset is corrupt"
        )
    if n != -(-total // seq_len):
        raise BadInput(f"{where}: numSequences {n} is not ceil({total} / {seq_len})")
    stream = np.memmap(f, dtype="<i4", mode="r", shape=(total,))
    vocab = _field(m, "vocabSize", int, where)
    _check_range(stream, vocab, where)
    lengths = np.minimum(seq_len, total - seq_len * np.arange(n)).astype(np.int32)
    return PackedData(
        seq_len=seq_len,
        tokens=stream,
        loss_mask=None,
        lengths=lengths,
        pad_id=_field(m, "padId", int, where),
        eos_id=_field(m, "eosId", int, where),
        vocab_size=vocab,
    )


def subset_rows(n: int, fraction: float, seed: int | None = None) -> np.ndarray:
    """Nested subsets: the first ceil(fraction*n) rows of one fixed permutation, so a smaller fraction is
    always contained in a larger one. Without `seed` every job shares the seed-42 permutation; with one
    (aft.subsetBySeed) each seed has its own, so seeds also differ in which rows they train on, and the
    nesting holds within each seed."""
    perm = np.random.default_rng(SUBSET_SEED if seed is None else [SUBSET_SEED, seed]).permutation(n)
    k = max(1, math.ceil(fraction * n - 1e-9))
    return np.sort(perm[:k])


def epoch_order(rows: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Deterministic shuffle per (seed, epoch): a resumed run replays exactly the same batches."""
    return rows[np.random.default_rng([seed, epoch]).permutation(len(rows))]
