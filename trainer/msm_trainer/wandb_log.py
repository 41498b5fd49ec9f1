"""Weights & Biases, only for jobs whose manifest sets logging.wandb; the package is imported only then, and a
machine without it refuses such a job as bad input. WANDB_MODE and WANDB_DIR in the environment win over the
manifest (the tests run offline that way); the API key comes from the environment (WANDB_API_KEY), never the
manifest."""

import hashlib
import importlib.util
import os
import re
from pathlib import Path
from typing import Any, cast

from .errors import BadInput

MODES = ("online", "offline", "disabled")


def require_installed() -> None:
    """Checked while the manifest is validated: a missing package is bad input, reported before any work."""
    if importlib.util.find_spec("wandb") is None:
        raise BadInput(
            "manifest field logging.wandb is set but the wandb package is not installed here: "
            "pip install wandb in the trainer's Python environment, or remove logging.wandb"
        )


def run_id(job_id: str) -> str:
    """A stable W&B run id per job, so every attempt of a preempted job appends to the same run."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "-", job_id)
    return clean if len(clean) <= 64 else f"{clean[:47]}-{hashlib.sha256(job_id.encode()).hexdigest()[:16]}"


class WandbRun:
    def __init__(self, run):
        self.run = run

    def log(self, step: int, values: dict[str, float]) -> None:
        # W&B drops steps below the run's current one: after a resume the re-run steps (identical values,
        # the resume is exact) are not logged twice.
        self.run.log(values, step=step)

    def finish(self) -> None:
        self.run.finish()


def start(cfg: dict[str, Any], job_id: str, config: dict[str, Any], default_dir: Path) -> WandbRun | None:
    import wandb  # lazily: only jobs that ask for W&B need it

    folder = Path(os.environ.get("WANDB_DIR") or default_dir)
    folder.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=cfg["project"],
        entity=cfg.get("entity"),
        # The manifest's mode is one of MODES; WANDB_MODE is the user's own, which wandb checks itself.
        mode=cast(Any, os.environ.get("WANDB_MODE") or cfg.get("mode")),
        id=run_id(job_id),
        name=job_id,
        resume="allow",
        dir=str(folder),
        config=config,
    )
    return WandbRun(run)
