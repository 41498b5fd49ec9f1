"""Trainer throughput on a GPU: the real trainer CLI on a randomly initialised ~1B-parameter Llama.

    python -m msm_trainer.bench_train [--steps 40] [--batch 8] [--seq 2048] [--method full] [--kill-resume]

Prints figures, then one JSON line. Tokens/s is measured between progress events after warm-up (so data
loading, the optimizer step and event I/O count, model building and checkpoint writes do not); MFU uses
the PaLM estimate 6·N + 12·L·d·T FLOPs per token (N: parameters that do matmuls, i.e. without the input
embedding) against the GPU's dense bf16 peak. --kill-resume also SIGKILLs a run after its first
checkpoint (halfway to the next), resumes it, and compares it with an uninterrupted run of the same seed.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from .data import FORMAT

# Llama-architecture, Llama 3.1 vocabulary: hidden 2048, 16 layers of 16 heads (head dim 128), MLP 5632.
PRESETS: dict[str, dict[str, Any]] = {
    "1b": {"hiddenSize": 2048, "numLayers": 16, "numHeads": 16, "intermediateSize": 5632, "vocabSize": 128256},
    "tiny": {"hiddenSize": 256, "numLayers": 2, "numHeads": 4, "intermediateSize": 512, "vocabSize": 128256},
    # The paper's base-model architectures, randomly initialised (no weights needed to time them).
    "llama-3.1-8b": {
        "hiddenSize": 4096,
        "numLayers": 32,
        "numHeads": 32,
        "numKvHeads": 8,
        "intermediateSize": 14336,
        "vocabSize": 128256,
    },
    "qwen2.5-32b": {
        "hiddenSize": 5120,
        "numLayers": 64,
        "numHeads": 40,
        "numKvHeads": 8,
        "intermediateSize": 27648,
        "vocabSize": 152064,
        "arch": "qwen2",
    },
}
LORA_R = 64
# Dense bf16 tensor-core peaks (no sparsity), by device-name fragment.
PEAK_BF16 = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12)]


def write_random_packed(d: Path, rows: int, seq: int, vocab: int, seed: int = 0) -> str:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rng.integers(0, vocab, size=(rows, seq), dtype=np.int32).tofile(d / "tokens.bin")
    manifest = {
        "format": FORMAT,
        "seqLen": seq,
        "numSequences": rows,
        "tokensFile": "tokens.bin",
        "vocabSize": vocab,
        "padId": 0,
        "eosId": 1,
    }
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return (d / "manifest.json").as_uri()


def _layer_shapes(shape: dict) -> list[tuple[int, int]]:
    """(in, out) of each matmul in one decoder layer: q, k, v, o, gate, up, down."""
    h, f = shape["hiddenSize"], shape["intermediateSize"]
    kv = h // shape["numHeads"] * shape.get("numKvHeads", shape["numHeads"])
    return [(h, h), (h, kv), (h, kv), (h, h), (h, f), (h, f), (f, h)]


def count_params(shape: dict) -> tuple[int, int]:
    """(all parameters, parameters in matmuls: everything but the input embedding)."""
    h, L, v = shape["hiddenSize"], shape["numLayers"], shape["vocabSize"]
    per_layer = sum(i * o for i, o in _layer_shapes(shape)) + 2 * h  # matmuls, two RMSNorms
    if shape.get("arch") == "qwen2":
        per_layer += sum(o for _, o in _layer_shapes(shape)[:3])  # q/k/v biases
    matmul = L * per_layer + h + v * h  # + final norm + lm_head
    return matmul + v * h, matmul


def lora_params(shape: dict, r: int = LORA_R) -> int:
    return shape["numLayers"] * sum(r * (i + o) for i, o in _layer_shapes(shape))


def flops_per_token(shape: dict, seq: int, method: str = "full", recompute: float = 0.0) -> float:
    """Matmul FLOPs per trained token that the hardware really does. Full: 6N (forward, input gradients,
    weight gradients). LoRA: the frozen base has no weight gradients, so 4N, plus 6 per adapter parameter.
    Attention scores and values: 12·L·d·T (PaLM). recompute: the fraction of layers whose forward gradient
    checkpointing runs twice (hardware FLOPs; model FLOPs leave it out)."""
    n = count_params(shape)[1]
    attn = 12 * shape["numLayers"] * shape["hiddenSize"] * seq
    flops = 6 * n + attn if method == "full" else 4 * n + 6 * lora_params(shape) + attn
    if recompute:
        flops += recompute * (2 * n + attn / 3)
    return flops


def peak_flops(name: str) -> float | None:
    return next((p for frag, p in PEAK_BF16 if frag in name), None)


def run_job(manifest: Path, stop: Callable[[dict], bool] | None = None) -> tuple[int, list[tuple[float, dict]]]:
    """Run the trainer CLI; return its exit code and (arrival time, event) pairs. `stop` SIGKILLs it."""
    p = subprocess.Popen(
        [sys.executable, "-m", "msm_trainer", str(manifest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    events: list[tuple[float, dict]] = []
    assert p.stdout is not None
    for line in p.stdout:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        events.append((time.perf_counter(), ev))
        if stop is not None and stop(ev):
            os.killpg(p.pid, signal.SIGKILL)
            break
    p.wait()
    if p.returncode not in (0, -signal.SIGKILL):
        sys.stderr.write(p.stderr.read() if p.stderr else "")
    return p.returncode, events


def manifest_for(root: Path, name: str, data_uri: str, shape: dict, args, ckpt_every: int) -> Path:
    m = {
        "kind": "midtrain",
        "jobId": f"bench-{name}",
        "seed": 0,
        "device": args.device,
        "baseModel": {"init": "random", **shape, "initSeed": 0},
        "dataUri": data_uri,
        "checkpointPrefix": (root / name / "checkpoints").as_uri(),
        "outputUri": (root / name / "final").as_uri(),
        "hyper": {
            "method": args.method,
            "loraR": 64,
            "loraAlpha": 128,
            "loraDropout": 0.0,
            "lr": 1e-4,
            "warmupRatio": 0.05,
            "weightDecay": 0.01,
            "batchSize": args.batch,
            "epochs": 1,
            "maxSteps": args.steps,
            "checkpointEverySteps": ckpt_every,
            "compile": args.compile,
            "gradientCheckpointing": args.grad_ckpt,
            "microBatchSize": args.micro or args.batch,
        },
    }
    path = root / f"{name}.json"
    path.write_text(json.dumps(m), encoding="utf-8")
    return path


def _checkpointing_setting(fraction: float) -> bool | float:
    """--grad-ckpt as hyper.gradientCheckpointing: false, true (every layer) or the fraction of layers."""
    if not 0 <= fraction <= 1:
        raise SystemExit(f"--grad-ckpt takes a fraction of layers in [0, 1], got {fraction}")
    return fraction if 0 < fraction < 1 else fraction == 1


def max_weight_diff(a: Path, b: Path) -> float:
    """Largest absolute difference between the tensors of two trainer outputs (safetensors files)."""
    from safetensors.torch import load_file

    worst = 0.0
    for fa in sorted(a.glob("*.safetensors")):
        ta, tb = load_file(str(fa)), load_file(str(b / fa.name))
        for k in ta:
            worst = max(worst, float((ta[k].float() - tb[k].float()).abs().max()))
    return worst


def throughput(events: list[tuple[float, dict]], warmup: int, tokens_per_step: int) -> float:
    prog = [(t, e["step"]) for t, e in events if e.get("event") == "progress"]
    gaps = [(t1 - t0) / (s1 - s0) for (t0, s0), (t1, s1) in zip(prog, prog[1:]) if s0 >= warmup]
    return tokens_per_step / median(gaps)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="1b")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--method", choices=["full", "lora"], default="full")
    ap.add_argument("--warmup", type=int, default=5, help="steps left out of the throughput figure")
    ap.add_argument("--compile", action="store_true", help="hyper.compile: torch.compile the model and loss")
    ap.add_argument(
        "--grad-ckpt",
        nargs="?",
        type=float,
        const=1.0,
        default=0.0,
        help="hyper.gradientCheckpointing: all layers, or the fraction given (e.g. --grad-ckpt 0.5)",
    )
    ap.add_argument("--micro", type=int, default=0, help="hyper.microBatchSize (default: the whole batch)")
    ap.add_argument("--kill-resume", action="store_true")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: a smoke test of this script")
    args = ap.parse_args(argv)
    # hyper.gradientCheckpointing as the manifest and the result line carry it: false, true or a fraction.
    args.grad_ckpt = _checkpointing_setting(args.grad_ckpt)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench train needs a CUDA GPU (none visible; --device cpu runs a smoke test)", file=sys.stderr)
        return 2
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    shape = PRESETS[args.preset]
    n_all, n_mm = count_params(shape)
    fpt = flops_per_token(shape, args.seq, args.method)
    hw_fpt = flops_per_token(shape, args.seq, args.method, recompute=float(args.grad_ckpt))
    peak = peak_flops(gpu)
    result = {
        "bench": "train",
        "gpu": gpu,
        "preset": args.preset,
        "params": n_all,
        "method": args.method,
        "batch": args.batch,
        "micro": args.micro or args.batch,
        "seq": args.seq,
        "compile": args.compile,
        "gradientCheckpointing": args.grad_ckpt,
        "steps": args.steps,
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory(prefix="msm-bench-train-") as tmp:
        root = Path(tmp)
        data = write_random_packed(root / "data", args.steps * args.batch, args.seq, shape["vocabSize"])
        t0 = time.perf_counter()
        # Timing alone needs no final output (consolidating a full 8B model takes a minute): stop at the last step.
        last_step = None if args.kill_resume else (lambda e: e.get("event") == "progress" and e["step"] >= args.steps)
        code, events = run_job(manifest_for(root, "ref", data, shape, args, ckpt_every=0), last_step)
        progress = [e for _, e in events if e.get("event") == "progress"]
        if code not in (0, -signal.SIGKILL) or not progress or progress[-1]["step"] < args.steps:
            print(json.dumps({**result, "error": [e for _, e in events if e.get("event") == "error"]}))
            return 1
        tps = throughput(events, args.warmup, args.batch * args.seq)
        done = (
            events[-1][1]["metrics"] if events[-1][1].get("event") == "done" else {"final_loss": progress[-1]["loss"]}
        )
        mem = max((e.get("peakMemoryBytes") or 0 for e in progress), default=0)
        result.update(
            {
                "tokensPerSec": round(tps),
                "flopsPerToken": fpt,
                "hardwareFlopsPerToken": hw_fpt,
                "wallSec": round(time.perf_counter() - t0, 1),
                "finalLoss": done["final_loss"],
                "mfu": round(tps * fpt / peak, 4) if peak else None,
                "hfu": round(tps * hw_fpt / peak, 4) if peak else None,
                "peakFlops": peak,
                "peakMemoryGiB": round(mem / 2**30, 2) if mem else None,
            }
        )
        print(
            f"{gpu}: {args.preset} ({n_all / 1e9:.2f}B params, {n_mm / 1e9:.2f}B in matmuls), {args.method}, "
            f"batch {args.batch} (micro {result['micro']}) x {args.seq}: {tps:,.0f} tokens/s, MFU {result['mfu']}, "
            f"HFU {result['hfu']}, peak {result['peakMemoryGiB']} GiB allocated"
        )

        if args.kill_resume:
            every = max(2, args.steps // 4)
            path = manifest_for(root, "killed", data, shape, args, ckpt_every=every)
            # Killed halfway between two checkpoints: the resumed run redoes the steps since the last one.
            kill_step = every + every // 2
            code1, first = run_job(path, lambda e: e.get("event") == "progress" and e["step"] >= kill_step)
            code2, second = run_job(path)
            resumed = [e for _, e in second if e.get("event") == "resumed"]
            fin = second[-1][1]
            killed_at = max(e["step"] for _, e in first if e.get("event") == "progress")
            # The noise floor: GPU kernels (atomics in backward) are not bit-reproducible, so two
            # uninterrupted runs of the same seed differ too; a resume is exact if it differs no more.
            _, again = run_job(manifest_for(root, "again", data, shape, args, ckpt_every=0))
            result["killResume"] = {
                "uninterruptedTwiceAbsLossDiff": abs(again[-1][1]["metrics"]["final_loss"] - done["final_loss"]),
                "maxWeightDiff": max_weight_diff(root / "ref" / "final", root / "killed" / "final"),
                "uninterruptedTwiceMaxWeightDiff": max_weight_diff(root / "ref" / "final", root / "again" / "final"),
                "killedAfterStep": killed_at,
                "resumedFromStep": resumed[0]["step"] if resumed else None,
                "exit": [code1, code2],
                "finalLoss": fin.get("metrics", {}).get("final_loss"),
                "refFinalLoss": done["final_loss"],
                "absLossDiff": abs(fin["metrics"]["final_loss"] - done["final_loss"])
                if fin.get("event") == "done"
                else None,
                "resumes": fin.get("metrics", {}).get("resumes"),
            }
            print(
                f"kill-and-resume: killed after step {killed_at}, "
                f"resumed from {result['killResume']['resumedFromStep']}, "
                f"final loss {result['killResume']['finalLoss']} vs uninterrupted {done['final_loss']} "
                f"(two uninterrupted runs differ by {result['killResume']['uninterruptedTwiceAbsLossDiff']:.3g})"
            )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
