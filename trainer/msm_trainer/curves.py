"""Training curves for people watching a run: TensorBoard event files (always) and Weights & Biases (when
the manifest's logging.wandb asks for it). Rank 0 only; the loss curve of the report is loss_curve.json.

Resume without duplicated steps: the checkpoint's TrainState holds every step's scalars (losses and
`curves`), so each attempt clears `<checkpointPrefix>/tensorboard/`, replays steps 1..S of the checkpoint it
resumed from into one fresh event file (with their original wall times) and continues from S+1. Steps a
killed attempt wrote after its last checkpoint are dropped with its file, so any reader (TensorBoard, a raw
TFRecord parser) sees each step once, and a fresh machine after preemption rebuilds the same file from the
checkpoint alone. The folder is copied into the final output (uploaded with it) and, at each checkpoint,
uploaded next to the checkpoints of an s3:// prefix so a running job can be watched.
"""

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from . import wandb_log

log = logging.getLogger("msm_trainer")

FOLDER = "tensorboard"
# TrainState.curves keys (besides losses): one value per step, None where unknown.
KEYS = ("lr", "tokens_per_sec", "grad_norm", "walltime")
TAGS = {
    "loss": "train/loss",
    "lr": "train/lr",
    "tokens_per_sec": "train/tokens_per_sec",
    "grad_norm": "train/grad_norm",
}


def _summary_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        # A host set up before the trainer wrote events: the run itself is unaffected, so it goes on without.
        log.warning(
            "no TensorBoard events for this run: torch.utils.tensorboard needs the tensorboard package "
            "(pip install -r trainer/requirements.txt): %s",
            e,
        )
        return None
    # flush_secs: a live run shows up within half a minute; checkpoints flush too (see flush()).
    return SummaryWriter(log_dir=str(folder), flush_secs=30)


class CurveLog:
    """The per-step scalars of one attempt, written to TensorBoard (and W&B), and kept in the TrainState."""

    def __init__(
        self,
        folder: Path,
        losses: list[float],
        curves: dict[str, list[float | None]],
        wandb_cfg: dict[str, Any] | None = None,
        run_id: str = "",
        config: dict | None = None,
    ):
        self.folder = folder
        self.curves = curves
        for k in KEYS:  # a checkpoint of a trainer before these curves has none: unknown, not shifted
            curves.setdefault(k, []).extend([None] * (len(losses) - len(curves[k])))
        shutil.rmtree(folder, ignore_errors=True)  # replaced by the replay below (see the module doc)
        folder.mkdir(parents=True, exist_ok=True)
        self.writer = _summary_writer(folder)
        for i, loss in enumerate(losses):
            self._write(i + 1, loss, {k: _at(curves[k], i) for k in KEYS})
        self.wandb = wandb_log.start(wandb_cfg, run_id, config or {}, folder.parent) if wandb_cfg else None

    def _write(self, step: int, loss: float, values: dict[str, float | None]) -> None:
        if self.writer is None:
            return
        wall = values.get("walltime")
        for key, v in (("loss", loss), *((k, values.get(k)) for k in KEYS if k != "walltime")):
            if v is not None:
                self.writer.add_scalar(TAGS[key], v, global_step=step, walltime=wall)

    def step(self, step: int, loss: float, lr: float, tokens_per_sec: float, grad_norm: float | None) -> None:
        values = {"lr": lr, "tokens_per_sec": tokens_per_sec, "grad_norm": grad_norm, "walltime": time.time()}
        for k in KEYS:
            self.curves[k].append(values[k])
        self._write(step, loss, values)
        if self.wandb is not None:
            self.wandb.log(
                step, {TAGS[k]: v for k, v in (("loss", loss), *values.items()) if k in TAGS and v is not None}
            )

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def _at(values: list[float | None], i: int) -> float | None:
    # Checkpoints of trainers before these curves hold the losses only.
    return values[i] if i < len(values) else None


def read_scalars(folder: Path) -> dict[str, list[tuple]]:
    """{tag: [(step, value), ...]} of a tensorboard/ folder, as TensorBoard itself reads it (tests, tools)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
