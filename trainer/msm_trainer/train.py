"""midtrain / aft: the training loop with exact resume from atomic checkpoints, on one process or on the
ranks torchrun starts (FSDP2, see distributed.py).

One optimizer step takes `batchSize` rows of the data order, whatever the world size: the rows are split
into equal contiguous shares per rank, each share runs as micro-batches of `microBatchSize` rows with
gradients accumulated, and every micro-batch's loss is divided by the number of target tokens of the whole
step. So 1 process × 8 rows, 2 × 4 and 8 micro-batches of 1 make the same update (to fp32 rounding).
"""

import json
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import attempts, checkpoint, curves, distributed, mirror, storage
from .data import PackedData, epoch_order, load_packed, subset_rows
from .distributed import World
from .errors import BadInput, present
from .events import Emitter
from .loss import LossModel
from .manifest import Manifest
from .mixing import MixedData, with_mix
from .models import enable_gradient_checkpointing, make_train_model, save_output
from .schedule import Schedule

log = logging.getLogger("msm_trainer")


@dataclass
class TrainState:
    """Everything besides tensors that a resumed run needs to continue bit-for-bit."""

    step: int = 0
    epoch: int = 0
    index: int = 0  # position in this epoch's data order
    loss_sum: float = 0.0
    first_loss: float | None = None
    last_loss: float | None = None
    tokens: int = 0
    target_tokens: int = 0
    # Steps this run resumed from, one per preemption survived; saved in every later checkpoint, so the
    # count is right whichever attempt finishes the run.
    resumed_from: list[int] = field(default_factory=list)
    # Every step's loss, in the checkpoints too, so the curve in the output survives preemptions.
    losses: list[float] = field(default_factory=list)
    # The other per-step scalars of the TensorBoard / W&B curves (curves.KEYS), so a resume replays them.
    # Rank 0 only (it keeps the curves); curves["lr"], the learning rate every step trained with, is also
    # the output's step_learning_rates (see step_lrs).
    curves: dict[str, list[float | None]] = field(default_factory=dict)

    def step_lrs(self) -> list[float | None]:
        """The learning rate of every optimizer step so far (rank 0; None where a checkpoint of an older
        trainer did not record it)."""
        return list(self.curves.get("lr", []))


def batch_loss(model, ids: torch.Tensor, attn: torch.Tensor, target: torch.Tensor, device: torch.device):
    """Mean next-token cross-entropy over positions whose *target* token has target mask 1 (chunked, see
    loss.py). Returns (loss, number of target tokens)."""
    del device
    n = int(target[:, 1:].sum())
    # A batch with no targets (e.g. an answer cut off by seqLen) has zero loss, not NaN.
    return LossModel(model)(ids, attn, target) / max(n, 1), n


def train(m: Manifest, em: Emitter) -> None:
    world, device = distributed.start(m.device)
    try:
        _train(m, em, world, device)  # (cli.py gives ranks other than 0 an emitter that writes nowhere)
        distributed.finish(world)
    finally:
        distributed.stop(world)


def _first_main(world: World, fn):
    """Run fn on rank 0 first, then on the others (downloads into the shared cache happen once)."""
    if world.main:
        out = fn()
    distributed.barrier(world)
    if not world.main:
        out = fn()
    return out


def _already_done(out: mirror.OutputPlace, em: Emitter, world: World, device) -> bool:
    done = mirror.emit_existing_done(out, em) if world.main else False
    return distributed.sum_all(world, [1.0 if done else 0.0], device)[0] > 0


def _load_data(m: Manifest, world: World):
    def load():
        data = load_packed(present(m.dataUri, "dataUri"))
        rows = subset_rows(data.n, m.fraction, m.subset_seed())
        aft_examples = len(rows)
        if m.mixDataUri:
            data, rows = with_mix(
                data, rows, load_packed(m.mixDataUri), m.mixRatio, f"mixDataUri {m.mixDataUri}", m.subset_seed()
            )
        return data, rows, aft_examples

    return _first_main(world, load)


