"""generate: sample answers to chat prompts in left-padded batches with a KV cache; resumable per batch
(finished batches are never redone, and a resumed job samples exactly what an uninterrupted one would).

samples.jsonl has one line per sample: {promptId, sample, text, finishReason, promptTokens, completionTokens}.
finishReason is "stop" when the model ended its answer (an end-of-turn token) and "length" when it hit
maxNewTokens; promptTokens counts the rendered prompt (system prompt and chat template included);
completionTokens the tokens the model generated, its end-of-turn token included, so a "length" sample has
exactly maxNewTokens. A job resumed from batches an older trainer finished has no finishReason or
completionTokens for those samples (their lines lack the two fields)."""

import json
import logging
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import mirror, s3, storage
from .chat import ChatTokenizer, load_chat_tokenizer
from .errors import BadInput, present
from .events import Emitter
from .manifest import Manifest
from .models import build_base, external_info, load_described, load_output, model_vocab, pick_device
from .sampling import Decoding, decoding
from .uris import local_input

log = logging.getLogger("msm_trainer")
SAMPLES = "samples.jsonl"
# An unfinished job's finished batches, one JSON line each: {"first": unit index, "units": [[index, text], ...],
# "finish": [[finishReason, completionTokens], ...]} ("finish" in the units' order; absent in older files).
BATCHES = "batches.jsonl"
DEFAULT_BATCH_SIZE = {"cpu": 16, "cuda": 64}


def upload_interval_s() -> float:
    """How often an s3:// output's finished batches are uploaded: a lost machine loses at most this much work.
    Each upload sends the whole file (one atomic PUT), so not after every batch by default."""
    return float(os.environ.get("MSM_SAMPLES_UPLOAD_SECONDS", "60"))


def read_prompts(uri: str) -> list[dict]:
    path = local_input(uri, "promptsUri", "file")
    prompts, seen = [], set()
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"promptsUri {uri} line {i}"
        try:
            p = json.loads(line)
        except json.JSONDecodeError as e:
            raise BadInput(f"{where}: not valid JSON ({e})") from e
        if not isinstance(p, dict) or not isinstance(p.get("id"), str) or not p["id"]:
            raise BadInput(f'{where}: needs a non-empty string "id"')
        msgs = p.get("messages")
        if (
            not isinstance(msgs, list)
            or not msgs
            or not all(
                isinstance(x, dict) and isinstance(x.get("role"), str) and isinstance(x.get("content"), str)
                for x in msgs
            )
        ):
            raise BadInput(f'{where}: "messages" must be a non-empty list of {{"role": str, "content": str}}')
        if p["id"] in seen:
            raise BadInput(f"{where}: duplicate id {p['id']!r} (ids key the resume, so they must be unique)")
        seen.add(p["id"])
        prompts.append({"id": p["id"], "messages": [{"role": x["role"], "content": x["content"]} for x in msgs]})
    if not prompts:
        raise BadInput(f"promptsUri {uri} holds no prompts")
    return prompts


@dataclass(frozen=True)
class Done:
    """A sampled unit: its text and how it ended (None: finished by a trainer that did not record it)."""

    text: str
    finish_reason: str | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Unit:
    """One sequence to sample: sample k of prompt p has index p * samplesPerPrompt + k."""

    index: int
    ids: tuple[int, ...]


def plan_units(encoded: Sequence[Sequence[int]], per_prompt: int, greedy: bool) -> list[Unit]:
    """Every sequence to sample, longest prompt first: batches of similar lengths pad little, and the batch
    most likely to run out of memory runs first. Greedy decoding samples each prompt once (sample 0): every
    sample of it would be that same answer."""
    ks = [0] if greedy else range(per_prompt)
    units = [Unit(p * per_prompt + k, tuple(ids)) for p, ids in enumerate(encoded) for k in ks]
    return sorted(units, key=lambda u: (-len(u.ids), u.index))


def batches_of(units: list[Unit], size: int) -> list[list[Unit]]:
    return [units[i : i + size] for i in range(0, len(units), size)]


def batch_seed(seed: int, first_index: int) -> int:
    # From the batch's first unit, not its position: a resumed job's batches get the seeds they had before.
    return zlib.crc32(f"{seed}:batch:{first_index}".encode()) & 0x7FFFFFFF


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad on the left so every row's next token is the last column; the mask keeps pads out of attention
    (and out of the positions HF derives from it)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return ids.to(device), mask.to(device)


def sample_rows(
    model, rows: Sequence[Sequence[int]], dec: Decoding, stops: Sequence[int], device: torch.device
) -> list[list[int]]:
    """Sample one continuation per row in one batched generate call; each cut before its first stop token."""
    from transformers import LogitsProcessorList

    ids, mask = left_pad(rows, dec.config.pad_token_id, device)
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            generation_config=dec.config,
            logits_processor=LogitsProcessorList(dec.processors),
        )
    stop = set(stops)
    new = []
    for row in out[:, ids.shape[1] :].tolist():
        new.append(row[: next((j for j, t in enumerate(row) if t in stop), len(row))])
    return new


