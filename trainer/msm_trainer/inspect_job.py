"""inspect: run an Inspect AI task (e.g. inspect_evals/agentic_misalignment, the paper's benchmark) against one
model, one Inspect eval per condition of a parameter grid, graded by the manifest's grader model.

Layout (resumable per condition; a finished condition is never sampled again):

    <checkpointPrefix>/conditions/<condition id>/{log.eval, results.jsonl, COMPLETE}   (written atomically)
    <checkpointPrefix>/merged-model/      a LoRA output merged into its base (local only, a cache)
    <outputUri>/{results.jsonl, logs/<condition id>.eval, metrics.json, COMPLETE}

The model runs in this process through Inspect's Hugging Face provider, subclassed here as `msm-hf`: the same
sampling as msm's generate job (plain temperature sampling, no top-k / top-p; stop at the chat template's
end-of-turn tokens; the rendered chat template's own BOS, none added), and per-sample token counts and finish
reasons, which the stock provider reports per batch and as "unknown".

Per-sample errors: Inspect records them in the log (fail_on_error=False, retry_on_error=0) and the eval goes
on. A sample whose scorer raised ValueError after the model answered (the task's classifier finds no
`<answer>yes|no</answer>` in the grader's reply) is kept as unjudged: harmful null, error set. Any other sample
error (the grader unreachable after retries, out of memory, ...) fails the job before the condition is marked
complete, so a rerun samples that condition again instead of reporting outages as unjudged samples."""

import functools
import gc
import hashlib
import inspect as pyinspect
import json
import logging
import os
import re
import shutil
import sys
import time
import types
import typing
import zlib
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessageAssistant,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    StopReason,
    get_model,
    modelapi,
)
from inspect_ai.model._providers.hf import GenerateInput, HuggingFaceAPI, batched_generate

from . import mirror, s3, storage, uris, weights
from .chat import STOP_TOKENS
from .errors import BadInput, Retryable, present
from .events import Emitter
from .manifest import Grader, InspectCondition, InspectSpec, Manifest

log = logging.getLogger("msm_trainer")

CONDITIONS = "conditions"
MERGED = "merged-model"
RESULTS = "results.jsonl"
LOG_FILE = "log.eval"
METRICS = "metrics.json"
# Grader calls that fail (connection, 5xx, rate limits) are retried by Inspect with exponential backoff from
# 3 s: 8 retries wait about 13 minutes in all before the sample errors (and the job fails, retryably).
GRADER_MAX_RETRIES = 8
# Default sequences generated together (Inspect's max_connections for the model).
DEFAULT_BATCH_SIZE = {"cpu": 8, "cuda": 32}
# Sample errors kept as "unjudged": the task's scorer could not read the grader's answer.
UNREADABLE_ERRORS = ("ValueError",)
AUTH_ERRORS = ("AuthenticationError", "PermissionDeniedError")
# Inspect's stop reasons as msm's finish reasons.
FINISH = {"stop": "stop", "max_tokens": "length", "model_length": "length"}
O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def tiktoken_cache() -> Path:
    """Where scripts/setup.sh (scripts/tiktoken-cache.sh) puts it."""
    if os.environ.get("MSM_TIKTOKEN_CACHE"):
        return Path(os.environ["MSM_TIKTOKEN_CACHE"]).expanduser()
    return Path(os.environ.get("MSM_CACHE_DIR") or "~/.cache/msm").expanduser() / "tiktoken"


def offline_tiktoken() -> None:
    """Inspect estimates tokens with tiktoken's o200k_base, which tiktoken downloads on first use: point it at
    the cache scripts/tiktoken-cache.sh fills (built offline from npm tiktoken), so nothing downloads."""
    d = tiktoken_cache()
    os.environ["TIKTOKEN_CACHE_DIR"] = str(d)
    if (d / hashlib.sha1(O200K_URL.encode()).hexdigest()).is_file():
        return
    try:  # a host that reaches the internet downloads it into the cache once
        import tiktoken

        tiktoken.get_encoding("o200k_base")
    except Exception as e:
        raise BadInput(
            f"tiktoken's o200k_base (Inspect counts tokens with it) is not in {d} and cannot be downloaded "
            f"({type(e).__name__}: {e}): run `bash scripts/tiktoken-cache.sh {d}` on this host (it builds the file "
            "offline from the npm package tiktoken), or point MSM_TIKTOKEN_CACHE at a folder that has it"
        ) from e