def _micro_batches(n_rows: int, world: World, micro: int) -> list[slice]:
    """This rank's micro-batches of one step's n_rows rows, as slices of them. Every rank runs the same
    number (FSDP's collectives need all of them), so a rank whose share ran out gets empty ones."""
    per_rank = -(-n_rows // world.size)
    start, end = world.rank * per_rank, min((world.rank + 1) * per_rank, n_rows)
    return [slice(min(start + k * micro, end), min(start + (k + 1) * micro, end)) for k in range(-(-per_rank // micro))]


# Trimmed widths are rounded up to this many columns: a few shapes, not one per batch (torch.compile, allocators).
TRIM_MULTIPLE = 64


def trim_padding(ids: np.ndarray, attn: np.ndarray, target: np.ndarray, multiple: int = TRIM_MULTIPLE):
    """A micro-batch without the padding columns after its longest row (rounded up to `multiple`). Exact: rows are
    right-padded, attention is causal, so no kept position attends to a dropped one, and dropped positions are
    never targets. AFT rows of ~500 tokens in 4,096-token rows spend most of their compute on such columns."""
    filled = np.flatnonzero(attn.any(axis=0))
    width = int(filled[-1]) + 1 if len(filled) else 1
    width = min(attn.shape[1], -(-width // multiple) * multiple)
    return ids[:, :width], attn[:, :width], target[:, :width]


def _grad_norm(params, world: World, device) -> float:
    """The L2 norm of the whole gradient: FSDP2 shards are disjoint, so their squared sums add up."""
    grads = [p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad for p in params if p.grad is not None]
    local = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0  # one fused kernel per dtype/device
    return math.sqrt(distributed.sum_all(world, [local * local], device)[0])


def _train_step(lm, opt, sched, data: PackedData | MixedData, picked: np.ndarray, h, world: World, device):
    """One optimizer step over `picked`; returns (mean loss over the step's targets, tokens, targets,
    learning rate, gradient norm).
    The step's rows are read once: every rank needs the whole step's target count for the normalisation."""
    ids_all, attn_all, target_all = data.batch(picked)
    n_target = int(target_all[:, 1:].sum())
    scale = world.size / max(n_target, 1)  # FSDP averages gradients over ranks: undo that, then normalise
    local = torch.zeros((), dtype=torch.float64, device=device)
    for part_rows in _micro_batches(len(picked), world, h.microBatchSize):
        arrays = (ids_all[part_rows], attn_all[part_rows], target_all[part_rows])
        if len(arrays[0]) == 0:  # a masked dummy row: zero loss, but this rank joins the collectives
            arrays = (np.zeros_like(ids_all[:1]), np.ones_like(attn_all[:1]), np.zeros_like(target_all[:1]))
        ids, attn, target = (torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in trim_padding(*arrays))
        part = lm(ids, attn, target)
        (part * scale).backward()
        local += part.detach().double()
    lr, grad_norm = opt.param_groups[0]["lr"], _grad_norm(lm.parameters(), world, device)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    total = distributed.sum_all(world, [float(local)], device)[0]
    return total / max(n_target, 1), int(attn_all.sum()), n_target, lr, grad_norm


def _build(m: Manifest, data: PackedData | MixedData, world: World, device):
    torch.manual_seed(m.seed)  # fresh LoRA weights (and dropout) come from the job seed
    random.seed(m.seed)
    np.random.seed(m.seed)
    on_gpu = device.type == "cuda"
    hyper = present(m.hyper, "hyper")
    # Under FSDP on GPUs, weights read from disk stay on the CPU until fully_shard moves each layer's shard.
    load_device = torch.device("cpu") if world.fsdp and on_gpu else device
    model, base_desc = make_train_model(m, data.vocab_size, device, load_device)
    if hyper.gradientCheckpointing:
        n = enable_gradient_checkpointing(model, float(hyper.gradientCheckpointing))
        log.info("gradient checkpointing: %d decoder layer(s) recompute their activations", n)
    model.train()
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lm = LossModel(model)
    compiled = hyper.compile and on_gpu  # CPU runs (tests, the demo) keep the eager reference path
    distributed.shard(lm, world, on_gpu, compile_layers=compiled)
    if compiled:
        lm.compile_loss()
    return model, lm, base_desc, n_trainable


def _train(m: Manifest, em: Emitter, world: World, device: torch.device) -> None:
    out = mirror.output_place(m.outputUri, "outputUri")
    if _already_done(out, em, world, device):
        return
    checkpoints = mirror.output_place(m.checkpointPrefix, "checkpointPrefix")
    prefix = checkpoints.local
    if world.main:
        prefix.mkdir(parents=True, exist_ok=True)
        storage.clean_stale(prefix)
        mirror.sync_newest_checkpoint(checkpoints)
    distributed.require_shared_folder(world, prefix, device)
    h = present(m.hyper, "hyper")
    data, rows, aft_examples = _load_data(m, world)
    model, lm, base_desc, n_trainable = _build(m, data, world, device)
    params = [p for p in lm.parameters() if p.requires_grad]
    steps_per_epoch = math.ceil(len(rows) / h.batchSize)
    total = max(1, math.ceil(h.epochs * steps_per_epoch - 1e-9))
    if h.maxSteps > 0:
        total = min(total, h.maxSteps)
    # Fused AdamW on GPU: one kernel for all parameters instead of a loop of small ones (CPU keeps the reference path).
    opt = torch.optim.AdamW(params, lr=h.lr, weight_decay=h.weightDecay, fused=device.type == "cuda")
    sched = Schedule(opt, h.warmupRatio, total)  # warm-up from step 1, never learning rate 0 (schedule.py)
    fingerprint = m.training_fingerprint()
    log.info(
        "%s: %d of %d rows, %d steps of %d rows (micro-batches of %d on %d rank(s)), %d trainable params, %s",
        m.kind,
        len(rows),
        data.n,
        total,
        h.batchSize,
        h.microBatchSize,
        world.size,
        n_trainable,
        device,
    )

    st = TrainState()
    newest = storage.newest_complete_checkpoint(prefix)
    if newest is not None:
        step, d = newest
        st = checkpoint.load(d, lm, opt, sched, fingerprint, world, device, TrainState)
        st.resumed_from.append(st.step)
        log.info("resumed from %s", d)
        em.resumed(st.step, storage.join_uri(m.checkpointPrefix, d.name))
    starts = attempts.record_start(checkpoints, st.step) if world.main else []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    log_curves = _curve_log(m, prefix, st) if world.main else None
    try:
        _loop(m, em, world, device, lm, opt, sched, data, rows, total, st, fingerprint, checkpoints, log_curves)
    finally:
        if log_curves is not None:
            log_curves.close()

    metrics = {
        "final_loss": st.last_loss,
        "first_loss": st.first_loss,
        "mean_loss": st.loss_sum / max(st.step, 1),
        "steps": st.step,
        "tokens": st.tokens,
        "target_tokens": st.target_tokens,
        "examples": int(len(rows)),
        "epochs": st.step / steps_per_epoch,
        "trainable_params": n_trainable,
        "world_size": world.size,
        "micro_batch_size": h.microBatchSize,
        # Every restart, also those cut short before a checkpoint (an older log-less prefix: the checkpoint's).
        "resumes": max(len(starts) - 1, len(st.resumed_from)),
    }
    peak = distributed.peak_memory_bytes(device)
    if peak is not None:
        metrics["peak_memory_bytes"] = peak
    if m.kind == "aft":
        metrics["aft_examples"] = int(aft_examples)  # without the mix rows
    if m.mixDataUri:
        metrics["mix_examples"] = int(len(rows) - aft_examples)  # "examples" counts both
    lrs = st.step_lrs()
    metrics.update(_lr_metrics(sched.warmup_steps, lrs))
    if metrics["resumes"]:
        metrics["resumed_from_step"] = starts[-1] if starts else st.resumed_from[-1]
    _write_output(m, out, model, lm, base_desc, metrics, world, st.losses, lrs, prefix / curves.FOLDER)
    em.done(m.outputUri, metrics)


def _loop(
    m: Manifest,
    em: Emitter,
    world: World,
    device,
    lm,
    opt,
    sched,
    data: PackedData | MixedData,
    rows,
    total: int,
    st: TrainState,
    fingerprint,
    checkpoints: mirror.OutputPlace,
    log_curves,
) -> None:
    """Train from st.step to `total`, checkpointing as the job asks; st is updated in place."""
    h, prefix = present(m.hyper, "hyper"), checkpoints.local
    order_epoch, order = -1, rows
    last_checkpoint = time.monotonic()
    while st.step < total:
        if st.index >= len(rows):
            st.epoch, st.index = st.epoch + 1, 0
        if order_epoch != st.epoch:
            order_epoch, order = st.epoch, epoch_order(rows, m.seed, st.epoch)
        picked = order[st.index : st.index + h.batchSize]
        t0 = time.perf_counter()
        lv, n_tok, n_target, lr, grad_norm = _train_step(lm, opt, sched, data, picked, h, world, device)
        st.step += 1
        st.index += len(picked)
        st.loss_sum += lv
        st.first_loss = lv if st.first_loss is None else st.first_loss
        st.last_loss = lv
        st.losses.append(lv)
        st.tokens += n_tok
        st.target_tokens += n_target
        tokens_per_sec = n_tok / max(time.perf_counter() - t0, 1e-9)
        em.progress(st.step, total, lv, tokens_per_sec, peakMemoryBytes=distributed.peak_memory_bytes(device))
        if log_curves is not None:
            log_curves.step(st.step, lv, lr, tokens_per_sec, grad_norm)
        if not math.isfinite(lv):
            # Retrying would diverge the same way: the hyper-parameters need changing.
            raise BadInput(f"loss became {lv} at step {st.step}; lower hyper.lr or check the data")
        # Every N steps, and/or every N minutes of wall time: on a slow or preemptible machine the clock
        # bounds the work a preemption can cost whatever the step time is.
        by_steps = h.checkpointEverySteps and st.step % h.checkpointEverySteps == 0
        if (by_steps or _clock_says_checkpoint(h, last_checkpoint, world, device)) and st.step < total:
            last_checkpoint = time.monotonic()
            d = prefix / storage.step_dir_name(st.step)
            checkpoint.save(d, lm, opt, sched, st, fingerprint, world, device)
            if log_curves is not None:
                log_curves.flush()
                mirror.publish_tree(prefix / curves.FOLDER, checkpoints, curves.FOLDER)
            if world.main:
                mirror.publish_checkpoint(checkpoints, d)
                storage.prune_checkpoints(prefix, keep=2)
                mirror.prune_remote_checkpoints(checkpoints, keep=2)
                em.checkpoint(st.step, storage.join_uri(m.checkpointPrefix, d.name))


def _lr_metrics(warmup: int, lrs: list[float | None]) -> dict[str, float | int]:
    """Scalars of the learning rates the steps trained with (the list itself is in loss_curve.json: metrics
    cross Temporal and are numbers only)."""
    known = [lr for lr in lrs if lr is not None]
    out: dict[str, float | int] = {"warmup_steps": warmup, "zero_lr_steps": sum(1 for lr in known if lr == 0)}
    if known:  # (always on rank 0, which writes the output)
        out.update(lr_first=known[0], lr_max=max(known), lr_last=known[-1])
    return out


def _curve_log(m: Manifest, prefix: Path, st: TrainState) -> "curves.CurveLog":
    """Rank 0's TensorBoard (and W&B) curves, with the steps of the checkpoint it resumed from replayed."""
    config = {"kind": m.kind, "seed": m.seed, "fraction": m.fraction, "hyper": m.hyper.__dict__}
    return curves.CurveLog(prefix / curves.FOLDER, st.losses, st.curves, m.wandb, m.jobId, config)


def _clock_says_checkpoint(h, last_checkpoint: float, world: World, device) -> bool:
    """checkpointEveryMinutes has passed, on any rank's clock (all ranks must agree to save together)."""
    if not h.checkpointEveryMinutes:
        return False
    due = time.monotonic() - last_checkpoint >= 60 * h.checkpointEveryMinutes
    return distributed.sum_all(world, [1.0 if due else 0.0], device)[0] > 0


def _write_output(
    m: Manifest,
    out: mirror.OutputPlace,
    model,
    lm,
    base_desc,
    metrics,
    world: World,
    losses: list[float],
    lrs: list[float | None],
    tb_folder: Path,
) -> None:
    """A consolidated Hugging Face / PEFT folder, written by rank 0 (every rank takes part in the gather),
    with metrics.json, loss_curve.json (the loss and the learning rate of every step, for the report's
    curves) and the run's TensorBoard events in tensorboard/."""
    method = present(m.hyper, "hyper").method
    full = method == "full"
    state = checkpoint.strip_prefix(checkpoint.full_trainable_state(lm, full), "lm.")
    if world.main:

        def fill(tmp: Path) -> None:
            save_output(model, tmp, method, base_desc, m.initFromUri, state)
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
            curve = {"step_losses": losses, "step_learning_rates": lrs}
            (tmp / "loss_curve.json").write_text(json.dumps(curve) + "\n", encoding="utf-8")
            shutil.copytree(tb_folder, tmp / curves.FOLDER)

        storage.write_dir_atomic(out.local, fill)
        if out.remote is not None:
            mirror.publish_dir(out.local, out.remote)
    distributed.barrier(world)
