"""Read a Megatron-LM MMapIndexedDataset index (.idx), written from its published layout, little-endian:

    magic           9 bytes  b"MMIDIDX\\x00\\x00"
    version         uint64   1
    dtype code      uint8    1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32, 8 uint16
    sequence count  uint64   S
    document count  uint64   D (length of the document indices: documents + 1)
    sizes           int32    x S  tokens per sequence
    pointers        int64    x S  byte offset of each sequence in the .bin
    document idx    int64    x D  first sequence of each document, then S

The .bin holds the sequences' tokens back to back in that dtype."""

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}
_HEADER = struct.Struct("<9sQBQQ")


@dataclass
class MegatronIndex:
    dtype: np.dtype
    sizes: np.ndarray  # (S,) int32
    pointers: np.ndarray  # (S,) int64
    document_indices: np.ndarray  # (D,) int64


def read_index(path: Path) -> MegatronIndex:
    """Parse and check an .idx; ValueError names what is wrong."""
    raw = path.read_bytes()
    if len(raw) < _HEADER.size:
        raise ValueError(f"{path.name} is {len(raw)} bytes, shorter than the {_HEADER.size}-byte header")
    magic, version, code, s, d = _HEADER.unpack_from(raw, 0)
    if magic != MAGIC:
        raise ValueError(f"{path.name} does not start with the Megatron index magic {MAGIC!r}")
    if version != VERSION:
        raise ValueError(f"{path.name} has index version {version}, expected {VERSION}")
    if code not in DTYPES:
        raise ValueError(f"{path.name} has unknown dtype code {code}")
    want = _HEADER.size + 4 * s + 8 * s + 8 * d
    if len(raw) != want:
        raise ValueError(f"{path.name} is {len(raw)} bytes; {s} sequences and {d} document indices need {want}")
    off = _HEADER.size
    sizes = np.frombuffer(raw, "<i4", s, off)
    pointers = np.frombuffer(raw, "<i8", s, off + 4 * s)
    docs = np.frombuffer(raw, "<i8", d, off + 12 * s)
    dtype = np.dtype(DTYPES[code])
    expected_ptr = np.concatenate([[0], np.cumsum(sizes.astype(np.int64) * dtype.itemsize)[:-1]]) if s else sizes[:0]
    if (sizes < 0).any() or not np.array_equal(pointers, expected_ptr):
        raise ValueError(f"{path.name}: sequence pointers do not follow the sizes")
    if d < 1 or docs[0] != 0 or docs[-1] != s or (np.diff(docs) < 0).any():
        raise ValueError(f"{path.name}: document indices must rise from 0 to the sequence count {s}")
    return MegatronIndex(dtype=dtype, sizes=sizes, pointers=pointers, document_indices=docs)
