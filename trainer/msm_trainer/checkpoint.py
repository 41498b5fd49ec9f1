"""Sharded training checkpoints (torch.distributed.checkpoint) and the consolidated final output.

A checkpoint folder `step-N/` holds the DCP files of the trainable weights and the optimizer (one file per
rank plus `.metadata`), `scheduler.pt`, `state.json` (data position, losses, the job fingerprint, rank 0's
Python/NumPy RNG) and `rng-<rank>.pt` per rank (torch CPU/CUDA generators). Every rank writes into one
temp folder on the node's disk; rank 0 renames it into place and writes COMPLETE last (storage.py).

DCP re-shards on load, so a checkpoint written by W ranks resumes on W' ranks, or in one process. The data
order does not depend on the world size (each optimizer step takes the same `batchSize` rows, split across
ranks), so only per-rank RNG streams differ after such a resume: dropout noise (LoRA dropout is 0 by default).
"""

import json
import random
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from . import distributed, storage
from .distributed import World
from .errors import BadInput

# LoRA: the frozen base is not part of a checkpoint (it is rebuilt from the job's base model).
_OPTIONS = StateDictOptions(ignore_frozen_params=True)
# Loading those back leaves the frozen weights as they are (dcp.load already fails on a missing trainable key).
_LOAD_OPTIONS = StateDictOptions(ignore_frozen_params=True, strict=False)


def _rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    t = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        t["cuda"] = torch.cuda.get_rng_state(device)
    return t


def _plain_rng() -> dict[str, Any]:
    n = np.random.get_state(legacy=True)
    # The legacy tuple, as the global generator is numpy's default MT19937 (only another bit generator gives a dict).
    assert isinstance(n, tuple)
    p = random.getstate()
    return {"numpy": [n[0], n[1].tolist(), int(n[2]), int(n[3]), float(n[4])], "python": [p[0], list(p[1]), p[2]]}


def _restore_plain_rng(plain: dict[str, Any]) -> None:
    n = plain["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = plain["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def _tmp_dir(final: Path) -> Path:
    # One name for all ranks (they share the node's disk); a leftover of a killed attempt is cleared first.
    return final.parent / f".tmp-{final.name}"


def save(final: Path, model, opt, sched, state, fingerprint: dict[str, Any], world: World, device) -> None:
    tmp = _tmp_dir(final)
    if world.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    distributed.barrier(world)
    msd, osd = get_state_dict(model, opt, options=_OPTIONS)
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(tmp))
    torch.save(_rng_tensors(device), tmp / f"rng-{world.rank}.pt")
    if world.main:
        torch.save(sched.state_dict(), tmp / "scheduler.pt")
        meta = {"state": asdict(state), "rng": _plain_rng(), "job": fingerprint, "worldSize": world.size}
        (tmp / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    distributed.barrier(world)
    if world.main:
        storage.commit_dir_atomic(tmp, final)
    distributed.barrier(world)


def load(d: Path, model, opt, sched, fingerprint: dict[str, Any], world: World, device, state_cls):
    meta = json.loads((d / "state.json").read_text(encoding="utf-8"))
    if meta["job"] != fingerprint:
        diff = sorted(k for k in set(fingerprint) | set(meta["job"]) if meta["job"].get(k) != fingerprint.get(k))
        raise BadInput(
            f"checkpoint {d} was written by a job with different {', '.join(diff)}; "
            "use a fresh checkpointPrefix for a changed job (or delete the old checkpoints)"
        )
    if not (d / ".metadata").is_file():
        raise BadInput(
            f"checkpoint {d} is not a sharded (DCP) checkpoint of this trainer; "
            "use a fresh checkpointPrefix (or delete the old checkpoints)"
        )
    msd, osd = get_state_dict(model, opt, options=_OPTIONS)
    sd: dict[str, Any] = {"model": msd, "optim": osd}
    dcp.load(sd, checkpoint_id=str(d))
    set_state_dict(model, opt, model_state_dict=sd["model"], optim_state_dict=sd["optim"], options=_LOAD_OPTIONS)
    sched.load_state_dict(torch.load(d / "scheduler.pt", weights_only=True))
    rng = d / f"rng-{world.rank}.pt"
    if rng.is_file():  # a rank the writing world did not have keeps its seeded stream
        t = torch.load(rng, weights_only=True)
        torch.set_rng_state(t["torch"])
        if device.type == "cuda" and "cuda" in t:
            torch.cuda.set_rng_state(t["cuda"], device)
    if world.main or meta.get("worldSize", 1) == 1:
        _restore_plain_rng(meta["rng"])
    return state_cls(**meta["state"])


def full_trainable_state(model, full: bool) -> dict[str, torch.Tensor]:
    """The consolidated weights on rank 0 (CPU tensors; other ranks get {}): all of them for full
    fine-tuning, the adapter alone for LoRA. Every rank must call it (it gathers)."""
    opts = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=not full)
    # Tensors only: a model's state (its parameters and buffers), whatever else a state dict may hold.
    return cast(dict[str, torch.Tensor], get_model_state_dict(model, options=opts))


def strip_prefix(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in sd.items()}
