"""Issue 4's first "done when": SIGKILL the real trainer process at seeded random points, resume each time,
and get the very same per-step losses, final metrics and weights as an uninterrupted run with the same seed.
LoRA midtraining and full-weight AFT on mixed data, killed twice each; between them every way to die: after a
step, while a checkpoint's files are written, and with the checkpoint in place but its COMPLETE marker
missing. (Each test killed four times before: the third and fourth kills repeated ways already taken and cost
a trainer start each.)"""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    TRAINER_DIR,
    hyper,
    local,
    parse_events,
    pattern_tokens,
    run_inproc,
    run_subprocess,
    subprocess_env,
    train_manifest,
    write_manifest,
    write_packed,
)
from safetensors.torch import load_file

pytestmark = pytest.mark.slow  # trainer jobs as processes (pytest.ini)

EVERY = 4  # checkpoint interval (steps)
PAUSE_S = "0.5"  # how long each step of a checkpoint write is held open in the attempts killed mid-write


def chat_like(d: Path, n: int, seq_len: int, seed: int) -> Path:
    """Padded rows with a loss mask on their second half, as the chat tokenizer writes them."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(seq_len // 2, seq_len + 1, size=n)
    tokens = pattern_tokens(n, seq_len, seed=seed)
    pos = np.arange(seq_len)[None, :]
    tokens[pos >= lengths[:, None]] = 0
    mask = ((pos >= lengths[:, None] // 2) & (pos < lengths[:, None])).astype(np.uint8)
    return write_packed(d, tokens, loss_mask=mask, lengths=lengths)


def attempt(manifest_path: Path, prefix: Path, kill_when, pause: bool = False) -> list:
    """Run one attempt of the job and SIGKILL it as soon as kill_when(events, prefix) holds. Returns its
    events; fails if the job ended by itself first."""
    out = manifest_path.with_suffix(f".{time.monotonic_ns()}.out")
    env = subprocess_env()
    if pause:
        env["MSM_TRAINER_TEST_WRITE_PAUSE_S"] = PAUSE_S
    with open(out, "w") as f:
        p = subprocess.Popen(
            [sys.executable, "-m", "msm_trainer", str(manifest_path)],
            cwd=TRAINER_DIR,
            env=env,
            stdout=f,
            stderr=subprocess.DEVNULL,
        )
    try:
        while p.poll() is None:
            text = out.read_text()
            events = parse_events(text[: text.rfind("\n") + 1])
            if kill_when(events, prefix):
                p.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        p.kill()
        p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL, f"the job ended by itself (exit {p.returncode}): {out.read_text()[-500:]}"
    return parse_events(out.read_text().rsplit("\n", 1)[0])


def newest_step(prefix: Path) -> int:
    from msm_trainer.storage import newest_complete_checkpoint

    newest = newest_complete_checkpoint(prefix)
    return newest[0] if newest else 0


def resumed_step(events) -> int:
    r = [e["step"] for e in events if e["event"] == "resumed"]
    return r[0] if r else 0


def after_progress(step: int):
    return lambda events, _prefix: any(e["event"] == "progress" and e["step"] >= step for e in events)


def while_filling(step: int):
    """The checkpoint of `step` is written into its temp folder but not yet renamed into place."""
    return lambda _events, prefix: any((t / "state.json").is_file() for t in prefix.glob(f".tmp-step-{step:06d}*"))


def before_marker(step: int):
    """The checkpoint of `step` is renamed into place but its COMPLETE marker is not written yet."""
    d = f"step-{step:06d}"
    return lambda _events, prefix: (prefix / d / "state.json").is_file() and not (prefix / d / "COMPLETE").exists()


def weights(out: Path) -> dict:
    f = out / "adapter_model.safetensors"
    return load_file(str(f if f.is_file() else out / "model.safetensors"))


def kill_and_compare(tmp_path: Path, m: dict, total: int, seed: int, ways: "tuple[str, ...]") -> None:
    ref = {
        **m,
        "jobId": "ref",
        "checkpointPrefix": (tmp_path / "ref" / "ck").as_uri(),
        "outputUri": (tmp_path / "ref" / "final").as_uri(),
    }
    code, ref_ev = run_inproc(tmp_path, ref, name="ref.json")  # in this process: saves a slow start
    assert code == 0, ref_ev
    ref_loss = {e["step"]: e["loss"] for e in ref_ev if e["event"] == "progress"}
    assert sorted(ref_loss) == list(range(1, total + 1))

    path = write_manifest(tmp_path / "killed.json", m)
    prefix = local(m["checkpointPrefix"])
    rnd = random.Random(seed)
    checkpoints = list(range(EVERY, total, EVERY))
    runs, kills = [], []
    # Each kill point is drawn (seeded) a little ahead of the newest complete checkpoint, so every attempt
    # gets further than the last; where exactly the SIGKILL lands after it is up to the scheduler.
    for how in ways:
        start = newest_step(prefix)
        ahead = [c for c in checkpoints if c > start][:2]
        assert ahead, f"no checkpoint left after step {start}: lengthen the run"
        if how == "after a step":
            at = rnd.randint(start + 1, min(start + 3 * EVERY, total - 10))  # well before the end: it must not finish
            r = attempt(path, prefix, after_progress(at))
        elif how == "while filling":
            at = rnd.choice(ahead)
            r = attempt(path, prefix, while_filling(at), pause=True)
        else:
            at = rnd.choice(ahead)
            r = attempt(path, prefix, before_marker(at), pause=True)
            assert (prefix / f"step-{at:06d}").is_dir()  # killed with the folder in place, its marker missing
        if how != "after a step":
            assert newest_step(prefix) < at  # the half-written checkpoint does not count
        assert resumed_step(r) == start
        runs.append(r)
        kills.append((how, at))
    start = newest_step(prefix)
    code, last, err = run_subprocess(path)
    assert code == 0, err
    assert resumed_step(last) == start > 0
    runs.append(last)

    # The next attempts cleared the leftovers of the writes that were cut short, and kept the newest two.
    assert not list(prefix.glob(".tmp-*"))
    assert all((d / "COMPLETE").is_file() for d in prefix.glob("step-*"))
    assert len(list(prefix.glob("step-*"))) <= 2
    assert [e["uri"] for e in last if e["event"] == "resumed"] == [f"{m['checkpointPrefix']}/step-{start:06d}"]
    for r in runs:
        steps = [e["step"] for e in r if e["event"] == "progress"]
        assert steps[:1] == [resumed_step(r) + 1], (resumed_step(r), steps[:3])
        for e in r:
            if e["event"] == "progress":
                assert e["loss"] == ref_loss[e["step"]], (e, ref_loss[e["step"]])

    done, ref_done = last[-1], ref_ev[-1]
    assert done["event"] == "done" and ref_done["event"] == "done"
    # Every restart counts, also those of attempts killed before they wrote a checkpoint of their own.
    assert done["metrics"]["resumes"] == len(ways) and done["metrics"]["resumed_from_step"] == resumed_step(last)
    assert json.loads((prefix / "attempts.json").read_text()) == [resumed_step(r) for r in runs]
    assert ref_done["metrics"]["resumes"] == 0 and "resumed_from_step" not in ref_done["metrics"]
    strip = ("resumes", "resumed_from_step")
    assert {k: v for k, v in done["metrics"].items() if k not in strip} == {
        k: v for k, v in ref_done["metrics"].items() if k not in strip
    }
    # The loss curve in the output survives the kills: every step once, as the uninterrupted run's.
    curve = json.loads((local(m["outputUri"]) / "loss_curve.json").read_text())["step_losses"]
    assert curve == [ref_loss[s] for s in range(1, total + 1)]
    a, b = weights(local(ref["outputUri"])), weights(local(m["outputUri"]))
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    print("kills:", kills, "resumed from:", [resumed_step(r) for r in runs])


@pytest.mark.parametrize("seed", [4])
def test_lora_midtraining_killed_twice_equals_uninterrupted(tmp_path, seed):
    data = write_packed(tmp_path / "data", pattern_tokens(48, 32))
    # 48 rows / batch 4 = 12 steps an epoch, 4 epochs: 48 steps. LoRA dropout makes the RNG state matter.
    h = hyper(lr=1e-2, epochs=4, checkpointEverySteps=EVERY, loraDropout=0.1, warmupRatio=0.1)
    m = train_manifest(tmp_path, data, name="killed", hyper=h)
    kill_and_compare(tmp_path, m, 48, seed, ("while filling", "after a step"))


@pytest.mark.parametrize("seed", [11])
def test_full_aft_on_mixed_data_killed_twice_equals_uninterrupted(tmp_path, seed):
    # AFT from a full midtrained model, half the AFT data, 1.5 instruction-tuning rows per AFT row.
    corpus = write_packed(tmp_path / "corpus", pattern_tokens(16, 32, seed=1))
    mid = train_manifest(tmp_path, corpus, name="mid", hyper=hyper(method="full", lr=1e-2, maxSteps=4))
    code, ev = run_inproc(tmp_path, mid, name="mid.json")
    assert code == 0, ev
    aft = chat_like(tmp_path / "aft", 40, 24, seed=2)
    mix = chat_like(tmp_path / "mix", 60, 24, seed=3)
    h = hyper(method="full", lr=3e-3, epochs=4, checkpointEverySteps=EVERY, warmupRatio=0.1, weightDecay=0.01)
    m = train_manifest(
        tmp_path,
        aft,
        kind="aft",
        name="killed",
        hyper=h,
        fraction=0.5,
        initFromUri=mid["outputUri"],
        mixDataUri=mix.as_uri(),
        mixRatio=1.5,
    )
    # 20 AFT rows + 30 mix rows = 50 rows, 13 steps an epoch, 4 epochs: 52 steps.
    kill_and_compare(tmp_path, m, 52, seed, ("before the marker", "after a step"))
    metrics = json.loads((local(m["outputUri"]) / "metrics.json").read_text())
    assert metrics["examples"] == 50 and metrics["mix_examples"] == 30