# The model provider ----------------------------------------------------------------------------------------


class _Row(str):
    """A decoded answer that also says how many tokens it took and whether it ended at a stop token."""

    n_tokens: int
    stopped: bool


def _decode_rows(tokenizer, stops: tuple[int, ...], sequences) -> list[str]:
    """Inspect's decoder, per row: the tokens up to the first stop token (counted, not shown)."""
    out: list[str] = []
    stop = set(stops)
    for ids in sequences.tolist():
        cut = next((j for j, t in enumerate(ids) if t in stop), None)
        row = _Row(tokenizer.decode(ids[:cut], skip_special_tokens=True, clean_up_tokenization_spaces=False))
        row.n_tokens = len(ids) if cut is None else cut + 1
        row.stopped = cut is not None
        out.append(row)
    return out


@modelapi(name="msm-hf")
class MsmHuggingFaceAPI(HuggingFaceAPI):
    """Inspect's `hf` provider with msm's decoding (see the module doc). Model args as `hf`'s: model_path,
    tokenizer_path, device, enable_thinking, dtype (passed on to from_pretrained)."""

    def __init__(
        self, model_name: str, base_url=None, api_key=None, config: GenerateConfig | None = None, **model_args
    ):
        super().__init__(model_name, base_url, api_key, config or GenerateConfig(), **model_args)
        vocab = self.tokenizer.get_vocab()
        ids = {vocab[t] for t in (*STOP_TOKENS, self.tokenizer.eos_token) if t in vocab}
        eos = self.model.generation_config.eos_token_id
        ids |= set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.stop_ids = tuple(sorted(ids))
        if not self.stop_ids:
            raise BadInput(f"model {model_name}: its tokenizer has no end-of-turn token to stop at")
        # One object per setting: Inspect batches only requests whose generate arguments are the same objects.
        self._decodings: dict[tuple[float, int], tuple[Any, Any]] = {}

    def _generator(self, temperature: float, max_new: int):
        key = (temperature, max_new)
        if key not in self._decodings:
            from transformers import LogitsProcessorList

            from .sampling import decoding

            dec = decoding(temperature, max_new, list(self.stop_ids))
            dec.config.return_dict_in_generate = True  # Inspect's batch loop reads .sequences
            self._decodings[key] = (dec.config, LogitsProcessorList(dec.processors))
        cfg, processors = self._decodings[key]
        return functools.partial(self.model.generate, generation_config=cfg, logits_processor=processors)

    def _uses_template(self) -> bool:
        return self.use_chat_template is not False and bool(self.chat_template or self.tokenizer.chat_template)

    async def generate(self, input, tools, tool_choice, config):
        if tools:  # tool calling: the stock provider (its counts are per batch)
            return await super().generate(input, tools, tool_choice, config)
        chat = self.hf_chat(input, tools)
        # A rendered chat template starts with the BOS it wants (Gemma, Llama 3): the tokenizer adds none.
        call_args = {
            **({"add_special_tokens": False} if self._uses_template() else {}),
            **(self.tokenizer_call_args or {}),
        }
        temperature = config.temperature if config.temperature is not None else 1.0
        response = await batched_generate(
            GenerateInput(
                input=chat,
                device=self.model.device,
                # transformers declares its tokenizer backends without __call__ (they have one).
                tokenizer=functools.partial(self.tokenizer, return_tensors="pt", padding=True, **call_args),  # type: ignore[misc]
                generator=self._generator(temperature if self.do_sample else 0.0, config.max_tokens or 2048),
                decoder=functools.partial(_decode_rows, self.tokenizer, self.stop_ids),
                batch_size=config.max_connections or self.max_connections(),
            )
        )
        row = response.output
        n_in = len(self.tokenizer(chat, **call_args)["input_ids"])
        n_out = getattr(row, "n_tokens", response.output_tokens)
        message = ChatMessageAssistant(content=str(row), model=self.model_name, source="generate")
        stop_reason: StopReason = "stop" if getattr(row, "stopped", True) else "max_tokens"
        return ModelOutput(
            model=self.model_name,
            choices=[ChatCompletionChoice(message=message, stop_reason=stop_reason)],
            usage=ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out),
            time=response.time,
        )


