"""The job's world: one process, or one of WORLD_SIZE ranks started by torchrun, and FSDP2 sharding.

Under torchrun (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT in the environment) every rank joins the
process group: NCCL on GPUs, gloo on CPU. A single process on a GPU joins a group of one (a file store, no
port) so GPU training always runs through FSDP2: bf16 compute with fp32 gradient reduction, and
parameters, gradients and optimizer states sharded across the ranks. A single CPU process (tests, the demo)
uses no process group and no FSDP.
"""

import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from .errors import BadInput

log = logging.getLogger("msm_trainer")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    fsdp: bool = False  # a process group exists and the model is sharded with FSDP2
    # torchrun's key-value store (TCP, outside gloo/NCCL): what `finish` synchronises the ranks' exits through.
    store: "dist.Store | None" = field(default=None, compare=False)

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def start(device_name: str) -> "tuple[World, torch.device]":
    """Join the job's process group when there is one to join (or a GPU to shard on); pick this rank's device."""
    gpu = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if not launched_by_torchrun():
        if not gpu:
            return World(), torch.device("cpu")
        if not torch.cuda.is_available():
            raise BadInput("manifest field device is 'cuda' but no CUDA device is visible here; use 'auto' or 'cpu'")
        store = dist.FileStore(tempfile.mktemp(prefix="msm-pg-"), 1)
        torch.cuda.set_device(0)
        dist.init_process_group("nccl", store=store, rank=0, world_size=1)
        return World(fsdp=True), torch.device("cuda", 0)
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = torch.device("cpu")
    if gpu:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if not torch.cuda.is_available() or torch.cuda.device_count() <= local:
            raise BadInput(
                f"rank {rank} needs GPU {local} but {torch.cuda.device_count()} are visible; "
                "start no more processes per node than the machine has GPUs"
            )
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    store, _, _ = next(dist.rendezvous("env://", rank=rank, world_size=size))
    # The group's keys under the prefix init_method="env://" gives them; finish() uses the store beside them.
    group_store = dist.PrefixStore("default_pg", store)
    dist.init_process_group("nccl" if gpu else "gloo", store=group_store, rank=rank, world_size=size)
    return World(rank=rank, size=size, fsdp=True, store=store), device


def stop(world: World) -> None:
    if world.fsdp and dist.is_initialized():
        dist.destroy_process_group()


def finish(world: World) -> None:
    """The end of a job that succeeded. No rank tears its process group down while another still has a
    collective in flight, and none exits while another still tears down: a rank that left first could abort
    its peer inside gloo ("terminate called without an active exception", seen in CI under load even after a
    final gloo barrier, which is itself such a collective). Both waits go through torchrun's store instead."""
    _store_barrier(world, "collectives-done")
    stop(world)
    try:
        _store_barrier(world, "torn-down")
    except RuntimeError as e:  # (DistError too) the work is stored: a peer gone early costs nothing here
        log.warning("ranks did not all confirm their shutdown: %s", e)


def _store_barrier(world: World, name: str) -> None:
    if world.store is None or world.size == 1:
        return
    # Keys are per torchrun attempt: an elastic restart keeps the store and must not see the last one's keys.
    key = f"msm/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/{name}"
    world.store.set(f"{key}/{world.rank}", "1")
    world.store.wait([f"{key}/{r}" for r in range(world.size)])


def barrier(world: World) -> None:
    if world.fsdp:
        dist.barrier()


def sum_all(world: World, values: Iterable[float], device: torch.device) -> "list[float]":
    """Element-wise sum over ranks (float64 on the wire)."""
    vals = list(values)
    if not world.fsdp:
        return vals
    t = torch.tensor(vals, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def spans_hosts() -> bool:
    """Whether the job's ranks run on more than one host (torchrun sets LOCAL_WORLD_SIZE per host)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("LOCAL_WORLD_SIZE", str(size))) < size


def require_shared_folder(world: World, folder: Path, device: torch.device) -> None:
    """Several hosts write one sharded checkpoint into `folder` and each resumes from all of it, so every
    rank must see the same folder: rank 0 leaves a token there and every rank reads it back."""
    if not world.fsdp or not spans_hosts():
        return
    marker = folder / ".shared-by-ranks"
    token = [f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"]
    if world.main:
        marker.write_text(token[0])
    dist.broadcast_object_list(token, src=0)
    try:
        seen = marker.read_text() == token[0]
    except OSError:
        seen = False
    blind = sum_all(world, [0.0 if seen else 1.0], device)[0]
    if blind:
        raise BadInput(
            f"{int(blind)} of {world.size} ranks cannot see the checkpoint folder {folder} that rank 0 wrote: "
            "a job over several hosts needs its run folder on a file system every host shares "
            "(NFS or similar), or a single host"
        )


def decoder_layers(model: nn.Module) -> "list[nn.Module]":
    """The transformer blocks: the units FSDP gathers one at a time (and compiles one at a time)."""
    return [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]


def shard(model: nn.Module, world: World, on_gpu: bool, compile_layers: bool = False) -> nn.Module:
    """FSDP2: each decoder layer its own group, the rest (embeddings, final norm, output layer) the root."""
    if compile_layers:
        for layer in decoder_layers(model):
            layer.compile()
    if not world.fsdp:
        return model
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    # GPU: compute in bf16, reduce gradients in fp32; CPU (gloo, tests): fp32 throughout.
    mp = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if on_gpu
        else MixedPrecisionPolicy()
    )
    layers = decoder_layers(model)
    for i, layer in enumerate(layers):
        # The last layer stays gathered after forward: backward needs it at once.
        fully_shard(layer, mp_policy=mp, reshard_after_forward=i < len(layers) - 1)
    fully_shard(model, mp_policy=mp)
    return model


def peak_memory_bytes(device: torch.device) -> int | None:
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
