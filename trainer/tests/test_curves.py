"""Training curves outside the report: TensorBoard event files next to the checkpoints and in the output
(exactly one event per step after a SIGKILL and resume), and Weights & Biases in offline mode."""

import json
import struct
import sys

import pytest
from conftest import (
    hyper,
    local,
    pattern_tokens,
    run_inproc,
    run_subprocess,
    run_until,
    train_manifest,
    write_manifest,
    write_packed,
)

from msm_trainer import curves, wandb_log

# 32 rows / batch 4 = 8 steps per epoch; 20 steps with a checkpoint every 5.
H = hyper(epochs=3, maxSteps=20, checkpointEverySteps=5)


def _event_files(folder):
    return sorted(p for p in folder.iterdir() if p.name.startswith("events.out.tfevents"))


@pytest.mark.slow
def test_tensorboard_events_have_each_step_once_after_sigkill_and_resume(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(32, 32))
    m = train_manifest(tmp_path, data, name="tb", hyper=H)
    path = write_manifest(tmp_path / "tb.json", m)
    # Killed at step 13: the checkpoint is step 10, so steps 11-13 run twice.
    first = run_until(path, lambda ev: ev["event"] == "progress" and ev["step"] == 13)
    assert [e["step"] for e in first if e["event"] == "checkpoint"] == [5, 10]
    live = local(m["checkpointPrefix"]) / curves.FOLDER
    assert _event_files(live), "the killed attempt wrote no event file next to its checkpoints"

    code, second, err = run_subprocess(path)
    assert code == 0, err
    assert [e["step"] for e in second if e["event"] == "resumed"] == [10]
    out = local(m["outputUri"])
    assert len(_event_files(out / curves.FOLDER)) == 1  # the resumed attempt's file replaced the killed one's
    scalars = curves.read_scalars(out / curves.FOLDER)
    losses = json.loads((out / "loss_curve.json").read_text())["step_losses"]
    assert len(losses) == 20
    for tag in ("train/loss", "train/lr", "train/tokens_per_sec", "train/grad_norm"):
        assert [s for s, _ in scalars[tag]] == list(range(1, 21)), tag
    # TensorBoard keeps float32: the same losses as loss_curve.json (and the progress events) to that precision.
    assert all(abs(v - losses[s - 1]) <= 1e-6 * max(1.0, abs(v)) for s, v in scalars["train/loss"])
    progress = {e["step"]: e["loss"] for e in first + second if e["event"] == "progress"}
    assert all(abs(progress[s] - losses[s - 1]) < 1e-6 for s in progress)
    lr = [v for _, v in scalars["train/lr"]]
    # The optimizer's own rate per step: 2 warm-up steps that start above 0, the peak, the cosine decay.
    assert (
        lr[:3] == pytest.approx([1e-2 / 3, 2e-2 / 3, 1e-2], rel=1e-6)
        and lr[3:] == sorted(lr[3:], reverse=True)
        and lr[-1] < 1e-3
    )
    assert all(v > 0 for _, v in scalars["train/grad_norm"] + scalars["train/tokens_per_sec"])


@pytest.mark.slow
def test_wandb_offline_run_logs_every_step(tmp_path, monkeypatch):
    wandb_dir = tmp_path / "wandb-dir"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_SILENT", "true")
    data = write_packed(tmp_path / "data", pattern_tokens(16, 32))
    m = train_manifest(
        tmp_path,
        data,
        name="wb",
        hyper=hyper(maxSteps=4),
        logging={"wandb": {"project": "msm-test", "mode": "offline"}},
    )
    code, ev, err = run_subprocess(write_manifest(tmp_path / "wb.json", m))
    assert code == 0, err
    runs = list(wandb_dir.glob(f"wandb/offline-run-*-{wandb_log.run_id(m['jobId'])}"))
    assert len(runs) == 1, list(wandb_dir.rglob("*"))
    history = _wandb_history(next(runs[0].glob("*.wandb")))
    losses = json.loads((local(m["outputUri"]) / "loss_curve.json").read_text())["step_losses"]
    assert sorted(history) == [1, 2, 3, 4]
    assert [history[s]["train/loss"] for s in (1, 2, 3, 4)] == pytest.approx(losses, rel=1e-9)
    assert all("train/lr" in history[s] and "train/grad_norm" in history[s] for s in history)


def _wandb_records(data: bytes):
    """The records of a .wandb file: a 7-byte header (":W&B", magic, version), then LevelDB-log blocks of 32 KiB,
    each record a 7-byte header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last) and its bytes. wandb
    0.31 has no Python reader of its own any more (its Go core writes these files)."""
    assert data[:4] == b":W&B", data[:8]
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if kind == 0:  # a block's zero-padded tail
            pos += left
            continue
        buf += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            yield buf
            buf = b""


def _wandb_history(path):
    """{step: {key: value}} of the history records in a .wandb file."""
    from wandb.proto import wandb_internal_pb2

    out = {}
    for raw in _wandb_records(path.read_bytes()):
        # wandb picks its generated module by the protobuf version at import: mypy cannot follow it.
        rec = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") == "history":
            items = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item}
            out[int(items["_step"])] = items
    return out


def test_wandb_missing_is_bad_input_naming_the_install(tmp_path, monkeypatch):
    real = wandb_log.importlib.util.find_spec
    monkeypatch.setattr(
        wandb_log.importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    data = write_packed(tmp_path / "data", pattern_tokens(8, 32))
    m = train_manifest(tmp_path, data, logging={"wandb": {"project": "p"}})
    code, ev = run_inproc(tmp_path, m)
    assert code == 2 and ev[-1]["event"] == "error" and not ev[-1]["retryable"]
    assert "pip install wandb" in ev[-1]["message"] and "logging.wandb" in ev[-1]["message"]


@pytest.mark.parametrize(
    "logging_block, says",
    [
        ({"wandb": {}}, "logging.wandb.project is missing"),
        ({"wandb": {"project": "p", "mode": "loud"}}, "logging.wandb.mode is 'loud'"),
        ({"tensorboard": True}, "logging has unknown fields ['tensorboard']: use wandb"),
    ],
)
def test_bad_logging_block_is_bad_input(tmp_path, logging_block, says):
    data = write_packed(tmp_path / "data", pattern_tokens(8, 32))
    code, ev = run_inproc(tmp_path, train_manifest(tmp_path, data, logging=logging_block))
    assert code == 2 and says in ev[-1]["message"], ev


def test_a_host_without_tensorboard_trains_and_says_why_there_are_no_events(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as on a host without it
    data = write_packed(tmp_path / "data", pattern_tokens(8, 32))
    m = train_manifest(tmp_path, data, hyper=hyper(maxSteps=2))
    code, ev = run_inproc(tmp_path, m)
    assert code == 0 and ev[-1]["event"] == "done", ev
    assert not _event_files(local(m["outputUri"]) / curves.FOLDER)
    assert "pip install -r trainer/requirements.txt" in caplog.text
