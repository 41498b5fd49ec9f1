"""Parse and validate the job manifest (camelCase JSON, see src/training/job.ts). No torch here: bad input
is reported in milliseconds, before the heavy imports."""

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import inputs, wandb_log
from .errors import BadInput
from .storage import check_uri
from .weights import check_path

KINDS = ("midtrain", "aft", "generate", "inspect", "capabilities", "inspect-calibration")
# Jobs that evaluate a model, or a grader (no training curves to log).
EVAL_KINDS = ("generate", "inspect", "capabilities", "inspect-calibration")
DEVICES = ("cpu", "cuda", "auto")
METHODS = ("lora", "full")
# Defaults of a random base model (the same as the experiment schema's baseModel defaults).
RANDOM_DEFAULTS = {"hiddenSize": 64, "numLayers": 2, "numHeads": 4, "intermediateSize": 128, "initSeed": 0}


@dataclass
class ModelInit:
    init: str
    path: str | None = None
    hiddenSize: int = 64
    numLayers: int = 2
    numHeads: int = 4
    intermediateSize: int = 128
    vocabSize: int | None = None  # None: take it from the data / tokenizer
    initSeed: int = 0
    numKvHeads: int | None = None  # grouped-query attention; None = numHeads
    arch: str = "llama"  # random models: "llama", or "qwen2" (attention biases)

    def describe(self) -> dict[str, Any]:
        if self.init == "pretrained":
            return {"init": "pretrained", "path": self.path}
        return {
            "init": "random",
            "hiddenSize": self.hiddenSize,
            "numLayers": self.numLayers,
            "numHeads": self.numHeads,
            "intermediateSize": self.intermediateSize,
            "vocabSize": self.vocabSize,
            "initSeed": self.initSeed,
            # Only when set: descriptions (and run keys) of plain Llama shapes stay as they were.
            **({"numKvHeads": self.numKvHeads} if self.numKvHeads else {}),
            **({"arch": self.arch} if self.arch != "llama" else {}),
        }


@dataclass
class Hyper:
    method: str
    loraR: int
    loraAlpha: float
    loraDropout: float
    lr: float
    warmupRatio: float
    weightDecay: float
    batchSize: int
    epochs: float
    maxSteps: int
    checkpointEverySteps: int
    checkpointEveryMinutes: float = 0.0
    compile: bool = False
    # true/false, or the fraction of decoder layers that recompute their activations (spread evenly): less
    # recomputation than true where memory allows it.
    gradientCheckpointing: bool | float = False
    # Rows per forward pass on one rank; batchSize (rows per optimizer step) is reached by accumulation.
    microBatchSize: int = 4

    def fingerprint(self) -> dict[str, Any]:
        # Checkpoint frequency, compilation, activation recomputation and the micro-batch do not change the
        # result, so a resume may use others (e.g. on a machine with less memory).
        d = dict(self.__dict__)
        for k in (
            "checkpointEverySteps",
            "checkpointEveryMinutes",
            "compile",
            "gradientCheckpointing",
            "microBatchSize",
        ):
            d.pop(k)
        return d


@dataclass
class Grader:
    """inspect: the model that grades (the task's grader_model): an OpenAI(-compatible) or Anthropic API."""

    kind: str  # "openai" | "anthropic"
    model: str
    baseUrl: str | None = None  # openai: an OpenAI-compatible server (vLLM, ...); absent = api.openai.com
    apiKeyEnv: str | None = None  # the environment variable holding its key (optional for openai + baseUrl)


@dataclass
class InspectCondition:
    id: str  # a folder name: the condition's checkpoint folder and its log's name
    params: dict[str, Any]  # the task's arguments (JSON scalars)


@dataclass
class InspectSpec:
    """inspect: one Inspect eval of `task` per condition (its params as task arguments), see inspect_job.py."""

    task: str  # a registered Inspect task of an installed package, e.g. inspect_evals/agentic_misalignment
    conditions: list[InspectCondition]
    epochs: int
    maxTokens: int
    temperature: float
    grader: Grader
    batchSize: int | None = None  # sequences generated together; None = the device's default


@dataclass
class CalibrationScenario:
    """inspect-calibration: one condition of the task and the frozen replies its scorer grades."""

    kind: str  # inspect:<scenario>, the calibration kind (src/eval/inspect/conditions.ts inspectGraderKind)
    params: dict[str, Any]  # the task's arguments (JSON scalars) for the condition the replies answer
    items: list[dict[str, Any]]  # {"id", "shows": bool, "reply"}, replies distinct (they map samples back)


