"""midtrain / aft: the training loop with exact resume from atomic checkpoints."""

import contextlib
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import attempts, mirror, storage
from .data import epoch_order, load_packed, subset_rows
from .errors import BadInput
from .events import Emitter
from .manifest import Manifest
from .mixing import with_mix
from .models import (enable_gradient_checkpointing, load_trainable, make_train_model, pick_device, save_output,
                     save_trainable)

log = logging.getLogger("msm_trainer")


@dataclass
class TrainState:
    """Everything besides tensors that a resumed run needs to continue bit-for-bit."""
    step: int = 0
    epoch: int = 0
    index: int = 0  # position in this epoch's data order
    loss_sum: float = 0.0
    first_loss: Optional[float] = None
    last_loss: Optional[float] = None
    tokens: int = 0
    target_tokens: int = 0
    # Steps this run resumed from, one per preemption survived; saved in every later checkpoint, so the
    # count is right whichever attempt finishes the run.
    resumed_from: List[int] = field(default_factory=list)


def _loss_terms(model, ids: torch.Tensor, attn: torch.Tensor, target: torch.Tensor, on_gpu: bool):
    """(mean next-token cross-entropy over positions whose *target* token has target mask 1, target count).
    No host sync inside, so torch.compile can take it whole."""
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else contextlib.nullcontext()
    with amp:
        logits = model(input_ids=ids, attention_mask=attn).logits
    logits = logits.float()
    # Position t predicts token t+1. Shift the targets, not the logits: slicing a (batch, seq, vocab)
    # tensor would copy it, which costs as much as the loss itself with a 128k vocabulary.
    nxt = torch.cat([ids[:, 1:], torch.zeros_like(ids[:, :1])], dim=1)
    w = torch.cat([target[:, 1:], torch.zeros_like(target[:, :1])], dim=1).to(logits.dtype)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), nxt.reshape(-1), reduction="none")
    n = w.sum()
    # A batch with no targets (e.g. an answer cut off by seqLen) contributes zero loss, not NaN.
    return (ce.view_as(w) * w).sum() / n.clamp(min=1), n


def batch_loss(model, ids: torch.Tensor, attn: torch.Tensor, target: torch.Tensor, device: torch.device):
    """Mean next-token cross-entropy over positions whose *target* token has target mask 1.
    Returns (loss, number of target tokens)."""
    loss, n = _loss_terms(model, ids, attn, target, device.type == "cuda")
    return loss, int(n.item())


