"""Issue 9's CPU checks of distributed training: real torchrun, 2 gloo ranks, FSDP2, DCP checkpoints.

- gradient accumulation: one step of 8 rows as 1×8, 2×4 and 8×1 gives the same update;
- 2 FSDP ranks give the losses and weights of one process with the same effective batch (LoRA and full);
- a rank SIGKILLed three times (once while a sharded checkpoint is being committed) resumes from the newest
  complete checkpoint each time and ends bit-equal to an uninterrupted 2-rank run;
- a checkpoint written by 2 ranks resumes in one process.
"""

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
    subprocess_env,
    train_manifest,
    write_manifest,
    write_packed,
)
from safetensors.torch import load_file

pytestmark = pytest.mark.slow  # trainer jobs as processes (pytest.ini)

TORCHRUN = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nnodes",
    "1",
    "--nproc-per-node",
    "2",
    "--max-restarts",
    "0",
    "-m",
    "msm_trainer",
]


@pytest.fixture
def data(tmp_path) -> Path:
    return write_packed(tmp_path / "data", pattern_tokens(32, 16, seed=5))


def manifest(tmp_path: Path, data: Path, name: str, **h) -> dict:
    return train_manifest(tmp_path, data, name=name, hyper=hyper(**{"batchSize": 8, "epochs": 2, "lr": 1e-2, **h}))


def losses(events: list) -> list:
    return [e["loss"] for e in events if e["event"] == "progress"]


def weights(m: dict) -> dict:
    d = local(m["outputUri"])
    f = d / ("adapter_model.safetensors" if (d / "adapter_model.safetensors").exists() else "model.safetensors")
    return load_file(str(f))


def assert_close(a: dict, b: dict, tol: float) -> None:
    assert set(a) == set(b)
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= tol, worst


