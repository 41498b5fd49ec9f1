"""`npm run bench -- aft-padding`: what trimming each AFT micro-batch to its longest row saves (train.trim_padding).

Synthetic AFT rows at the paper files' shape (seqLen 4,096; answers and prompts of ~500 tokens: lengths drawn
from a normal of mean 500, sd 150, clipped to 64..seqLen), cut into micro-batches as the trainer does. Prints
the tokens a forward/backward processes with and without trimming, and times both on this machine with a small
random Llama, side by side in one run. Ends with one JSON line."""

import argparse
import json
import time

import numpy as np
import torch

from .data import PackedData
from .models import build_base
from .train import batch_loss, trim_padding


def rows_of(n: int, seq_len: int, mean: float, sd: float, seed: int) -> PackedData:
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.normal(mean, sd, n).round(), 64, seq_len).astype(np.int32)
    tokens = rng.integers(2, 256, size=(n, seq_len)).astype(np.int32)
    mask = np.zeros((n, seq_len), np.uint8)
    for i, length in enumerate(lengths):
        tokens[i, length:] = 0
        mask[i, length // 2 : length] = 1
    return PackedData(seq_len, tokens, mask, lengths, 0, 1, 256)


def seconds(model, batches) -> float:
    start = time.perf_counter()
    cpu = torch.device("cpu")
    for arrays in batches:
        ids, attn, tgt = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
        loss, _ = batch_loss(model, ids, attn, tgt, cpu)
        loss.backward()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=4096)
    p.add_argument("--micro", type=int, default=4, help="rows per micro-batch")
    p.add_argument("--mean", type=float, default=500)
    p.add_argument("--sd", type=float, default=150)
    p.add_argument("--timed", type=int, default=4, help="micro-batches timed each way")
    a = p.parse_args()
    data = rows_of(a.rows, a.seq_len, a.mean, a.sd, seed=0)
    batches = [data.batch(np.arange(i, min(i + a.micro, a.rows))) for i in range(0, a.rows, a.micro)]
    trimmed = [trim_padding(*b) for b in batches]
    padded_tokens = sum(b[0].size for b in batches)
    trimmed_tokens = sum(b[0].size for b in trimmed)
    real_tokens = int(data.lengths.sum()) if data.lengths is not None else padded_tokens
    print(f"rows {a.rows} of {a.seq_len} tokens, lengths ~ N({a.mean}, {a.sd}), micro-batches of {a.micro}")
    print(f"tokens processed: padded {padded_tokens:,}, trimmed {trimmed_tokens:,}, real {real_tokens:,}")
    torch.manual_seed(0)
    model = build_base(
        {
            "init": "random",
            "hiddenSize": 64,
            "numLayers": 2,
            "numHeads": 4,
            "intermediateSize": 128,
            "vocabSize": 256,
            "initSeed": 0,
        },
        torch.device("cpu"),
    )
    timed = slice(0, a.timed)
    seconds(model, trimmed[:1])  # warm-up
    t_padded, t_trimmed = seconds(model, batches[timed]), seconds(model, trimmed[timed])
    print(f"wall clock, {a.timed} micro-batches forward+backward: padded {t_padded:.2f} s, trimmed {t_trimmed:.2f} s")
    print(
        json.dumps(
            {
                "bench": "aft-padding",
                "seq_len": a.seq_len,
                "micro": a.micro,
                "padded_tokens": padded_tokens,
                "trimmed_tokens": trimmed_tokens,
                "real_tokens": real_tokens,
                "tokens_ratio": round(padded_tokens / trimmed_tokens, 2),
                "padded_s": round(t_padded, 3),
                "trimmed_s": round(t_trimmed, 3),
                "speedup": round(t_padded / t_trimmed, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
