"""One CPU training step of a small random Llama, timed (`npm run bench -- cpu-step` runs it under two allocator
settings, side by side). The shape is the test suite's: 1 layer, hidden size 32, a 128k vocabulary (Llama 3.1's
tokenizer), batches of 4 × 64 tokens, so the logits (33M floats) are most of the memory each step allocates.
Prints one JSON line: seconds of wall clock and of CPU (user, system) per step."""

import argparse
import json
import resource
import time

import torch

from .models import build_base


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--vocab", type=int, default=128256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="steps timed (after 2 untimed)")
    a = p.parse_args()
    torch.manual_seed(0)
    shape = {"hiddenSize": 32, "numLayers": 1, "numHeads": 2, "intermediateSize": 64, "vocabSize": a.vocab}
    model = build_base({"init": "random", "initSeed": 0, **shape}, torch.device("cpu"), torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq_len))
    for i in range(2 + a.steps):
        if i == 2:
            wall, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, a.vocab).float(), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad()
    end = resource.getrusage(resource.RUSAGE_SELF)
    n = a.steps
    print(
        json.dumps(
            {
                "wallSec": (time.perf_counter() - wall) / n,
                "userSec": (end.ru_utime - usage.ru_utime) / n,
                "sysSec": (end.ru_stime - usage.ru_stime) / n,
            }
        )
    )


if __name__ == "__main__":
    main()