@dataclass
class InspectCalibrationSpec:
    """inspect-calibration: the task's own scorer run with the grader on known replies (inspect_calibration.py)."""

    task: str
    scenarios: list[CalibrationScenario]
    grader: Grader


@dataclass
class CapabilityCheck:
    """capabilities: one Inspect task at a small sample count (see capabilities_job.py)."""

    id: str  # ^[a-z][a-z0-9-]*$: the check's checkpoint folder and its log's name
    task: str  # msm/<name>: built into the trainer (inspect_tasks.py); else a registered task of a package
    params: dict[str, Any]  # the task's arguments (JSON scalars)
    limit: int  # at most this many samples of the task's dataset
    maxTokens: int
    temperature: float
    # msm/multiple_choice only: the questions, {"id", "question", "choices", "target": a choice letter}.
    samples: list[dict[str, Any]] | None = None


@dataclass
class CapabilitiesSpec:
    """capabilities: one Inspect eval per check (capability, over-refusal and spec Q&A checks of one arm)."""

    checks: list[CapabilityCheck]
    batchSize: int | None = None  # sequences generated together; None = the device's default
    grader: Grader | None = None  # only tasks that take grader_model need one


@dataclass
class Manifest:
    kind: str
    jobId: str
    baseModel: ModelInit
    tokenizerUri: str
    checkpointPrefix: str
    outputUri: str
    seed: int
    device: str
    dataUri: str | None = None
    fraction: float = 1.0
    initFromUri: str | None = None
    # aft from a LoRA output with a LoRA job: merge that adapter into its base and train a new one,
    # instead of continuing it (the paper's practice, the default).
    freshAdapter: bool = False
    # aft: instruction-tuning rows mixed in, mixRatio of them per AFT row (see mixing.py).
    mixDataUri: str | None = None
    mixRatio: float = 0.0
    # aft: draw the nested subsets (AFT and mix rows) from this job seed's own permutation, not the shared one.
    subsetBySeed: bool = False
    hyper: Hyper | None = None
    modelUri: str | None = None
    promptsUri: str | None = None
    samplesPerPrompt: int = 1
    temperature: float = 1.0
    maxNewTokens: int = 128
    # generate: sequences sampled together; None = the device's default (see generate.DEFAULT_BATCH_SIZE).
    batchSize: int | None = None
    # generate: a system prompt given with every prompt (an arm's eval system prompt, e.g. the spec).
    systemPrompt: str | None = None
    # generate: "on" / "off" set the chat template's enable_thinking (Qwen3); None = "model-default" (unset).
    thinking: str | None = None
    # midtrain/aft: {"project", "entity"?, "mode"?} to also log the curves to Weights & Biases (wandb_log.py).
    wandb: dict[str, Any] | None = None
    # inspect: the task, its conditions and the grader (modelUri, thinking and the base model as for generate).
    inspect: InspectSpec | None = None
    # capabilities: the checks (and an optional grader); modelUri, thinking and the base model as for inspect.
    capabilities: CapabilitiesSpec | None = None
    # inspect-calibration: the task, the scenarios with their replies and the grader (no model is loaded).
    inspectCalibration: InspectCalibrationSpec | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def training_fingerprint(self) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed (device, ids and output places may differ)."""
        f = {
            "kind": self.kind,
            "baseModel": self.baseModel.describe(),
            "dataUri": self.dataUri,
            "fraction": self.fraction,
            "initFromUri": self.initFromUri,
            "hyper": self.hyper.fingerprint() if self.hyper else None,
            "seed": self.seed,
        }
        # Only when set: checkpoints of jobs without them (older trainers too) keep matching.
        if self.freshAdapter:
            f["freshAdapter"] = True
        if self.mixDataUri:
            f["mix"] = {"dataUri": self.mixDataUri, "ratio": self.mixRatio}
        if self.subsetBySeed:
            f["subsetBySeed"] = True
        return f

    def subset_seed(self) -> int | None:
        """The seed of this job's subset permutation: its own seed with subsetBySeed, else the shared one."""
        return self.seed if self.subsetBySeed else None


def _need(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d or d[key] is None:
        raise BadInput(f"manifest field {where}{key} is missing: set it (see src/training/job.ts)")
    return d[key]


def _int(d, key, where, default=None, minimum=None):
    v = d.get(key, default) if default is not None else _need(d, key, where)
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v):
        raise BadInput(f"manifest field {where}{key} must be an integer, got {v!r}")
    v = int(v)
    if minimum is not None and v < minimum:
        raise BadInput(f"manifest field {where}{key} must be >= {minimum}, got {v}")
    return v