# Task, grader, model ---------------------------------------------------------------------------------------


def _misfit(ann: Any, v: Any) -> str | None:
    """None when v fits the annotation (or the annotation is one this check does not know), else what fits."""
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        allowed = typing.get_args(ann)
        ok = any(type(a) is type(v) and a == v for a in allowed)
        return None if ok else "one of " + ", ".join(json.dumps(a) for a in allowed)
    if origin in (typing.Union, types.UnionType):
        misfits = [_misfit(a, v) for a in typing.get_args(ann)]
        return None if any(x is None for x in misfits) else " or ".join(x for x in misfits if x is not None)
    simple = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    if ann in simple:
        fits = {
            bool: isinstance(v, bool),
            int: isinstance(v, int) and not isinstance(v, bool),
            float: isinstance(v, (int, float)) and not isinstance(v, bool),
            str: isinstance(v, str),
            type(None): v is None,
        }[ann]
        return None if fits else simple[ann]
    return None


def _signature(fn) -> pyinspect.Signature | None:
    for eval_str in (True, False):
        try:
            return pyinspect.signature(fn, eval_str=eval_str)
        except Exception:
            continue
    return None


def lookup_task(name: str, where: str = "inspect.task"):
    from inspect_ai._util.registry import registry_lookup

    fn = registry_lookup("task", name)
    if fn is None:
        raise BadInput(
            f"manifest field {where}: {name} is not a registered Inspect task here; name a task of an "
            "installed package, e.g. inspect_evals/agentic_misalignment (pip install -r trainer/requirements.txt)"
        )
    return fn


def task_params(fn) -> list[str]:
    """The argument names of a registered task."""
    from inspect_ai._util.registry import registry_info

    return registry_info(fn).metadata.get("params", [])


def check_params(name: str, fn, values: dict[str, Any], where: str, supplied=("grader_model",)) -> None:
    """Unknown or ill-typed task arguments are refused here: Inspect would only warn and drop unknown ones.
    `supplied`: the arguments the job itself passes (the manifest refuses them as params)."""
    params = task_params(fn)
    sig = _signature(fn)
    for k, v in values.items():
        if k not in params:
            takes = ", ".join(p for p in params if p not in supplied)
            raise BadInput(f"manifest field {where}.params.{k}: task {name} has no such parameter; it takes {takes}")
        p = sig.parameters.get(k) if sig else None
        misfit = _misfit(p.annotation, v) if p is not None and p.annotation is not p.empty else None
        if misfit:
            raise BadInput(f"manifest field {where}.params.{k} is {json.dumps(v)}: task {name} takes {misfit}")


def create_task(
    name: str,
    fn,
    params: dict[str, Any],
    grader,
    where: str,
    what: str = "condition",
    grader_params: tuple[str, ...] = ("grader_model",),
    **supplied,
):
    """The Task of one condition (or check) (its prompts made now: a task that refuses the params fails the
    job up front). The grader goes to those of `grader_params` the task takes; `supplied`: other arguments the
    job passes besides the params (a built-in task's samples)."""
    from inspect_ai._eval.registry import task_create

    check_params(name, fn, params, where, (*grader_params, *supplied))
    args = {**params, **supplied}
    args.update({p: grader for p in grader_params if p in task_params(fn)})
    try:
        return task_create(name, **args)
    except (OSError, MemoryError):
        raise
    except Exception as e:
        raise BadInput(
            f"manifest field {where}.params: task {name} refused them ({type(e).__name__}: {e}); fix the "
            f"{what}'s params"
        ) from e