def _rng_state(device: torch.device):
    tensors = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = s
    np_state = np.random.get_state()
    py_state = random.getstate()
    plain = {
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, plain


def _restore_rng(tensors, plain, device: torch.device) -> None:
    torch.set_rng_state(tensors["torch"])
    if device.type == "cuda":
        cuda = [tensors[k] for k in sorted(tensors) if k.startswith("cuda")]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    n = plain["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = plain["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def _save_checkpoint(d: Path, model, opt, sched, st: TrainState, fingerprint, device) -> None:
    save_trainable(model, d / "model.safetensors")
    torch.save(opt.state_dict(), d / "optimizer.pt")
    torch.save(sched.state_dict(), d / "scheduler.pt")
    tensors, plain = _rng_state(device)
    torch.save(tensors, d / "rng.pt")
    (d / "state.json").write_text(json.dumps({"state": asdict(st), "rng": plain, "job": fingerprint}), encoding="utf-8")


def _load_checkpoint(d: Path, model, opt, sched, fingerprint, device) -> TrainState:
    meta = json.loads((d / "state.json").read_text(encoding="utf-8"))
    if meta["job"] != fingerprint:
        diff = sorted(k for k in set(fingerprint) | set(meta["job"]) if meta["job"].get(k) != fingerprint.get(k))
        raise BadInput(
            f"checkpoint {d} was written by a job with different {', '.join(diff)}; "
            "use a fresh checkpointPrefix for a changed job (or delete the old checkpoints)"
        )
    load_trainable(model, d / "model.safetensors")
    opt.load_state_dict(torch.load(d / "optimizer.pt", map_location=device, weights_only=True))
    sched.load_state_dict(torch.load(d / "scheduler.pt", weights_only=True))
    _restore_rng(torch.load(d / "rng.pt", weights_only=True), meta["rng"], device)
    return TrainState(**meta["state"])


def emit_existing_done(out: mirror.OutputPlace, em: Emitter) -> bool:
    """Idempotent re-run: a complete output is reported as done, never retrained."""
    metrics = mirror.finished_metrics(out)
    if metrics is None:
        return False
    log.info("output %s is already complete", out.uri)
    em.done(out.uri, metrics)
    return True


def train(m: Manifest, em: Emitter) -> None:
    from transformers import get_cosine_schedule_with_warmup

    out = mirror.output_place(m.outputUri, "outputUri")
    if emit_existing_done(out, em):
        return
    checkpoints = mirror.output_place(m.checkpointPrefix, "checkpointPrefix")
    prefix = checkpoints.local
    prefix.mkdir(parents=True, exist_ok=True)
    storage.clean_stale(prefix)
    mirror.sync_newest_checkpoint(checkpoints)

    h = m.hyper
    data = load_packed(m.dataUri)
    rows = subset_rows(data.n, m.fraction)
    aft_examples = len(rows)
    if m.mixDataUri:
        data, rows = with_mix(data, rows, load_packed(m.mixDataUri), m.mixRatio, f"mixDataUri {m.mixDataUri}")
    device = pick_device(m.device)
    torch.manual_seed(m.seed)  # fresh LoRA weights (and dropout) come from the job seed
    random.seed(m.seed)
    np.random.seed(m.seed)
    model, base_desc = make_train_model(m, data.vocab_size, device)
    if h.gradientCheckpointing:
        enable_gradient_checkpointing(model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in params)
    steps_per_epoch = math.ceil(len(rows) / h.batchSize)
    total = max(1, math.ceil(h.epochs * steps_per_epoch - 1e-9))
    if h.maxSteps > 0:
        total = min(total, h.maxSteps)
    # Fused AdamW on GPU: one kernel for all parameters instead of a loop of small ones (CPU keeps the reference path).
    opt = torch.optim.AdamW(params, lr=h.lr, weight_decay=h.weightDecay, fused=device.type == "cuda")
    sched = get_cosine_schedule_with_warmup(opt, math.ceil(h.warmupRatio * total), total)
    fingerprint = m.training_fingerprint()
    log.info("%s: %d of %d rows, %d steps, %d trainable params, device %s", m.kind, len(rows), data.n, total,
             n_trainable, device)

    st = TrainState()
    newest = storage.newest_complete_checkpoint(prefix)
    if newest is not None:
        step, d = newest
        st = _load_checkpoint(d, model, opt, sched, fingerprint, device)
        st.resumed_from.append(st.step)
        log.info("resumed from %s", d)
        em.resumed(st.step, storage.join_uri(m.checkpointPrefix, d.name))

    starts = attempts.record_start(checkpoints, st.step)
    # torch.compile fuses the model's small kernels (norms, rotary, SwiGLU) and the loss: faster steps on a
    # GPU after a minute of compiling. CPU runs (tests, the demo) keep the eager reference path.
    on_gpu = device.type == "cuda"
    loss_terms = torch.compile(_loss_terms) if h.compile and on_gpu else _loss_terms

    order_epoch, order = -1, rows
    last_checkpoint = time.monotonic()
    while st.step < total:
        if st.index >= len(rows):
            st.epoch, st.index = st.epoch + 1, 0
        if order_epoch != st.epoch:
            order_epoch, order = st.epoch, epoch_order(rows, m.seed, st.epoch)
        picked = order[st.index:st.index + h.batchSize]
        t0 = time.perf_counter()
        ids, attn, target = (torch.from_numpy(a).to(device) for a in data.batch(picked))
        loss, n_target_t = loss_terms(model, ids, attn, target, on_gpu)
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        lv = float(loss.item())
        n_tok = int(attn.sum().item())
        n_target = int(n_target_t.item())
        st.step += 1
        st.index += len(picked)
        st.loss_sum += lv
        st.first_loss = lv if st.first_loss is None else st.first_loss
        st.last_loss = lv
        st.tokens += n_tok
        st.target_tokens += n_target
        em.progress(st.step, total, lv, n_tok / max(time.perf_counter() - t0, 1e-9))
        if not math.isfinite(lv):
            # Retrying would diverge the same way: the hyper-parameters need changing.
            raise BadInput(f"loss became {lv} at step {st.step}; lower hyper.lr or check the data")
        # Every N steps, and/or every N minutes of wall time: on a slow or preemptible machine the clock
        # bounds the work a preemption can cost whatever the step time is.
        by_steps = h.checkpointEverySteps and st.step % h.checkpointEverySteps == 0
        by_clock = h.checkpointEveryMinutes and time.monotonic() - last_checkpoint >= 60 * h.checkpointEveryMinutes
        if (by_steps or by_clock) and st.step < total:
            last_checkpoint = time.monotonic()
            d = prefix / storage.step_dir_name(st.step)
            storage.write_dir_atomic(d, lambda tmp: _save_checkpoint(tmp, model, opt, sched, st, fingerprint, device))
            mirror.publish_checkpoint(checkpoints, d)
            storage.prune_checkpoints(prefix, keep=2)
            mirror.prune_remote_checkpoints(checkpoints, keep=2)
            em.checkpoint(st.step, storage.join_uri(m.checkpointPrefix, d.name))

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
        # Every restart, also those cut short before a checkpoint (an older log-less prefix: the checkpoint's).
        "resumes": max(len(starts) - 1, len(st.resumed_from)),
    }
    if m.mixDataUri:
        metrics["mix_examples"] = int(len(rows) - aft_examples)  # "examples" counts both
    if metrics["resumes"]:
        metrics["resumed_from_step"] = starts[-1]

    def fill(tmp: Path) -> None:
        save_output(model, tmp, h.method, base_desc, m.initFromUri)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")

    storage.write_dir_atomic(out.local, fill)
    if out.remote is not None:
        mirror.publish_dir(out.local, out.remote)
    em.done(m.outputUri, metrics)