def torchrun(tmp_path: Path, m: dict, name: str, timeout: float = 300):
    path = write_manifest(tmp_path / name, m)
    p = subprocess.run(
        TORCHRUN + [str(path)], cwd=TRAINER_DIR, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    return p.returncode, parse_events(p.stdout), p.stderr


def ranks_of(launcher: int) -> list:
    """torchrun's worker processes (its children)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(launcher)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_gradient_accumulation_1x8_2x4_8x1(tmp_path, data):
    runs = []
    for micro in (8, 4, 1):
        m = manifest(tmp_path, data, f"micro{micro}", microBatchSize=micro)
        code, ev = run_inproc(tmp_path, m, f"micro{micro}.json")
        assert code == 0, ev
        runs.append((losses(ev), weights(m)))
    (l8, w8), (l4, w4), (l1, w1) = runs
    assert len(l8) == 8
    np.testing.assert_allclose(l4, l8, rtol=1e-5)
    np.testing.assert_allclose(l1, l8, rtol=1e-5)
    assert_close(w4, w8, 1e-5)
    assert_close(w1, w8, 1e-5)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_two_fsdp_ranks_match_one_process(tmp_path, data, method):
    one = manifest(tmp_path, data, f"one-{method}", method=method, microBatchSize=8)
    code, ev1 = run_inproc(tmp_path, one, "one.json")
    assert code == 0, ev1
    two = manifest(tmp_path, data, f"two-{method}", method=method, microBatchSize=4)
    code, ev2, err = torchrun(tmp_path, two, "two.json")
    assert code == 0, err[-3000:]
    assert ev2[-1]["event"] == "done" and ev2[-1]["metrics"]["world_size"] == 2
    assert sum(e["event"] == "done" for e in ev2) == 1  # only rank 0 speaks
    np.testing.assert_allclose(losses(ev2), losses(ev1), rtol=1e-5)
    assert_close(weights(two), weights(one), 1e-5)


def run_and_kill_a_rank(path: Path, kill_when, pause: bool = False) -> list:
    """One attempt under torchrun; SIGKILL one rank (picked at random) once kill_when(events) holds. Returns
    the attempt's events; fails if the job ended by itself first."""
    env = subprocess_env()
    if pause:
        env["MSM_TRAINER_TEST_WRITE_PAUSE_S"] = "1.0"
    out = path.with_suffix(f".{time.monotonic_ns()}.out")
    with open(out, "w") as f:
        p = subprocess.Popen(TORCHRUN + [str(path)], cwd=TRAINER_DIR, env=env, stdout=f, stderr=subprocess.DEVNULL)
    try:
        while p.poll() is None:
            text = out.read_text()
            if kill_when(parse_events(text[: text.rfind("\n") + 1])):
                victim = random.Random(p.pid).choice(ranks_of(p.pid))
                subprocess.run(["kill", "-9", str(victim)])
                break
            time.sleep(0.01)
        p.wait(timeout=120)  # torchrun ends the other rank and exits non-zero
    finally:
        p.kill()
        p.wait()
    assert p.returncode not in (0, None), "the job ended by itself before the kill"
    return parse_events(out.read_text().rsplit("\n", 1)[0])


def test_a_rank_killed_twice_resumes_bit_equal(tmp_path, data):
    ref = manifest(tmp_path, data, "ref", checkpointEverySteps=2)
    code, ev_ref, err = torchrun(tmp_path, ref, "ref.json")
    assert code == 0, err[-3000:]

    m = manifest(tmp_path, data, "killed", checkpointEverySteps=2)
    path = write_manifest(tmp_path / "killed.json", m)
    prefix = local(m["checkpointPrefix"])
    steps = lambda ev: [e["step"] for e in ev if e["event"] == "progress"]  # noqa: E731
    # Mid-step after step 3; then while step 4's checkpoint is being committed (its temp folder exists). (A third
    # kill at step 7 added a torchrun start and nothing a kill after a step had not shown.)
    run_and_kill_a_rank(path, lambda ev: 3 in steps(ev))
    # (after its first step: by then the attempt has cleared what the last one left behind)
    run_and_kill_a_rank(path, lambda ev: bool(steps(ev)) and any(prefix.glob(".tmp-step-*")), pause=True)
    code, ev, err = torchrun(tmp_path, m, "killed.json")
    assert code == 0, err[-3000:]
    resumed = [e["step"] for e in ev if e["event"] == "resumed"]
    assert resumed and resumed[0] >= 2
    assert ev[-1]["metrics"]["resumes"] == 2
    # Bit-equal: the same losses for the steps the last attempt ran, the same final metrics and weights.
    ref_loss = dict(zip(steps(ev_ref), losses(ev_ref)))
    assert all(ref_loss[s] == loss for s, loss in zip(steps(ev), losses(ev), strict=True))
    keep = lambda d: {k: v for k, v in d.items() if k not in ("resumes", "resumed_from_step")}  # noqa: E731
    assert keep(ev[-1]["metrics"]) == keep(ev_ref[-1]["metrics"])
    a, b = weights(ref), weights(m)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_two_rank_checkpoint_resumes_in_one_process(tmp_path, data):
    ref = manifest(tmp_path, data, "ref1", microBatchSize=8)
    code, ev_ref = run_inproc(tmp_path, ref, "ref1.json")
    assert code == 0, ev_ref
    m = manifest(tmp_path, data, "w2", checkpointEverySteps=4, microBatchSize=4)
    path = write_manifest(tmp_path / "w2.json", m)
    run_and_kill_a_rank(path, lambda ev: any(e["event"] == "checkpoint" for e in ev))
    assert (local(m["checkpointPrefix"]) / "step-000004" / ".metadata").is_file()  # a sharded DCP checkpoint
    m1 = dict(m, hyper={**m["hyper"], "microBatchSize": 8})  # the micro-batch is no part of the job's identity
    code, ev = run_inproc(tmp_path, m1, "w1.json")
    assert code == 0, ev
    assert [e["step"] for e in ev if e["event"] == "resumed"] == [4]
    assert ev[-1]["metrics"]["world_size"] == 1
    # The data order does not depend on the world size: the resumed steps match one process all along.
    np.testing.assert_allclose(losses(ev), losses(ev_ref)[4:], rtol=1e-5)
    assert_close(weights(m1), weights(ref), 1e-5)


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ranks_die_with_torchrun(tmp_path, data):
    """SIGKILL to torchrun alone (a lost machine's process tree, a cancelled job) leaves no rank running."""
    m = manifest(tmp_path, data, "orphans", maxSteps=100000, epochs=1000)
    path = write_manifest(tmp_path / "orphans.json", m)
    out = tmp_path / "orphans.out"
    with open(out, "w") as f:
        p = subprocess.Popen(
            TORCHRUN + [str(path)], cwd=TRAINER_DIR, env=subprocess_env(), stdout=f, stderr=subprocess.DEVNULL
        )
    try:
        deadline = time.monotonic() + 240
        while '"progress"' not in out.read_text():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.1)
        ranks = ranks_of(p.pid)
        assert len(ranks) == 2
        p.send_signal(signal.SIGKILL)
        p.wait()
        deadline = time.monotonic() + 30
        while any(running(r) for r in ranks):
            assert time.monotonic() < deadline, "a rank outlived torchrun"
            time.sleep(0.1)
    finally:
        p.kill()
        p.wait()
    assert json.loads(out.read_text().splitlines()[0])["event"] in ("progress", "resumed")