def grader_model(g: Grader, where: str = "inspect.grader"):
    """The grader as an Inspect model: anthropic/<model>; openai-api/msm-grader/<model> at baseUrl (any
    OpenAI-compatible server, chat completions); openai/<model> without a baseUrl. The key is read from the
    named variable and never logged (Inspect logs the model, its base URL and config)."""
    key = os.environ.get(g.apiKeyEnv) if g.apiKeyEnv else None
    if g.apiKeyEnv and not key:
        raise BadInput(f"manifest field {where}.apiKeyEnv names {g.apiKeyEnv}, which is not set here")
    if g.kind == "anthropic":
        return get_model(f"anthropic/{g.model}", base_url=g.baseUrl, api_key=key)
    if g.baseUrl:
        # A server without authentication still needs a non-empty key for the client.
        return get_model(f"openai-api/msm-grader/{g.model}", base_url=g.baseUrl, api_key=key or "none")
    return get_model(f"openai/{g.model}", api_key=key)


def model_folders(m: Manifest, ckpt: mirror.OutputPlace, device) -> tuple[Path, Path]:
    """(model folder, tokenizer folder) for Inspect: the base model, a full output as it is, or a LoRA output
    merged into its base once (cached in the checkpoint folder's local copy: merged-model/). The tokenizer and
    chat template are the base model's."""
    base = weights.resolve(present(m.baseModel.path, "baseModel.path"))
    if not m.modelUri and not m.externalModel:
        return base, base
    from .models import external_info, read_info

    if m.externalModel:
        # An external arm: its adapter merged into the base model like a LoRA output, or its folder as it is.
        d, info = external_info(m.externalModel, m.baseModel.describe())
        source = {"externalModel": m.externalModel}
    else:
        uri = present(m.modelUri, "modelUri")
        d, info = read_info(uri, "modelUri")
        source = {"modelUri": uri}
    if info["method"] == "full":
        return d, base
    merged = ckpt.local / MERGED
    if storage.is_complete(merged):
        try:
            if json.loads((merged / "source.json").read_text(encoding="utf-8")) == source:
                return merged, base
        except (OSError, ValueError):
            pass
    import torch

    from .models import load_described

    t0 = time.perf_counter()
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    held = [load_described(d, info, device, dtype)]

    def fill(tmp: Path) -> None:
        held[0].save_pretrained(str(tmp))
        (tmp / "source.json").write_text(json.dumps(source) + "\n", encoding="utf-8")

    storage.write_dir_atomic(merged, fill)
    held.clear()  # free the merged weights before Inspect loads them from the folder
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    log.info("merged %s into its base in %.1f s (%s)", d, time.perf_counter() - t0, merged)
    return merged, base


def load_model(m: Manifest, ckpt: mirror.OutputPlace):
    from .models import pick_device

    device = pick_device(m.device)
    folder, tokenizer = model_folders(m, ckpt, device)
    args: dict[str, Any] = {
        "model_path": str(folder),
        "tokenizer_path": str(tokenizer),
        "device": "cuda:0" if device.type == "cuda" else str(device),
        # Sampling needs no fp32 weights on a GPU; bf16 matmuls on a CPU are far slower than fp32 ones.
        "dtype": "bfloat16" if device.type == "cuda" else "float32",
    }
    if m.thinking in ("on", "off"):
        args["enable_thinking"] = m.thinking == "on"
    # Named by what was evaluated: the trained output, or the base model.
    return get_model(f"msm-hf/{m.modelUri or m.externalModel or m.baseModel.path}", **args), device


# Results -------------------------------------------------------------------------------------------------