def ended(ids: Sequence[int], max_new_tokens: int) -> tuple[str, int]:
    """finishReason and completionTokens of a row from sample_rows. A row is cut before its first stop token,
    which comes at most at position max_new_tokens - 1 (generate pads a row that finished early with a stop id),
    so a row shorter than max_new_tokens stopped, and one of full length never did. The stop token counts as
    generated."""
    return ("length", len(ids)) if len(ids) >= max_new_tokens else ("stop", len(ids) + 1)


def _batch_units(line: str) -> dict[int, Done]:
    b = json.loads(line)
    units = b["units"]
    finish = b.get("finish")
    if finish is None:  # written by a trainer that did not record how samples ended
        return {int(i): Done(str(t)) for i, t in units}
    if len(finish) != len(units):
        raise ValueError("finish and units differ in length")
    return {int(i): Done(str(t), str(r), int(n)) for (i, t), (r, n) in zip(units, finish)}


def read_batches(path: Path) -> dict[int, Done]:
    """The finished units of a batches file (unit index -> Done). A killed run can leave a torn last line: it
    is dropped and the file rewritten, so later appends start on a line of their own."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    done: dict[int, Done] = {}
    keep = []
    for line in text.split("\n"):
        try:
            done.update(_batch_units(line))
            keep.append(line)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # the torn last line (or the empty string after the final newline)
    clean = "".join(ln + "\n" for ln in keep)
    if clean != text:
        storage.write_file_atomic(path, clean.encode("utf-8"))
    return done


def resume_batches(out: mirror.OutputPlace) -> dict[int, Done]:
    """Finished units: from the local batches file or, when it holds more (a fresh machine after preemption,
    or a machine whose scratch is older than another's later attempt), from the uploaded copy."""
    path = out.local / BATCHES
    done = read_batches(path)
    theirs = out.local / f".remote-{BATCHES}"
    if mirror.download_file(out, BATCHES, theirs):
        their_done = read_batches(theirs)
        if len(their_done) > len(done):
            os.replace(theirs, path)
            done = their_done
        theirs.unlink(missing_ok=True)
    return done


def load_model(m: Manifest, tok: ChatTokenizer, device: torch.device):
    # Sampling needs no fp32 master weights: bf16 on GPU (half the memory, tensor cores), fp32 on CPU.
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if m.modelUri:
        model = load_output(m.modelUri, device, dtype)[0]
    elif m.externalModel:
        # An external arm: a released adapter of this base model, or a whole model, evaluated as given.
        model = load_described(*external_info(m.externalModel, _base_desc(m, tok)), device, dtype)
    else:
        model = build_base(_base_desc(m, tok), device, dtype)
    return model.eval()


def _base_desc(m: Manifest, tok: ChatTokenizer) -> dict:
    """The base model's description; a random one takes its vocabulary from the data's tokenizer."""
    desc = m.baseModel.describe()
    if desc["init"] == "random" and desc["vocabSize"] is None:
        desc["vocabSize"] = tok.vocab_size
    return desc


def with_system_prompt(prompts: list[dict], system: str | None) -> list[dict]:
    """Every prompt with the job's system prompt (an arm's, e.g. the spec): its first message, or, when the
    prompt has a system message of its own (an agentic scenario's), put before that message's text, so the
    model sees one system turn as every chat template expects."""
    if not system:
        return prompts
    out = []
    for p in prompts:
        msgs = p["messages"]
        if msgs[0]["role"] == "system":
            first = {"role": "system", "content": f"{system}\n\n{msgs[0]['content']}"}
            out.append({**p, "messages": [first, *msgs[1:]]})
        else:
            out.append({**p, "messages": [{"role": "system", "content": system}, *msgs]})
    return out


def encode_prompts(prompts: list[dict], tok: ChatTokenizer, vocab: int, thinking: str | None = None) -> list[list[int]]:
    encoded = []
    for p in prompts:
        ids = tok.encode(tok.render(p["messages"], thinking))
        if max(ids) >= vocab:
            raise BadInput(f"prompt {p['id']}: token id {max(ids)} is outside the model's vocabulary of {vocab}")
        encoded.append(ids)
    return encoded


def stop_ids(tok: ChatTokenizer, vocab: int, tokenizer_uri: str) -> list[int]:
    stops = [i for i in tok.stop_ids() if i < vocab]
    if not stops:
        raise BadInput(
            f"tokenizerUri {tokenizer_uri}: no end-of-turn token the model can emit; use the base model's tokenizer"
        )
    return stops


@dataclass
class Job:
    """What the batch loop needs besides the batches themselves."""

    model: object
    tok: ChatTokenizer
    dec: Decoding
    stops: list[int]
    device: torch.device
    seed: int
    weight: int  # samples per unit: samplesPerPrompt when greedy, else 1
    total: int  # samples in the job


def run_batches(
    job: Job, batches: list[list[Unit]], done: dict[int, Done], out: mirror.OutputPlace, em: Emitter
) -> int:
    """Sample the batches in order, each persisted (one write + fsync) before the next; returns new tokens."""
    new_tokens = 0
    uploaded_at = time.monotonic()
    with open(out.local / BATCHES, "a", encoding="utf-8") as f:
        for batch in batches:
            torch.manual_seed(batch_seed(job.seed, batch[0].index))
            t0 = time.perf_counter()
            rows = sample_rows(job.model, [u.ids for u in batch], job.dec, job.stops, job.device)
            texts = [job.tok.decode(r) for r in rows]
            finish = [ended(r, job.dec.config.max_new_tokens) for r in rows]
            line = {
                "first": batch[0].index,
                "units": [[u.index, t] for u, t in zip(batch, texts)],
                "finish": [list(x) for x in finish],
            }
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done.update((u.index, Done(t, r, n)) for u, t, (r, n) in zip(batch, texts, finish))
            n_new = sum(n for _, n in finish)
            new_tokens += n_new
            if out.remote is not None and time.monotonic() - uploaded_at >= upload_interval_s():
                mirror.upload_file(out, BATCHES)  # progress that survives a machine loss
                uploaded_at = time.monotonic()
            em.progress(len(done) * job.weight, job.total, None, n_new / max(time.perf_counter() - t0, 1e-9))
    return new_tokens


def samples_text(
    prompts: list[dict], done: dict[int, Done], per_prompt: int, greedy: bool, prompt_tokens: Sequence[int]
) -> str:
    """samples.jsonl as readers expect it: prompts in file order, samples 0..n-1 of each."""
    lines = []
    for p, prompt in enumerate(prompts):
        for k in range(per_prompt):
            d = done[p * per_prompt + (0 if greedy else k)]
            line = {"promptId": prompt["id"], "sample": k, "text": d.text}
            if d.finish_reason is not None:
                line["finishReason"] = d.finish_reason
            line["promptTokens"] = prompt_tokens[p]
            if d.completion_tokens is not None:
                line["completionTokens"] = d.completion_tokens
            lines.append(json.dumps(line) + "\n")
    return "".join(lines)


def finish(out: mirror.OutputPlace, samples: str, metrics: dict) -> None:
    d = out.local
    storage.write_file_atomic(d / SAMPLES, samples.encode("utf-8"))
    storage.write_file_atomic(d / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    storage.write_file_atomic(d / storage.COMPLETE, b"ok\n")
    # Only after COMPLETE: a kill before it must still find the finished batches.
    (d / BATCHES).unlink(missing_ok=True)
    if out.remote is not None:
        mirror.publish_dir(d, out.remote)
        s3.delete([out.remote.child(BATCHES)])


def generate(m: Manifest, em: Emitter) -> None:
    out = mirror.output_place(m.outputUri, "outputUri")
    if mirror.emit_existing_done(out, em):
        return
    prompts = with_system_prompt(read_prompts(present(m.promptsUri, "promptsUri")), m.systemPrompt)
    tok = load_chat_tokenizer(m.tokenizerUri)
    device = pick_device(m.device)
    model = load_model(m, tok, device)
    vocab = model_vocab(model)
    stops = stop_ids(tok, vocab, m.tokenizerUri)
    greedy = m.temperature == 0
    encoded = encode_prompts(prompts, tok, vocab, m.thinking)
    units = plan_units(encoded, m.samplesPerPrompt, greedy)

    out.local.mkdir(parents=True, exist_ok=True)
    done = resume_batches(out)
    if done:
        em.resumed(len(done) * (m.samplesPerPrompt if greedy else 1), storage.join_uri(m.outputUri, BATCHES))
    batch_size = m.batchSize or DEFAULT_BATCH_SIZE.get(device.type, DEFAULT_BATCH_SIZE["cpu"])
    # Finished batches are a prefix of the plan, so re-chunking the rest gives the uninterrupted run's batches
    # (the same batch size assumed; with another one the rest is still sampled, in other batches).
    batches = batches_of([u for u in units if u.index not in done], batch_size)
    weight = m.samplesPerPrompt if greedy else 1
    dec = decoding(m.temperature, m.maxNewTokens, stops)
    job = Job(model, tok, dec, stops, device, m.seed, weight, len(prompts) * m.samplesPerPrompt)
    new_tokens = run_batches(job, batches, done, out, em)

    metrics = {
        "prompts": len(prompts),
        "samples": job.total,
        "new_tokens_this_run": new_tokens,
        "batch_size": batch_size,
    }
    samples = samples_text(prompts, done, m.samplesPerPrompt, greedy, [len(x) for x in encoded])
    finish(out, samples, metrics)
    em.done(m.outputUri, metrics)
