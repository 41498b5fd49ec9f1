"""generate: sample answers to chat prompts; resumable per prompt (finished prompts are never redone)."""

import json
import logging
import os
import time
import zlib
from pathlib import Path
from typing import Dict, List

import torch

from . import mirror, storage
from .chat import load_chat_tokenizer
from .errors import BadInput
from .events import Emitter
from .inputs import plain_file
from .manifest import Manifest
from .models import base_dtype, build_base, load_output, model_vocab, pick_device
from .train import emit_existing_done

log = logging.getLogger("msm_trainer")
SAMPLES = "samples.jsonl"


def upload_interval_s() -> float:
    """How often an s3:// output's unfinished samples.jsonl is uploaded: a lost machine loses at most this
    much work. Each upload sends the whole file (one atomic PUT), so not after every prompt by default."""
    return float(os.environ.get("MSM_SAMPLES_UPLOAD_SECONDS", "60"))


def read_prompts(uri: str) -> List[Dict]:
    path = plain_file(uri, "promptsUri")
    prompts, seen = [], set()
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"promptsUri {uri} line {i}"
        try:
            p = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInput(f"{where}: not valid JSON ({e})")
        if not isinstance(p, dict) or not isinstance(p.get("id"), str) or not p["id"]:
            raise BadInput(f'{where}: needs a non-empty string "id"')
        msgs = p.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(
            isinstance(x, dict) and isinstance(x.get("role"), str) and isinstance(x.get("content"), str) for x in msgs
        ):
            raise BadInput(f'{where}: "messages" must be a non-empty list of {{"role": str, "content": str}}')
        if p["id"] in seen:
            raise BadInput(f'{where}: duplicate id {p["id"]!r} (ids key the resume, so they must be unique)')
        seen.add(p["id"])
        prompts.append({"id": p["id"], "messages": [{"role": x["role"], "content": x["content"]} for x in msgs]})
    if not prompts:
        raise BadInput(f"promptsUri {uri} holds no prompts")
    return prompts


def recover_samples(path: Path, per_prompt: int) -> set:
    """Keep only prompts with all their samples written; drop a torn tail from a killed run."""
    if not path.exists():
        return set()
    lines: Dict[str, List[str]] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        try:
            rec = json.loads(line)
            lines.setdefault(rec["promptId"], []).append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # the torn last line (or the empty string after the final newline)
    done = {pid for pid, ls in lines.items() if len(ls) == per_prompt}
    keep = [ln for pid in lines if pid in done for ln in lines[pid]]
    text = "".join(ln + "\n" for ln in keep)
    if text != path.read_text(encoding="utf-8"):
        storage.write_file_atomic(path, text.encode("utf-8"))
    return done


def resume_samples(out: mirror.OutputPlace, per_prompt: int) -> set:
    """Prompts already done: from the local samples or, when it holds more (a fresh machine after preemption,
    or a machine whose scratch is older than another's later attempt), from the uploaded copy."""
    path = out.local / SAMPLES
    done = recover_samples(path, per_prompt)
    theirs = out.local / f".remote-{SAMPLES}"
    if mirror.download_file(out, SAMPLES, theirs):
        their_done = recover_samples(theirs, per_prompt)
        if len(their_done) > len(done):
            os.replace(theirs, path)
            done = their_done
        theirs.unlink(missing_ok=True)
    return done


def prompt_seed(seed: int, prompt_id: str) -> int:
    # Per-prompt seed: a prompt's samples do not depend on which prompts were done before a resume.
    return zlib.crc32(f"{seed}:{prompt_id}".encode()) & 0x7FFFFFFF


def generate(m: Manifest, em: Emitter) -> None:
    from transformers import GenerationConfig

    out = mirror.output_place(m.outputUri, "outputUri")
    if emit_existing_done(out, em):
        return
    prompts = read_prompts(m.promptsUri)
    tok = load_chat_tokenizer(m.tokenizerUri)
    device = pick_device(m.device)
    if m.modelUri:
        model = load_output(m.modelUri, device, base_dtype(device, {}, True))[0]
    else:
        desc = m.baseModel.describe()
        if desc["init"] == "random" and desc["vocabSize"] is None:
            desc["vocabSize"] = tok.vocab_size
        model = build_base(desc, device, base_dtype(device, desc, True))
    model.eval()
    vocab = model_vocab(model)
    stops = [i for i in tok.stop_ids() if i < vocab]
    if not stops:
        raise BadInput(f"tokenizerUri {m.tokenizerUri}: no end-of-turn token the model can emit; use the base model's tokenizer")

    out_dir = out.local
    out_dir.mkdir(parents=True, exist_ok=True)
    samples_path = out_dir / SAMPLES
    done = resume_samples(out, m.samplesPerPrompt)
    if done:
        em.resumed(len(done), storage.join_uri(m.outputUri, SAMPLES))
    greedy = m.temperature == 0
    gen_cfg = GenerationConfig(
        do_sample=not greedy,
        temperature=m.temperature if not greedy else None,
        top_k=None if greedy else 0,
        top_p=None if greedy else 1.0,
        max_new_tokens=m.maxNewTokens,
        num_return_sequences=1 if greedy else m.samplesPerPrompt,
        eos_token_id=stops,
        pad_token_id=stops[0],
    )
    new_tokens = 0
    uploaded_at = time.monotonic()
    with open(samples_path, "a", encoding="utf-8") as f:
        for p in prompts:
            if p["id"] in done:
                continue
            ids = tok.encode(tok.render(p["messages"]))
            if max(ids) >= vocab:
                raise BadInput(f"prompt {p['id']}: token id {max(ids)} is outside the model's vocabulary of {vocab}")
            torch.manual_seed(prompt_seed(m.seed, p["id"]))
            t0 = time.perf_counter()
            x = torch.tensor([ids], device=device)
            with torch.no_grad():
                generated = model.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=gen_cfg)
            texts, n_new = [], 0
            for row in generated[:, len(ids):].tolist():
                cut = next((j for j, t in enumerate(row) if t in stops), len(row))
                n_new += cut
                texts.append(tok.decode(row[:cut]))
            if greedy:
                texts = texts * m.samplesPerPrompt  # greedy decoding gives every sample the same answer
            # A prompt's samples go out in one write + fsync: resume sees all of them or drops them all.
            f.write("".join(json.dumps({"promptId": p["id"], "sample": k, "text": t}) + "\n" for k, t in enumerate(texts)))
            f.flush()
            os.fsync(f.fileno())
            done.add(p["id"])
            new_tokens += n_new
            if out.remote is not None and time.monotonic() - uploaded_at >= upload_interval_s():
                mirror.upload_file(out, SAMPLES)  # progress that survives a machine loss
                uploaded_at = time.monotonic()
            em.progress(len(done), len(prompts), None, n_new / max(time.perf_counter() - t0, 1e-9))

    metrics = {"prompts": len(prompts), "samples": len(prompts) * m.samplesPerPrompt, "new_tokens_this_run": new_tokens}
    storage.write_file_atomic(out_dir / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    storage.write_file_atomic(out_dir / storage.COMPLETE, b"ok\n")
    if out.remote is not None:
        mirror.publish_dir(out_dir, out.remote)
    em.done(m.outputUri, metrics)