def _error_type(err) -> str:
    """The exception class of a sample error (the traceback's last line), without its module."""
    lines = [ln for ln in (err.traceback or "").splitlines() if ln.strip()]
    found = re.match(r"^([A-Za-z_][\w.]*)(?::|$)", lines[-1].strip()) if lines else None
    if found is None:
        found = re.match(r"^([A-Za-z_]\w*)\(", err.message or "")
    return found.group(1).rsplit(".", 1)[-1] if found else ""


def _as_bool(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v >= 0.5
    return None


def harm_score(sample) -> tuple[bool | None, bool | None, str | None]:
    """(harmful, classifierVerdict, explanation) from the first score that has a "harmful" entry: the
    agentic_misalignment scorer puts the booleans in Score.metadata ({"harmful", "classifier_verdict"}) and the
    same as 1.0 / 0.0 in Score.value; its explanation is the grader's reply."""
    for score in (sample.scores or {}).values():
        meta = score.metadata or {}
        value = score.value if isinstance(score.value, dict) else {}
        if "harmful" in meta or "harmful" in value:
            harmful = _as_bool(meta["harmful"] if "harmful" in meta else value.get("harmful"))
            verdict = meta.get("classifier_verdict", value.get("classifier_verdict"))
            return harmful, _as_bool(verdict), score.explanation
    return None, None, None


def sample_ending(sample) -> dict[str, Any]:
    """What the model wrote and how it ended: its text, msm's finish reason and its token counts."""
    out = sample.output
    choice = out.choices[0] if out is not None and out.choices else None
    usage = out.usage if out is not None else None
    return {
        "text": out.completion if out is not None else "",
        "finishReason": FINISH.get(choice.stop_reason, choice.stop_reason) if choice is not None else None,
        "inputTokens": usage.input_tokens if usage is not None else None,
        "outputTokens": usage.output_tokens if usage is not None else None,
    }


def result_line(cond: InspectCondition, sample) -> dict[str, Any]:
    harmful, verdict, explanation = harm_score(sample)
    error = sample.error.message if sample.error is not None else None
    if error is None and harmful is None:
        error = "the task's scorer gave no harmful score"
    return {
        "condition": cond.id,
        "params": cond.params,
        "epoch": sample.epoch,
        "sampleId": sample.id,
        **sample_ending(sample),
        "harmful": harmful if error is None else None,
        "classifierVerdict": verdict if error is None else None,
        "explanation": explanation,
        "error": error,
        "scores": {name: s.value for name, s in (sample.scores or {}).items()},
    }


def fail_on_sample_errors(label: str, samples, key_env: str | None, knobs: str, kept=(), unit="conditions") -> None:
    """Sample errors fail the job before the folder is marked complete, except those of a kind in `kept`
    from a sample the model answered. Out of memory and a refused key are the person's to fix (BadInput);
    anything else (an outage) is retryable. label: "condition <id>" or "check <id>"; knobs: what to lower."""
    bad = []
    for s in samples:
        if s.error is None:
            continue
        kind = _error_type(s.error)
        answered = s.output is not None and bool(s.output.choices)
        if not (answered and kind in kept):
            bad.append((kind, s.error.message))
    if not bad:
        return
    kind, message = bad[0]
    what = f"{label}: {len(bad)} of {len(samples)} samples failed, e.g. {kind}: {message}"
    if kind == "OutOfMemoryError":
        raise BadInput(f"out of GPU memory: lower {knobs} ({what})")
    if kind in AUTH_ERRORS:
        raise BadInput(f"the grader refused its key ({key_env}): set a valid key ({what})")
    raise Retryable(f"{what}; rerun the job (finished {unit} are kept)")


def check_sample_errors(cond: InspectCondition, samples, g: Grader) -> None:
    """Sample errors other than an unreadable grader answer fail the condition (see the module doc)."""
    knobs = "inspect.batchSize or inspect.maxTokens"
    fail_on_sample_errors(f"condition {cond.id}", samples, g.apiKeyEnv, knobs, UNREADABLE_ERRORS)


# Conditions ------------------------------------------------------------------------------------------------


def condition_seed(seed: int, cid: str, job: str = "inspect") -> int:
    # From the condition's id, not its position: a resumed job samples each condition as an uninterrupted one.
    return zlib.crc32(f"{seed}:{job}:{cid}".encode()) & 0x7FFFFFFF


def condition_done(ckpt: mirror.OutputPlace, cid: str, parent: str = CONDITIONS) -> bool:
    """Is the condition (a folder under `parent`) finished? For an s3:// prefix the store decides: a finished
    remote folder is fetched (a fresh machine), a local one that a kill left unpublished is uploaded."""
    d = ckpt.local / parent / cid
    if ckpt.remote is None:
        return storage.is_complete(d)
    remote = ckpt.remote.child(parent, cid)
    listing = s3.list_sizes(remote)
    if storage.COMPLETE in listing:
        if not storage.is_complete(d):

            def fill(tmp: Path) -> None:
                for rel, size in listing.items():
                    if rel != storage.COMPLETE:
                        s3.download(remote.child(rel), tmp / rel, size)

            storage.write_dir_atomic(d, fill)
        return True
    if storage.is_complete(d):
        mirror.publish_dir(d, remote)
        return True
    return False


@dataclass
class Run:
    """What every condition's eval shares."""

    m: Manifest
    spec: InspectSpec
    model: Any
    grader: Any
    batch_size: int


def eval_samples(tmp: Path, task, model, grader, label: str, metadata: dict, seed: int, **options) -> list:
    """One Inspect eval with the job's fixed options (sample errors recorded, not raised; no retries of a
    sample; the grader's calls retried), its log moved to tmp/log.eval. Returns the samples as the log file
    holds them, sorted by (epoch, id). options: epochs, limit, max_tokens, temperature, max_connections."""
    from inspect_ai import eval as inspect_eval
    from inspect_ai.log import read_eval_log
    from transformers import set_seed

    set_seed(seed)
    with redirect_stdout(sys.stderr):  # stdout is the event stream
        logs = inspect_eval(
            task,
            model=model,
            model_roles={"grader": grader} if grader is not None else None,
            seed=seed,
            max_retries=GRADER_MAX_RETRIES,
            fail_on_error=False,
            retry_on_error=0,
            log_dir=str(tmp / "inspect"),
            log_format="eval",
            display="none",
            log_level="warning",
            score_display=False,
            metadata=metadata,
            **options,
        )
    result = logs[0]
    if result.status != "success":
        why = result.error.message if result.error is not None else result.status
        raise Retryable(f"the Inspect eval of {label} ended {result.status}: {why}")
    full = read_eval_log(result.location)
    os.replace(uris.local_path(result.location, "Inspect log"), tmp / LOG_FILE)
    shutil.rmtree(tmp / "inspect", ignore_errors=True)
    return sorted(full.samples or [], key=lambda s: (s.epoch, str(s.id)))


def write_results(tmp: Path, lines: list[dict]) -> None:
    text = "".join(json.dumps(x) + "\n" for x in lines)
    storage.write_file_atomic(tmp / RESULTS, text.encode("utf-8"))


def write_folder(ckpt: mirror.OutputPlace, parent: str, cid: str, fill) -> None:
    """A condition's (or check's) folder, written atomically (COMPLETE last) and published."""
    final = ckpt.local / parent / cid
    storage.write_dir_atomic(final, fill)
    if ckpt.remote is not None:
        mirror.publish_dir(final, ckpt.remote.child(parent, cid))


def run_condition(run: Run, task, cond: InspectCondition, ckpt: mirror.OutputPlace) -> list[dict]:
    """One Inspect eval of the condition, its folder written atomically (COMPLETE last) and published."""
    spec, m = run.spec, run.m
    lines: list[dict] = []

    def fill(tmp: Path) -> None:
        samples = eval_samples(
            tmp,
            task,
            run.model,
            run.grader,
            f"condition {cond.id}",
            {"msm": {"jobId": m.jobId, "condition": cond.id, "modelUri": m.modelUri}},
            condition_seed(m.seed, cond.id),
            epochs=spec.epochs,
            max_tokens=spec.maxTokens,
            temperature=spec.temperature,
            max_connections=run.batch_size,
        )
        check_sample_errors(cond, samples, spec.grader)
        lines.extend(result_line(cond, s) for s in samples)
        write_results(tmp, lines)

    write_folder(ckpt, CONDITIONS, cond.id, fill)
    return lines


def read_condition(ckpt: mirror.OutputPlace, cid: str, parent: str = CONDITIONS) -> list[dict]:
    path = ckpt.local / parent / cid / RESULTS
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def clean_stale(ckpt: mirror.OutputPlace, parent: str = CONDITIONS) -> None:
    """Temp folders of killed attempts (we hold the job lock)."""
    for folder in (ckpt.local / parent, ckpt.local):
        if folder.is_dir():
            for d in folder.iterdir():
                if d.is_dir() and d.name.startswith(".tmp-"):
                    shutil.rmtree(d, ignore_errors=True)


def write_output(
    out: mirror.OutputPlace,
    ckpt: mirror.OutputPlace,
    ids: list[str],
    metrics: dict,
    parent: str = CONDITIONS,
    name: str = RESULTS,
) -> None:
    """The job's output: every folder's results in the given order (as `name`), their logs as logs/<id>.eval."""

    def fill(tmp: Path) -> None:
        (tmp / "logs").mkdir()
        lines = []
        for cid in ids:
            shutil.copyfile(ckpt.local / parent / cid / LOG_FILE, tmp / "logs" / f"{cid}.eval")
            lines.append((ckpt.local / parent / cid / RESULTS).read_text(encoding="utf-8"))
        (tmp / name).write_text("".join(lines), encoding="utf-8")
        (tmp / METRICS).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")

    storage.write_dir_atomic(out.local, fill)
    if out.remote is not None:
        mirror.publish_dir(out.local, out.remote)


def run_inspect(m: Manifest, em: Emitter) -> None:

    out = mirror.output_place(m.outputUri, "outputUri")
    if mirror.emit_existing_done(out, em):
        return
    spec = present(m.inspect, "inspect")
    offline_tiktoken()
    fn = lookup_task(spec.task)
    grader = grader_model(spec.grader)
    # Every condition's task now: bad params fail the job before any model is loaded.
    tasks = [
        create_task(spec.task, fn, c.params, grader, f"inspect.conditions[{i}]") for i, c in enumerate(spec.conditions)
    ]

    ckpt = mirror.output_place(m.checkpointPrefix, "checkpointPrefix")
    ckpt.local.mkdir(parents=True, exist_ok=True)
    clean_stale(ckpt)
    done = [c.id for c in spec.conditions if condition_done(ckpt, c.id)]
    if done:
        em.resumed(len(done), storage.join_uri(m.checkpointPrefix, CONDITIONS))
    if len(done) < len(spec.conditions):
        model, device = load_model(m, ckpt)
        batch = spec.batchSize or DEFAULT_BATCH_SIZE.get(device.type, DEFAULT_BATCH_SIZE["cpu"])
        run = Run(m, spec, model, grader, batch)
        finished = len(done)
        for task, cond in zip(tasks, spec.conditions):
            if cond.id in done:
                continue
            t0 = time.perf_counter()
            lines = run_condition(run, task, cond, ckpt)
            finished += 1
            tps = sum(x["outputTokens"] or 0 for x in lines) / max(time.perf_counter() - t0, 1e-9)
            em.progress(finished, len(spec.conditions), None, tps, condition=cond.id)

    results = [x for c in spec.conditions for x in read_condition(ckpt, c.id)]
    metrics = {
        "conditions": len(spec.conditions),
        "samples": len(results),
        "harmful": sum(1 for x in results if x["harmful"] is True),
        "unjudged": sum(1 for x in results if x["harmful"] is None),
    }
    write_output(out, ckpt, [c.id for c in spec.conditions], metrics)
    em.done(m.outputUri, metrics)