def _num(d, key, where, default=None, lo=None, hi=None, lo_open=False):
    v = d.get(key, default) if default is not None else _need(d, key, where)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadInput(f"manifest field {where}{key} must be a finite number, got {v!r}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise BadInput(f"manifest field {where}{key} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and v > hi:
        raise BadInput(f"manifest field {where}{key} must be <= {hi}, got {v}")
    return float(v)


def _str(d, key, where, optional=False):
    v = d.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v:
        raise BadInput(f"manifest field {where}{key} must be a non-empty string, got {v!r}")
    return v


def _bool(d, key, where, default):
    v = d.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise BadInput(f"manifest field {where}{key} must be true or false, got {v!r}")
    return v


def _checkpointing(d, key, where) -> bool | float:
    v = d.get(key, False)
    if v is None or isinstance(v, bool):
        return bool(v)
    if isinstance(v, int | float) and 0 < v <= 1:
        return float(v)
    raise BadInput(
        f"manifest field {where}{key} must be true, false or the fraction of layers to checkpoint "
        f"(0 < fraction <= 1), got {v!r}"
    )


def _enum(d, key, where, allowed):
    v = _need(d, key, where)
    if v not in allowed:
        raise BadInput(f"manifest field {where}{key} is {v!r}: use one of {', '.join(allowed)}")
    return v


def parse_model_init(d: Any, where: str = "baseModel.") -> ModelInit:
    if not isinstance(d, dict):
        raise BadInput(f"manifest field {where.rstrip('.')} must be an object with init 'random' or 'pretrained'")
    init = _enum(d, "init", where, ("random", "pretrained"))
    if init == "pretrained":
        path = _str(d, "path", where)
        check_path(path, f"{where}path")  # local folder or .gguf, s3://, hf:<org>/<name> (see weights.py)
        return ModelInit(init="pretrained", path=path)
    m = ModelInit(
        init="random",
        hiddenSize=_int(d, "hiddenSize", where, RANDOM_DEFAULTS["hiddenSize"], 1),
        numLayers=_int(d, "numLayers", where, RANDOM_DEFAULTS["numLayers"], 1),
        numHeads=_int(d, "numHeads", where, RANDOM_DEFAULTS["numHeads"], 1),
        intermediateSize=_int(d, "intermediateSize", where, RANDOM_DEFAULTS["intermediateSize"], 1),
        vocabSize=_int(d, "vocabSize", where, minimum=2) if d.get("vocabSize") is not None else None,
        initSeed=_int(d, "initSeed", where, RANDOM_DEFAULTS["initSeed"], 0),
        numKvHeads=_int(d, "numKvHeads", where, minimum=1) if d.get("numKvHeads") is not None else None,
        arch=_enum(d, "arch", where, ("llama", "qwen2")) if d.get("arch") is not None else "llama",
    )
    if m.numKvHeads and m.numHeads % m.numKvHeads != 0:
        raise BadInput(f"manifest field {where}numKvHeads: {m.numKvHeads} must divide numHeads {m.numHeads}")
    if m.hiddenSize % m.numHeads != 0 or (m.hiddenSize // m.numHeads) % 2 != 0:
        raise BadInput(
            f"manifest field {where}numHeads: hiddenSize {m.hiddenSize} / numHeads {m.numHeads} "
            f"must be an even integer "
            "(the rotary head dimension); pick numHeads dividing hiddenSize"
        )
    return m


def parse_hyper(d: Any) -> Hyper:
    w = "hyper."
    if not isinstance(d, dict):
        raise BadInput("manifest field hyper is missing: training jobs need hyper-parameters (see TrainHyper)")
    return Hyper(
        method=_enum(d, "method", w, METHODS),
        # The paper's adapter (the experiment schema's defaults too): r=64, alpha=128.
        loraR=_int(d, "loraR", w, 64, 1),
        loraAlpha=_num(d, "loraAlpha", w, 128, lo=0, lo_open=True),
        loraDropout=_num(d, "loraDropout", w, 0.0, lo=0, hi=0.99),
        lr=_num(d, "lr", w, lo=0, lo_open=True),
        warmupRatio=_num(d, "warmupRatio", w, 0.0, lo=0, hi=1),
        weightDecay=_num(d, "weightDecay", w, 0.0, lo=0),
        batchSize=_int(d, "batchSize", w, minimum=1),
        epochs=_num(d, "epochs", w, 1, lo=0, lo_open=True),
        maxSteps=_int(d, "maxSteps", w, 0, 0),
        checkpointEverySteps=_int(d, "checkpointEverySteps", w, 0, 0),
        checkpointEveryMinutes=_num(d, "checkpointEveryMinutes", w, 0.0, lo=0),
        compile=_bool(d, "compile", w, False),
        gradientCheckpointing=_checkpointing(d, "gradientCheckpointing", w),
        microBatchSize=_int(d, "microBatchSize", w, 4, 1),
    )


def parse_logging(d: Any, kind: str) -> dict[str, Any] | None:
    """The optional logging block: {"wandb": {"project", "entity"?, "mode"?}} (TensorBoard is always on)."""
    if d is None:
        return None
    if not isinstance(d, dict) or set(d) - {"wandb"}:
        raise BadInput(f"manifest field logging must be an object with only a wandb block, got {d!r}")
    w = d.get("wandb")
    if w is None:
        return None
    if kind in EVAL_KINDS:
        raise BadInput(f"manifest field logging.wandb is for training jobs, not {kind}; remove it")
    where = "logging.wandb."
    if not isinstance(w, dict) or set(w) - {"project", "entity", "mode"}:
        raise BadInput(f"manifest field logging.wandb must be an object with project, entity?, mode?; got {w!r}")
    cfg = {"project": _str(w, "project", where), "entity": _str(w, "entity", where, optional=True)}
    cfg["mode"] = _enum(w, "mode", where, wandb_log.MODES) if w.get("mode") is not None else None
    wandb_log.require_installed()
    return cfg


def parse_manifest(d: Any) -> Manifest:
    if not isinstance(d, dict):
        raise BadInput("the manifest must be a JSON object")
    kind = _enum(d, "kind", "", KINDS)
    m = Manifest(
        kind=kind,
        jobId=_str(d, "jobId", ""),
        # inspect-calibration loads no model: a base model is optional there (none is read).
        baseModel=parse_model_init(
            d.get("baseModel") or {"init": "random"} if kind == "inspect-calibration" else _need(d, "baseModel", "")
        ),
        tokenizerUri=_str(d, "tokenizerUri", "", optional=kind != "generate") or "",
        checkpointPrefix=_str(d, "checkpointPrefix", ""),
        outputUri=_str(d, "outputUri", ""),
        seed=_int(d, "seed", "", minimum=0),
        device=_enum(d, "device", "", DEVICES) if d.get("device") is not None else "auto",
        raw=d,
    )
    m.wandb = parse_logging(d.get("logging"), kind)
    # Check every URI now so a typo, a missing input or refused S3 credentials fail before any work.
    check_uri(m.checkpointPrefix, "checkpointPrefix")
    check_uri(m.outputUri, "outputUri")
    if kind == "generate":
        m.modelUri = _str(d, "modelUri", "", optional=True)
        m.promptsUri = _str(d, "promptsUri", "")
        m.samplesPerPrompt = _int(d, "samplesPerPrompt", "", 1, 1)
        m.temperature = _num(d, "temperature", "", 1.0, lo=0)
        m.maxNewTokens = _int(d, "maxNewTokens", "", 128, 1)
        if d.get("batchSize") is not None:
            m.batchSize = _int(d, "batchSize", "", minimum=1)
        m.systemPrompt = _str(d, "systemPrompt", "", optional=True)
        if d.get("thinking") is not None:
            m.thinking = _enum(d, "thinking", "", ("on", "off", "model-default"))
        inputs.require_file(check_uri(m.tokenizerUri, "tokenizerUri"), "tokenizerUri")
        inputs.require_file(check_uri(m.promptsUri, "promptsUri"), "promptsUri")
        if m.modelUri:
            inputs.require_model(check_uri(m.modelUri, "modelUri"), "modelUri")
    elif kind in ("inspect", "capabilities"):
        parse_inspect_job(m, d)
    elif kind == "inspect-calibration":
        parse_calibration_job(m, d)
    else:
        for key in ("systemPrompt", "thinking"):
            if d.get(key) is not None:
                raise BadInput(f"manifest field {key} is for generate jobs, not {kind}; remove it")
        m.dataUri = _str(d, "dataUri", "")
        m.fraction = _num(d, "fraction", "", 1.0, lo=0, hi=1, lo_open=True)
        m.initFromUri = _str(d, "initFromUri", "", optional=True)
        m.freshAdapter = _bool(d, "freshAdapter", "", False)
        if m.freshAdapter and not m.initFromUri:
            raise BadInput("manifest field freshAdapter needs initFromUri (the output whose adapter is merged first)")
        m.mixDataUri = _str(d, "mixDataUri", "", optional=True)
        if m.mixDataUri is not None:
            if kind != "aft":
                raise BadInput(f"manifest field mixDataUri is for aft jobs, not {kind}; remove it")
            m.mixRatio = _num(d, "mixRatio", "", lo=0, lo_open=True)
        elif d.get("mixRatio") is not None:
            raise BadInput("manifest field mixRatio needs mixDataUri (the instruction-tuning data to mix in)")
        m.subsetBySeed = _bool(d, "subsetBySeed", "", False)
        if m.subsetBySeed and kind != "aft":
            raise BadInput(f"manifest field subsetBySeed is for aft jobs, not {kind}; remove it")
        m.hyper = parse_hyper(d.get("hyper"))
        inputs.require_file(check_uri(m.dataUri, "dataUri"), "dataUri")
        if m.mixDataUri:
            inputs.require_file(check_uri(m.mixDataUri, "mixDataUri"), "mixDataUri")
        if m.initFromUri:
            inputs.require_model(check_uri(m.initFromUri, "initFromUri"), "initFromUri")
    return m


GRADER_KINDS = ("openai", "anthropic")
# A condition id names folders (its checkpoint folder, logs/<id>.eval): no slashes, no leading dot.
_CONDITION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$")
_TASK_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_grader(d: Any, where: str = "inspect.grader") -> Grader:
    w = f"{where}."
    if not isinstance(d, dict):
        raise BadInput(
            f'manifest field {where} is missing: set {{"kind": "openai" | "anthropic", "model", "apiKeyEnv", '
            '"baseUrl"?} (the model that grades the samples)'
        )
    unknown = set(d) - {"kind", "model", "baseUrl", "apiKeyEnv"}
    if unknown:
        raise BadInput(
            f"manifest field {where} has unknown fields {sorted(unknown)}: use kind, model, baseUrl, apiKeyEnv"
        )
    g = Grader(
        kind=_enum(d, "kind", w, GRADER_KINDS),
        model=_str(d, "model", w),
        baseUrl=_str(d, "baseUrl", w, optional=True),
        apiKeyEnv=_str(d, "apiKeyEnv", w, optional=True),
    )
    if g.baseUrl is not None and not g.baseUrl.startswith(("http://", "https://")):
        raise BadInput(f"manifest field {w}baseUrl is {g.baseUrl!r}: use an http(s):// URL, e.g. http://host:8000/v1")
    if g.apiKeyEnv is None:
        if not (g.kind == "openai" and g.baseUrl):
            raise BadInput(
                f"manifest field {w}apiKeyEnv is missing: name the environment variable that holds "
                f"the {g.kind} grader's API key (only an openai grader with a baseUrl may go without one)"
            )
    elif not _ENV_NAME.match(g.apiKeyEnv):
        raise BadInput(f"manifest field {w}apiKeyEnv is {g.apiKeyEnv!r}: name an environment variable")
    elif not os.environ.get(g.apiKeyEnv):
        raise BadInput(
            f"manifest field {w}apiKeyEnv names {g.apiKeyEnv}, which is not set (or empty) in the "
            "trainer's environment: set it where the job runs, or name the variable that holds the grader's key"
        )
    return g


def parse_conditions(d: Any) -> list[InspectCondition]:
    if not isinstance(d, list) or not d:
        raise BadInput(
            'manifest field inspect.conditions must be a non-empty list of {"id", "params": {task argument: value}}'
        )
    out, seen = [], set()
    for i, c in enumerate(d):
        w = f"inspect.conditions[{i}]."
        if not isinstance(c, dict) or set(c) - {"id", "params"}:
            raise BadInput(f'manifest field {w.rstrip(".")} must be an object with only "id" and "params", got {c!r}')
        cid = _str(c, "id", w)
        if not _CONDITION_ID.match(cid):
            raise BadInput(
                f"manifest field {w}id is {cid!r}: use letters, digits and . _ - = + (it names folders), "
                "at most 200 characters, not starting with a dot"
            )
        if cid in seen:
            raise BadInput(f"manifest field {w}id {cid!r} is used twice: ids key the resume, make them unique")
        seen.add(cid)
        params = c.get("params", {})
        check_task_params(params, w, "inspect.grader", ("grader_model",))
        out.append(InspectCondition(id=cid, params=dict(params)))
    return out


def check_task_params(params: Any, w: str, grader_field: str, grader_params: tuple[str, ...]) -> None:
    """A condition's or check's params: an object of JSON scalars keyed by Python identifiers, none of them
    an argument the job sets to the grader."""
    if not isinstance(params, dict):
        raise BadInput(f"manifest field {w}params must be an object of task arguments, got {params!r}")
    for k, v in params.items():
        if not k or not k.isidentifier():
            raise BadInput(f"manifest field {w}params has the key {k!r}: task arguments are Python identifiers")
        if k in grader_params:
            raise BadInput(f"manifest field {w}params.{k}: set the grader in {grader_field} instead")
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise BadInput(f"manifest field {w}params.{k} must be a string, number, boolean or null, got {v!r}")


def parse_inspect(d: Any) -> InspectSpec:
    w = "inspect."
    if not isinstance(d, dict):
        raise BadInput(
            "manifest field inspect is missing: an inspect job needs {task, conditions, epochs, maxTokens, "
            "temperature, grader}"
        )
    unknown = set(d) - {"task", "conditions", "epochs", "maxTokens", "temperature", "grader", "batchSize"}
    if unknown:
        raise BadInput(
            f"manifest field inspect has unknown fields {sorted(unknown)}: use task, conditions, epochs, "
            "maxTokens, temperature, grader, batchSize"
        )
    task = _str(d, "task", w)
    if not _TASK_NAME.match(task):
        raise BadInput(
            f"manifest field inspect.task is {task!r}: name a registered task of an installed package as "
            "<package>/<task>, e.g. inspect_evals/agentic_misalignment"
        )
    return InspectSpec(
        task=task,
        conditions=parse_conditions(d.get("conditions")),
        epochs=_int(d, "epochs", w, minimum=1),
        maxTokens=_int(d, "maxTokens", w, minimum=1),
        temperature=_num(d, "temperature", w, lo=0),
        grader=parse_grader(d.get("grader")),
        batchSize=_int(d, "batchSize", w, minimum=1) if d.get("batchSize") is not None else None,
    )


def parse_inspect_job(m: Manifest, d: dict[str, Any]) -> None:
    """kinds "inspect" and "capabilities": the model under test (baseModel, modelUri?) and the job's block."""
    if m.baseModel.init != "pretrained":
        raise BadInput(
            f"manifest field baseModel: an {m.kind} job needs a pretrained base model (init 'pretrained' with a "
            "path): its tokenizer and chat template render the task's prompts"
        )
    for key in ("systemPrompt", "promptsUri", "dataUri", "hyper"):
        if d.get(key) is not None:
            raise BadInput(f"manifest field {key} is not for {m.kind} jobs (the task makes its own prompts); remove it")
    other = "capabilities" if m.kind == "inspect" else "inspect"
    if d.get(other) is not None:
        raise BadInput(f"manifest field {other} is not for {m.kind} jobs; remove it (or set kind {other!r})")
    m.modelUri = _str(d, "modelUri", "", optional=True)
    if d.get("thinking") is not None:
        m.thinking = _enum(d, "thinking", "", ("on", "off", "model-default"))
    if m.kind == "inspect":
        m.inspect = parse_inspect(d.get("inspect"))
    else:
        m.capabilities = parse_capabilities(d.get("capabilities"))
    if m.modelUri:
        inputs.require_model(check_uri(m.modelUri, "modelUri"), "modelUri")


# A check id names folders (checks/<id>/, logs/<id>.eval) and a metric (score_<id with - as _>).
_CHECK_ID = re.compile(r"^[a-z][a-z0-9-]{0,99}$")
MULTIPLE_CHOICE = "msm/multiple_choice"
# A check's task arguments that take the grader (Inspect tasks name them so: xstest's is scorer_model).
CHECK_GRADER_PARAMS = ("grader_model", "scorer_model", "judge_model")
CHECK_FIELDS = ("id", "task", "params", "samples", "limit", "maxTokens", "temperature")
SAMPLE_FIELDS = ("id", "question", "choices", "target")
MAX_CHOICES = 26  # lettered A to Z


def parse_choice_sample(d: Any, w: str, seen: set[str]) -> dict[str, Any]:
    """One inline question of msm/multiple_choice: {"id", "question", "choices", "target": a choice letter}."""
    if not isinstance(d, dict) or set(d) - set(SAMPLE_FIELDS):
        raise BadInput(f"manifest field {w.rstrip('.')} must be an object with only {', '.join(SAMPLE_FIELDS)}")
    sid = _str(d, "id", w)
    if sid in seen:
        raise BadInput(f"manifest field {w}id {sid!r} is used twice in the check: make the sample ids unique")
    seen.add(sid)
    question = _str(d, "question", w)
    choices = d.get("choices")
    if (
        not isinstance(choices, list)
        or not 2 <= len(choices) <= MAX_CHOICES
        or not all(isinstance(c, str) and c for c in choices)
    ):
        raise BadInput(
            f"manifest field {w}choices must be a list of 2 to {MAX_CHOICES} non-empty strings (the answers, "
            f"lettered A, B, ...), got {choices!r}"
        )
    letters = [chr(ord("A") + i) for i in range(len(choices))]
    target = _str(d, "target", w)
    if target not in letters:
        raise BadInput(
            f"manifest field {w}target is {target!r}: name the correct choice by its letter, one of "
            f"{', '.join(letters)}"
        )
    return {"id": sid, "question": question, "choices": list(choices), "target": target}


def parse_check(c: Any, i: int, seen: set[str]) -> CapabilityCheck:
    w = f"capabilities.checks[{i}]."
    if not isinstance(c, dict):
        raise BadInput(f"manifest field {w.rstrip('.')} must be an object with {', '.join(CHECK_FIELDS)}")
    unknown = set(c) - set(CHECK_FIELDS)
    if unknown:
        raise BadInput(
            f"manifest field {w.rstrip('.')} has unknown fields {sorted(unknown)}: use {', '.join(CHECK_FIELDS)}"
        )
    cid = _str(c, "id", w)
    if not _CHECK_ID.match(cid):
        raise BadInput(
            f"manifest field {w}id is {cid!r}: use lower-case letters, digits and -, starting with a letter "
            "(it names folders and a metric), at most 100 characters"
        )
    if cid in seen:
        raise BadInput(f"manifest field {w}id {cid!r} is used twice: ids key the resume, make them unique")
    seen.add(cid)
    task = _str(c, "task", w)
    if not _TASK_NAME.match(task):
        raise BadInput(
            f"manifest field {w}task is {task!r}: name {MULTIPLE_CHOICE} or a registered task of an installed "
            "package as <package>/<task>, e.g. inspect_evals/gsm8k"
        )
    params = c.get("params", {})
    check_task_params(params, w, "capabilities.grader", CHECK_GRADER_PARAMS)
    samples = c.get("samples")
    if task == MULTIPLE_CHOICE:
        if not isinstance(samples, list) or not samples:
            raise BadInput(
                f"manifest field {w}samples must be a non-empty list of {{{', '.join(SAMPLE_FIELDS)}}}: "
                f"{MULTIPLE_CHOICE} asks the questions given there"
            )
        if "samples" in params:
            raise BadInput(f"manifest field {w}params.samples: give the questions in {w}samples instead")
        ids: set[str] = set()
        samples = [parse_choice_sample(s, f"{w}samples[{j}].", ids) for j, s in enumerate(samples)]
    elif samples is not None:
        raise BadInput(
            f"manifest field {w}samples is only for task {MULTIPLE_CHOICE} (task {task} brings its own dataset): "
            "remove it, or set the task to " + MULTIPLE_CHOICE
        )
    return CapabilityCheck(
        id=cid,
        task=task,
        params=dict(params),
        limit=_int(c, "limit", w, minimum=1),
        maxTokens=_int(c, "maxTokens", w, minimum=1),
        temperature=_num(c, "temperature", w, lo=0),
        samples=samples,
    )


def parse_capabilities(d: Any) -> CapabilitiesSpec:
    w = "capabilities."
    if not isinstance(d, dict):
        raise BadInput("manifest field capabilities is missing: a capabilities job needs {checks, batchSize?, grader?}")
    unknown = set(d) - {"checks", "batchSize", "grader"}
    if unknown:
        raise BadInput(
            f"manifest field capabilities has unknown fields {sorted(unknown)}: use checks, batchSize, grader"
        )
    checks = d.get("checks")
    if not isinstance(checks, list) or not checks:
        raise BadInput(
            'manifest field capabilities.checks must be a non-empty list of {"id", "task", "params"?, "samples"?, '
            '"limit", "maxTokens", "temperature"}'
        )
    seen: set[str] = set()
    return CapabilitiesSpec(
        checks=[parse_check(c, i, seen) for i, c in enumerate(checks)],
        batchSize=_int(d, "batchSize", w, minimum=1) if d.get("batchSize") is not None else None,
        grader=parse_grader(d["grader"], "capabilities.grader") if d.get("grader") is not None else None,
    )


_CALIBRATION_KIND = re.compile(r"^inspect:[a-z][a-z0-9_-]{0,62}$")
_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
CALIBRATION_JOB_FIELDS = {"kind", "jobId", "baseModel", "tokenizerUri", "checkpointPrefix", "outputUri", "seed"}
CALIBRATION_JOB_FIELDS |= {"device", "inspectCalibration"}


def parse_calibration_job(m: Manifest, d: dict[str, Any]) -> None:
    """kind "inspect-calibration": no model under test, only the block (fields of other kinds are refused)."""
    unknown = set(d) - CALIBRATION_JOB_FIELDS
    if unknown:
        raise BadInput(
            f"manifest fields {sorted(unknown)} are not for inspect-calibration jobs (they grade fixed replies, "
            "no model is loaded); remove them"
        )
    m.inspectCalibration = parse_inspect_calibration(d.get("inspectCalibration"))


def parse_calibration_item(it: Any, w: str, ids: set[str], replies: set[str]) -> dict[str, Any]:
    if not isinstance(it, dict) or set(it) != {"id", "shows", "reply"}:
        raise BadInput(f'manifest field {w} must be an object with exactly "id", "shows" and "reply", got {it!r}')
    iid = _str(it, "id", f"{w}.")
    if not _ITEM_ID.match(iid):
        raise BadInput(f"manifest field {w}.id is {iid!r}: use letters, digits and . _ -, at most 200 characters")
    if not isinstance(it["shows"], bool):
        raise BadInput(f"manifest field {w}.shows must be true or false, got {it['shows']!r}")
    reply = _str(it, "reply", f"{w}.")
    if iid in ids:
        raise BadInput(f"manifest field {w}.id {iid!r} is used twice in its scenario: make ids unique")
    # Samples are mapped back to items by the reply the model gave: two items with one reply cannot be told apart.
    if reply in replies:
        raise BadInput(
            f"manifest field {w}.reply repeats an earlier item's reply in its scenario: make replies distinct"
        )
    ids.add(iid)
    replies.add(reply)
    return {"id": iid, "shows": it["shows"], "reply": reply}


def parse_calibration_scenario(s: Any, i: int, kinds: set[str]) -> CalibrationScenario:
    w = f"inspectCalibration.scenarios[{i}]"
    if not isinstance(s, dict) or set(s) - {"kind", "params", "items"}:
        raise BadInput(f'manifest field {w} must be an object with "kind", "params" and "items", got {s!r}')
    kind = _str(s, "kind", f"{w}.")
    if not _CALIBRATION_KIND.match(kind):
        raise BadInput(f"manifest field {w}.kind is {kind!r}: use inspect:<scenario>, e.g. inspect:blackmail")
    if kind in kinds:
        raise BadInput(f"manifest field {w}.kind {kind!r} is used twice: kinds key the resume, make them unique")
    kinds.add(kind)
    params = s.get("params", {})
    check_task_params(params, f"{w}.", "inspectCalibration.grader", ("grader_model",))
    items = s.get("items")
    if not isinstance(items, list) or not items:
        raise BadInput(f'manifest field {w}.items must be a non-empty list of {{"id", "shows", "reply"}}')
    ids: set[str] = set()
    replies: set[str] = set()
    parsed = [parse_calibration_item(it, f"{w}.items[{j}]", ids, replies) for j, it in enumerate(items)]
    return CalibrationScenario(kind=kind, params=dict(params), items=parsed)


def parse_inspect_calibration(d: Any) -> InspectCalibrationSpec:
    w = "inspectCalibration."
    if not isinstance(d, dict):
        raise BadInput(
            "manifest field inspectCalibration is missing: an inspect-calibration job needs {task, scenarios, grader}"
        )
    unknown = set(d) - {"task", "scenarios", "grader"}
    if unknown:
        raise BadInput(
            f"manifest field inspectCalibration has unknown fields {sorted(unknown)}: use task, scenarios, grader"
        )
    task = _str(d, "task", w)
    if not _TASK_NAME.match(task):
        raise BadInput(
            f"manifest field inspectCalibration.task is {task!r}: name a registered task of an installed package "
            "as <package>/<task>, e.g. inspect_evals/agentic_misalignment"
        )
    scenarios = d.get("scenarios")
    if not isinstance(scenarios, list) or not scenarios:
        raise BadInput(
            'manifest field inspectCalibration.scenarios must be a non-empty list of {"kind", "params", "items"}'
        )
    kinds: set[str] = set()
    return InspectCalibrationSpec(
        task=task,
        scenarios=[parse_calibration_scenario(s, i, kinds) for i, s in enumerate(scenarios)],
        grader=parse_grader(d.get("grader"), "inspectCalibration.grader"),
    )


def load_manifest(path: str) -> Manifest:
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"manifest file {path} does not exist")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"manifest file {path} is not valid JSON: {e}") from e
    return parse_manifest(d)
