"""The Megatron indexed dataset msm writes for corpora (src/tokenize/megatron-writer.ts), checked byte for
byte against Megatron-LM's published MMapIndexedDataset layout, and read the way training reads it."""

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import VOCAB, pattern_tokens, run_inproc, train_manifest

from msm_trainer.data import load_packed
from msm_trainer.errors import BadInput
from msm_trainer.megatron import read_index

FIXTURE = Path(__file__).parent / "data" / "megatron-tiny"
# What src/tokenize wrote into the fixture: three documents, each followed by eos (1).
DOCS = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
EOS = 1


def spec_index(sizes, dtype_code=4, itemsize=4) -> bytes:
    """The .idx bytes as Megatron-LM's _IndexWriter lays them out, built field by field from the definition."""
    out = b"MMIDIDX\x00\x00"
    out += struct.pack("<Q", 1)  # version
    out += struct.pack("<B", dtype_code)
    out += struct.pack("<Q", len(sizes))  # sequence count
    out += struct.pack("<Q", len(sizes) + 1)  # document count: len(document_indices)
    out += struct.pack(f"<{len(sizes)}i", *sizes)
    pointers, p = [], 0
    for s in sizes:
        pointers.append(p)
        p += s * itemsize
    out += struct.pack(f"<{len(sizes)}q", *pointers)
    out += struct.pack(f"<{len(sizes) + 1}q", *range(len(sizes) + 1))
    return out


def write_megatron(d: Path, docs, seq_len: int, vocab=VOCAB, pad_id=0, eos_id=EOS) -> Path:
    """A msm-megatron-v1 dataset built from the definition (no TypeScript): documents + eos, one sequence each."""
    d.mkdir(parents=True, exist_ok=True)
    seqs = [list(doc) + [eos_id] for doc in docs]
    stream = np.array([t for s in seqs for t in s], dtype="<i4")
    stream.tofile(d / "tokens.bin")
    (d / "tokens.idx").write_bytes(spec_index([len(s) for s in seqs]))
    manifest = {
        "format": "msm-megatron-v1",
        "seqLen": seq_len,
        "numSequences": -(-len(stream) // seq_len),
        "numTokens": int(len(stream)),
        "tokensFile": "tokens.bin",
        "indexFile": "tokens.idx",
        "lossMaskFile": None,
        "lengthsFile": None,
        "padId": pad_id,
        "eosId": eos_id,
        "vocabSize": vocab,
    }
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d / "manifest.json"


def test_typescript_writer_output_is_the_published_layout_byte_for_byte():
    sizes = [len(doc) + 1 for doc in DOCS]
    assert (FIXTURE / "tokens.idx").read_bytes() == spec_index(sizes)
    stream = [t for doc in DOCS for t in doc + [EOS]]
    assert (FIXTURE / "tokens.bin").read_bytes() == struct.pack(f"<{len(stream)}i", *stream)
    idx = read_index(FIXTURE / "tokens.idx")
    assert idx.dtype == np.int32
    assert idx.sizes.tolist() == sizes
    assert idx.pointers.tolist() == [0, 16, 24]
    assert idx.document_indices.tolist() == [0, 1, 2, 3]
    # Every sequence read through its pointer is that document plus eos.
    raw = (FIXTURE / "tokens.bin").read_bytes()
    for doc, ptr, size in zip(DOCS, idx.pointers, idx.sizes):
        assert list(np.frombuffer(raw, "<i4", int(size), int(ptr))) == doc + [EOS]


def test_load_packed_cuts_the_stream_into_rows_and_pads_the_last():
    data = load_packed(str(FIXTURE / "manifest.json"))
    assert data.seq_len == 5 and data.n == 3
    ids, attn, target = data.batch(np.arange(3))
    assert ids.tolist() == [[5, 6, 7, 1, 8], [1, 9, 10, 11, 12], [13, 1, 0, 0, 0]]
    assert attn.tolist() == [[1] * 5, [1] * 5, [1, 1, 0, 0, 0]]
    assert target.tolist() == attn.tolist()
    assert data.batch(np.array([2, 0]))[0].tolist() == [ids[2].tolist(), ids[0].tolist()]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b"XXIDIDX\x00\x00" + b[9:], "magic"),
        (lambda b: b[:9] + struct.pack("<Q", 2) + b[17:], "version 2"),
        (lambda b: b[:-8], "need"),
        (lambda b: b[:17] + struct.pack("<B", 9) + b[18:], "dtype code 9"),
    ],
)
def test_a_damaged_index_is_bad_input(tmp_path, damage, message):
    d = tmp_path / "bad"
    shutil.copytree(FIXTURE, d)
    (d / "tokens.idx").write_bytes(damage((d / "tokens.idx").read_bytes()))
    with pytest.raises(BadInput, match=message):
        load_packed(str(d / "manifest.json"))


def test_a_bin_that_disagrees_with_the_index_is_bad_input(tmp_path):
    d = tmp_path / "short"
    shutil.copytree(FIXTURE, d)
    (d / "tokens.bin").write_bytes((d / "tokens.bin").read_bytes()[:-4])
    with pytest.raises(BadInput, match="tokens.bin is 44 bytes, the index counts 12 tokens"):
        load_packed(str(d / "manifest.json"))
    m = write_megatron(tmp_path / "range", [[5, VOCAB + 3]], seq_len=4)
    with pytest.raises(BadInput, match="token ids span"):
        load_packed(str(m))


def test_midtraining_reads_a_megatron_corpus(tmp_path):
    docs = [row[: 5 + i % 7].tolist() for i, row in enumerate(pattern_tokens(48, 16, seed=1))]
    data = write_megatron(tmp_path / "data", docs, seq_len=16)
    code, events = run_inproc(tmp_path, train_manifest(tmp_path, data))
    assert code == 0, events[-1]
    done = events[-1]
    assert done["event"] == "done"
    n_rows = json.loads(data.read_text())["numSequences"]
    assert done["metrics"]["examples"] == n_rows
    assert done["metrics"]["tokens"] == json.loads(data.read_text())["numTokens"]  # pads never attended


@pytest.mark.slow
def test_a_megatron_dataset_on_s3_comes_down_whole_and_checked(s3, tmp_path):
    s3.put_tree(FIXTURE, "mm")
    data = load_packed(s3.uri("mm", "manifest.json"))
    assert data.batch(np.arange(3))[0].tolist() == [[5, 6, 7, 1, 8], [1, 9, 10, 11, 12], [13, 1, 0, 0, 0]]
    # The index is fetched like the tokens, against the sha256 the manifest records.
    s3.put_tree(FIXTURE, "mm-bad")
    s3.put(b"MMIDIDX\x00\x00" + bytes(93), "mm-bad", "tokens.idx")
    with pytest.raises(BadInput, match="tokens.idx does not match the sha256"):
        load_packed(s3.uri("mm-bad", "manifest.json"))
