"""Parse and validate the job manifest (camelCase JSON). Its schema is src/training/manifest-schema.ts; the JSON
Schema made of it ships here as manifest.schema.json. A manifest is validated against that schema, its absent
fields take the schema's defaults, and only then does this module read it and apply the rules a schema cannot
state (a kind's required fields, unique ids, the grader's key, inputs that must exist). No torch here: bad input
is reported in milliseconds, before the heavy imports."""

import copy
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from . import uris, wandb_log
from .errors import BadInput
from .weights import check_path

SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")
SCHEMA_SOURCE = "src/training/manifest-schema.ts"
REGENERATE = "bin/msm schema manifest trainer/msm_trainer/manifest.schema.json"
# Jobs that evaluate a model, or a grader (no training curves to log).
EVAL_KINDS = ("generate", "inspect", "capabilities", "inspect-calibration")


@dataclass
class ModelInit:
    init: str  # "random" | "pretrained"
    path: str | None
    hiddenSize: int
    numLayers: int
    numHeads: int
    intermediateSize: int
    vocabSize: int | None  # None: take it from the data / tokenizer
    initSeed: int
    numKvHeads: int | None  # grouped-query attention; None = numHeads
    arch: str  # random models: "llama", or "qwen2" (attention biases)

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
    checkpointEveryMinutes: float
    compile: bool
    # true/false, or the fraction of decoder layers that recompute their activations (spread evenly): less
    # recomputation than true where memory allows it.
    gradientCheckpointing: bool | float
    # Rows per forward pass on one rank; batchSize (rows per optimizer step) is reached by accumulation.
    microBatchSize: int

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

    id: str  # the check's checkpoint folder and its log's name
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
    fraction: float
    # aft from a LoRA output with a LoRA job: merge that adapter into its base and train a new one,
    # instead of continuing it (the paper's practice, the default).
    freshAdapter: bool
    # aft: draw the nested subsets (AFT and mix rows) from this job seed's own permutation, not the shared one.
    subsetBySeed: bool
    samplesPerPrompt: int
    temperature: float
    maxNewTokens: int
    dataUri: str | None = None
    initFromUri: str | None = None
    # aft: instruction-tuning rows mixed in, mixRatio of them per AFT row (see mixing.py).
    mixDataUri: str | None = None
    mixRatio: float = 0.0  # 0: no mix (mixRatio is only read with mixDataUri, which requires it)
    hyper: Hyper | None = None
    modelUri: str | None = None
    # generate/inspect/capabilities: a model msm did not train (an external arm): a local folder, s3:// or hf:
    # id holding a PEFT adapter of the base model, or a whole Hugging Face model. Never with modelUri.
    externalModel: str | None = None
    promptsUri: str | None = None
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


# The schema: validation, and the defaults it declares.


@functools.cache
def schema() -> dict[str, Any]:
    """The manifest's JSON Schema (generated from src/training/manifest-schema.ts; never edited by hand)."""
    if not SCHEMA_FILE.is_file():
        raise BadInput(
            f"the trainer's manifest schema {SCHEMA_FILE} is missing: ship the whole msm_trainer package "
            f"(regenerate the file with {REGENERATE})"
        )
    return cast(dict[str, Any], json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _subschema(definition: str | None) -> dict[str, Any]:
    """The whole manifest's schema, or one of its named parts ($defs, e.g. ModelInit) with the parts it uses."""
    root = schema()
    if definition is None:
        return root
    return {"$ref": f"#/$defs/{definition}", "$defs": root.get("$defs", {})}


@functools.cache
def _validator(definition: str | None) -> Draft202012Validator:
    return Draft202012Validator(_subschema(definition))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return cast(dict[str, Any], schema()["$defs"][ref.removeprefix("#/$defs/")])
    return node


def _fill_defaults(value: Any, node: dict[str, Any]) -> None:
    """Give every absent property of `value` (valid against `node`) the default its schema declares, in place."""
    node = _resolve(node)
    if isinstance(value, dict):
        props: dict[str, Any] = node.get("properties", {})
        for key, sub in props.items():
            if key not in value:
                default = sub["default"] if "default" in sub else _resolve(sub).get("default", _NO_DEFAULT)
                if default is not _NO_DEFAULT:
                    value[key] = copy.deepcopy(default)
            if key in value:
                _fill_defaults(value[key], sub)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):  # records (task params)
            for key in value.keys() - props.keys():
                _fill_defaults(value[key], extra)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _fill_defaults(item, node["items"])
    for branches in (node.get("anyOf"), node.get("oneOf")):
        # A union: the defaults of the first branch the value matches.
        for b in branches or ():
            if Draft202012Validator({**b, "$defs": schema().get("$defs", {})}).is_valid(value):
                _fill_defaults(value, b)
                break


_NO_DEFAULT = object()

_TYPE_WORDS = {
    "boolean": "true or false",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _field_path(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _violation(e: ValidationError, where: list[str | int]) -> BadInput:
    """A schema violation as a message that names the field, what is wrong with it and how to write it."""
    path = [*where, *e.absolute_path]
    v = e.instance
    hint = e.schema.get("description") if isinstance(e.schema, dict) else None
    kw = e.validator
    if kw == "required":
        missing = next(k for k in e.validator_value if k not in v)
        path.append(missing)
        what = "is missing: set it"
    elif kw == "additionalProperties":
        allowed = list(e.schema.get("properties", {}))
        what = f"has unknown fields {sorted(set(v) - set(allowed))}: use {', '.join(allowed)}"
    elif kw == "enum":
        what = f"is {v!r}: use one of {', '.join(str(x) for x in e.validator_value)}"
    elif kw == "type":
        types: list[str] = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
        what = f"must be {' or '.join(_TYPE_WORDS.get(t) or t for t in types)}, got {v!r}"
    elif kw == "minLength" and e.validator_value == 1:
        what = "must be a non-empty string"
    elif kw == "pattern" and "propertyNames" in e.relative_schema_path:
        what = f"has the key {v!r}: {hint or 'keys must match ' + e.validator_value}"
    elif kw == "pattern":
        what = f"is {v!r}: {hint or 'it must match ' + e.validator_value}"
    elif kw in ("anyOf", "oneOf") and hint:
        what = f"must be {hint}, got {v!r}"
    elif kw == "minimum":
        what = f"must be >= {e.validator_value}, got {v!r}"
    elif kw == "exclusiveMinimum":
        what = f"must be > {e.validator_value}, got {v!r}"
    elif kw == "maximum":
        what = f"must be <= {e.validator_value}, got {v!r}"
    elif kw == "exclusiveMaximum":
        what = f"must be < {e.validator_value}, got {v!r}"
    elif kw == "minItems":
        what = "must be a non-empty list" if e.validator_value == 1 else f"needs at least {e.validator_value} items"
    elif kw == "maxItems":
        what = f"has {len(v)} items: at most {e.validator_value}"
    else:
        what = f"is invalid: {e.message}"
    name = f"manifest field {_field_path(path)}" if path else "the manifest"
    return BadInput(f"{name} {what} (the schema: {SCHEMA_SOURCE})")


def validated(d: Any, definition: str | None = None, where: str | None = None) -> dict[str, Any]:
    """`d` checked against the schema (or one of its $defs) and completed with its defaults: a new dict."""
    errors = list(_validator(definition).iter_errors(d))
    if errors:
        # The most specific problem (deepest in the manifest), one at a time: its fix often fixes the others.
        raise _violation(max(errors, key=relevance), [where] if where else [])
    out = copy.deepcopy(d)
    _fill_defaults(out, _subschema(definition))
    return cast(dict[str, Any], out)


def _need(d: dict[str, Any], key: str, why: str) -> Any:
    """A field the schema leaves optional that this job's kind needs."""
    if d.get(key) is None:
        raise BadInput(f"manifest field {key} is missing: {why} (see {SCHEMA_SOURCE})")
    return d[key]


def _only_for(d: dict[str, Any], keys: tuple[str, ...], kinds: str, kind: str) -> None:
    for key in keys:
        if d.get(key) is not None:
            raise BadInput(f"manifest field {key} is for {kinds}, not {kind}; remove it")


# The manifest's parts: the schema has checked their types and ranges; what is left are the rules between fields.


def _model_init(d: dict[str, Any], where: str) -> ModelInit:
    m = ModelInit(
        init=d["init"],
        path=d.get("path"),
        hiddenSize=d["hiddenSize"],
        numLayers=d["numLayers"],
        numHeads=d["numHeads"],
        intermediateSize=d["intermediateSize"],
        vocabSize=d.get("vocabSize"),
        initSeed=d["initSeed"],
        numKvHeads=d.get("numKvHeads"),
        arch=d["arch"],
    )
    if m.init == "pretrained":
        if not m.path:
            raise BadInput(f"manifest field {where}.path is missing: a pretrained base model needs the model's place")
        check_path(m.path, f"{where}.path")  # local folder or .gguf, s3://, hf:<org>/<name> (see weights.py)
        return m
    if m.numKvHeads and m.numHeads % m.numKvHeads != 0:
        raise BadInput(f"manifest field {where}.numKvHeads: {m.numKvHeads} must divide numHeads {m.numHeads}")
    if m.hiddenSize % m.numHeads != 0 or (m.hiddenSize // m.numHeads) % 2 != 0:
        raise BadInput(
            f"manifest field {where}.numHeads: hiddenSize {m.hiddenSize} / numHeads {m.numHeads} "
            "must be an even integer (the rotary head dimension); pick numHeads dividing hiddenSize"
        )
    return m


def parse_model_init(d: Any, where: str = "baseModel") -> ModelInit:
    """A base model block on its own (its schema is the manifest's ModelInit)."""
    return _model_init(validated(d, "ModelInit", where), where)


def _hyper(d: dict[str, Any]) -> Hyper:
    gc = d["gradientCheckpointing"]
    return Hyper(
        method=d["method"],
        loraR=int(d["loraR"]),
        loraAlpha=float(d["loraAlpha"]),
        loraDropout=float(d["loraDropout"]),
        lr=float(d["lr"]),
        warmupRatio=float(d["warmupRatio"]),
        weightDecay=float(d["weightDecay"]),
        batchSize=int(d["batchSize"]),
        epochs=float(d["epochs"]),
        maxSteps=int(d["maxSteps"]),
        checkpointEverySteps=int(d["checkpointEverySteps"]),
        checkpointEveryMinutes=float(d["checkpointEveryMinutes"]),
        compile=d["compile"],
        gradientCheckpointing=gc if isinstance(gc, bool) else float(gc),
        microBatchSize=int(d["microBatchSize"]),
    )


def parse_hyper(d: Any) -> Hyper:
    """A hyper-parameter block on its own (its schema is the manifest's TrainHyper), defaults filled."""
    return _hyper(validated(d, "TrainHyper", "hyper"))


def _logging(d: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The optional logging block: {"wandb": {"project", "entity"?, "mode"?}} (TensorBoard is always on)."""
    w = (d or {}).get("wandb")
    if w is None:
        return None
    if kind in EVAL_KINDS:
        raise BadInput(f"manifest field logging.wandb is for training jobs, not {kind}; remove it")
    wandb_log.require_installed()
    return {"project": w["project"], "entity": w.get("entity"), "mode": w.get("mode")}


def parse_manifest(raw: Any) -> Manifest:
    d = validated(raw)
    kind = d["kind"]
    m = Manifest(
        kind=kind,
        jobId=d["jobId"],
        baseModel=_model_init(d["baseModel"], "baseModel"),
        tokenizerUri=d.get("tokenizerUri") or "",
        checkpointPrefix=d["checkpointPrefix"],
        outputUri=d["outputUri"],
        seed=int(d["seed"]),
        device=d["device"],
        fraction=float(d["fraction"]),
        freshAdapter=d["freshAdapter"],
        subsetBySeed=d["subsetBySeed"],
        samplesPerPrompt=int(d["samplesPerPrompt"]),
        temperature=float(d["temperature"]),
        maxNewTokens=int(d["maxNewTokens"]),
        raw=raw,
    )
    m.wandb = _logging(d.get("logging"), kind)
    # Check every URI now so a typo, a missing input or refused S3 credentials fail before any work.
    uris.check_uri(m.checkpointPrefix, "checkpointPrefix")
    uris.check_uri(m.outputUri, "outputUri")
    if kind == "generate":
        m.tokenizerUri = _need(d, "tokenizerUri", "a generate job decodes and encodes with the data's tokenizer")
        m.promptsUri = _need(d, "promptsUri", "a generate job samples these prompts (a JSONL file)")
        m.modelUri = d.get("modelUri")
        _external_model(m, d)
        m.batchSize = int(d["batchSize"]) if d.get("batchSize") is not None else None
        m.systemPrompt = d.get("systemPrompt")
        m.thinking = d.get("thinking")
        uris.require_input(m.tokenizerUri, "tokenizerUri", "tokenizer")
        uris.require_input(m.promptsUri, "promptsUri", "file")
        if m.modelUri:
            uris.require_input(m.modelUri, "modelUri", "model")
    elif kind in ("inspect", "capabilities"):
        _inspect_job(m, d)
    elif kind == "inspect-calibration":
        _calibration_job(m, d)
    else:
        _training_job(m, d)
    return m


def _training_job(m: Manifest, d: dict[str, Any]) -> None:
    """kinds "midtrain" and "aft": the data, the start point, the mix and the hyper-parameters."""
    kind = m.kind
    _only_for(d, ("systemPrompt", "thinking"), "generate jobs", kind)
    _only_for(d, ("inspect", "capabilities", "inspectCalibration"), "the jobs of their kinds", kind)
    m.dataUri = _need(d, "dataUri", f"a {kind} job trains on a packed dataset (its manifest.json)")
    m.initFromUri = d.get("initFromUri")
    if m.freshAdapter and not m.initFromUri:
        raise BadInput("manifest field freshAdapter needs initFromUri (the output whose adapter is merged first)")
    m.mixDataUri = d.get("mixDataUri")
    if m.mixDataUri is not None:
        if kind != "aft":
            raise BadInput(f"manifest field mixDataUri is for aft jobs, not {kind}; remove it")
        m.mixRatio = float(_need(d, "mixRatio", "how many mix rows go with each AFT row (aft.mix.ratio)"))
    elif d.get("mixRatio") is not None:
        raise BadInput("manifest field mixRatio needs mixDataUri (the instruction-tuning data to mix in)")
    if m.subsetBySeed and kind != "aft":
        raise BadInput(f"manifest field subsetBySeed is for aft jobs, not {kind}; remove it")
    m.hyper = _hyper(_need(d, "hyper", "training jobs need hyper-parameters (TrainHyper)"))
    uris.require_input(m.dataUri, "dataUri", "packed")
    if m.mixDataUri:
        uris.require_input(m.mixDataUri, "mixDataUri", "packed")
    if m.initFromUri:
        uris.require_input(m.initFromUri, "initFromUri", "model")


def _grader(d: dict[str, Any], where: str) -> Grader:
    g = Grader(kind=d["kind"], model=d["model"], baseUrl=d.get("baseUrl"), apiKeyEnv=d.get("apiKeyEnv"))
    if g.apiKeyEnv is None:
        if not (g.kind == "openai" and g.baseUrl):
            raise BadInput(
                f"manifest field {where}.apiKeyEnv is missing: name the environment variable that holds "
                f"the {g.kind} grader's API key (only an openai grader with a baseUrl may go without one)"
            )
    elif not os.environ.get(g.apiKeyEnv):
        raise BadInput(
            f"manifest field {where}.apiKeyEnv names {g.apiKeyEnv}, which is not set (or empty) in the "
            "trainer's environment: set it where the job runs, or name the variable that holds the grader's key"
        )
    return g


def _unique(value: str, seen: set[str], what: str) -> None:
    if value in seen:
        raise BadInput(f"manifest field {what} {value!r} is used twice: it keys the resume, make them unique")
    seen.add(value)


def check_task_params(params: dict[str, Any], w: str, grader_field: str, grader_params: tuple[str, ...]) -> None:
    """A condition's or check's params (JSON scalars keyed by identifiers, says the schema): none of them may be
    an argument the job sets to the grader."""
    for k in params:
        if k in grader_params:
            raise BadInput(f"manifest field {w}params.{k}: set the grader in {grader_field} instead")


def _inspect(d: dict[str, Any]) -> InspectSpec:
    conditions, seen = [], set[str]()
    for i, c in enumerate(d["conditions"]):
        w = f"inspect.conditions[{i}]."
        _unique(c["id"], seen, f"{w}id")
        check_task_params(c["params"], w, "inspect.grader", ("grader_model",))
        conditions.append(InspectCondition(id=c["id"], params=dict(c["params"])))
    return InspectSpec(
        task=d["task"],
        conditions=conditions,
        epochs=int(d["epochs"]),
        maxTokens=int(d["maxTokens"]),
        temperature=float(d["temperature"]),
        grader=_grader(d["grader"], "inspect.grader"),
        batchSize=int(d["batchSize"]) if d.get("batchSize") is not None else None,
    )


def _external_model(m: Manifest, d: dict[str, Any]) -> None:
    """externalModel: an external arm's model, as baseModel.path is written; refused beside modelUri."""
    from . import weights

    m.externalModel = d.get("externalModel")
    if m.externalModel is None:
        return
    if m.modelUri:
        raise BadInput("manifest fields modelUri and externalModel both name the model to load: give one")
    weights.check_path(m.externalModel, "externalModel")


def _inspect_job(m: Manifest, d: dict[str, Any]) -> None:
    """kinds "inspect" and "capabilities": the model under test (baseModel, modelUri?) and the job's block."""
    if m.baseModel.init != "pretrained":
        raise BadInput(
            f"manifest field baseModel: an {m.kind} job needs a pretrained base model (init 'pretrained' with a "
            "path): its tokenizer and chat template render the task's prompts"
        )
    for key in ("systemPrompt", "promptsUri", "dataUri", "hyper"):
        if d.get(key) is not None:
            raise BadInput(f"manifest field {key} is not for {m.kind} jobs (the task makes its own prompts); remove it")
    for other in ("inspect", "capabilities", "inspectCalibration"):
        if other != m.kind and d.get(other) is not None:
            raise BadInput(f"manifest field {other} is not for {m.kind} jobs; remove it (or set its kind)")
    m.modelUri = d.get("modelUri")
    _external_model(m, d)
    m.thinking = d.get("thinking")
    if m.kind == "inspect":
        m.inspect = _inspect(
            _need(d, "inspect", "an inspect job needs {task, conditions, epochs, maxTokens, temperature, grader}")
        )
    else:
        m.capabilities = _capabilities(
            _need(d, "capabilities", "a capabilities job needs {checks, batchSize?, grader?}")
        )
    if m.modelUri:
        uris.require_input(m.modelUri, "modelUri", "model")


MULTIPLE_CHOICE = "msm/multiple_choice"
# A check's task arguments that take the grader (Inspect tasks name them so: xstest's is scorer_model).
CHECK_GRADER_PARAMS = ("grader_model", "scorer_model", "judge_model")


def _choice_sample(d: dict[str, Any], w: str, seen: set[str]) -> dict[str, Any]:
    """One inline question of msm/multiple_choice: {"id", "question", "choices", "target": a choice letter}."""
    if d["id"] in seen:
        raise BadInput(f"manifest field {w}id {d['id']!r} is used twice in the check: make the sample ids unique")
    seen.add(d["id"])
    letters = [chr(ord("A") + i) for i in range(len(d["choices"]))]
    if d["target"] not in letters:
        raise BadInput(
            f"manifest field {w}target is {d['target']!r}: name the correct choice by its letter, one of "
            f"{', '.join(letters)}"
        )
    return {"id": d["id"], "question": d["question"], "choices": list(d["choices"]), "target": d["target"]}


def _check(c: dict[str, Any], i: int, seen: set[str]) -> CapabilityCheck:
    w = f"capabilities.checks[{i}]."
    _unique(c["id"], seen, f"{w}id")
    task, params, samples = c["task"], c["params"], c.get("samples")
    check_task_params(params, w, "capabilities.grader", CHECK_GRADER_PARAMS)
    if task == MULTIPLE_CHOICE:
        if not samples:
            raise BadInput(
                f"manifest field {w}samples must be a non-empty list of {{id, question, choices, target}}: "
                f"{MULTIPLE_CHOICE} asks the questions given there"
            )
        if "samples" in params:
            raise BadInput(f"manifest field {w}params.samples: give the questions in {w}samples instead")
        ids: set[str] = set()
        samples = [_choice_sample(s, f"{w}samples[{j}].", ids) for j, s in enumerate(samples)]
    elif samples is not None:
        raise BadInput(
            f"manifest field {w}samples is only for task {MULTIPLE_CHOICE} (task {task} brings its own dataset): "
            "remove it, or set the task to " + MULTIPLE_CHOICE
        )
    return CapabilityCheck(
        id=c["id"],
        task=task,
        params=dict(params),
        limit=int(c["limit"]),
        maxTokens=int(c["maxTokens"]),
        temperature=float(c["temperature"]),
        samples=samples,
    )


def _capabilities(d: dict[str, Any]) -> CapabilitiesSpec:
    seen: set[str] = set()
    return CapabilitiesSpec(
        checks=[_check(c, i, seen) for i, c in enumerate(d["checks"])],
        batchSize=int(d["batchSize"]) if d.get("batchSize") is not None else None,
        grader=_grader(d["grader"], "capabilities.grader") if d.get("grader") is not None else None,
    )


# What an inspect-calibration job reads (it loads no model; baseModel is only the job's disk estimate).
CALIBRATION_JOB_FIELDS = {"kind", "jobId", "baseModel", "tokenizerUri", "checkpointPrefix", "outputUri", "seed"}
CALIBRATION_JOB_FIELDS |= {"device", "inspectCalibration"}


def _calibration_job(m: Manifest, d: dict[str, Any]) -> None:
    """kind "inspect-calibration": no model under test, only the block (fields of other kinds are refused)."""
    unknown = set(m.raw) - CALIBRATION_JOB_FIELDS  # as written: the schema's defaults fill other kinds' fields
    if unknown:
        raise BadInput(
            f"manifest fields {sorted(unknown)} are not for inspect-calibration jobs (they grade fixed replies, "
            "no model is loaded); remove them"
        )
    block = _need(d, "inspectCalibration", "an inspect-calibration job needs {task, scenarios, grader}")
    kinds: set[str] = set()
    scenarios = []
    for i, s in enumerate(block["scenarios"]):
        w = f"inspectCalibration.scenarios[{i}]"
        _unique(s["kind"], kinds, f"{w}.kind")
        check_task_params(s["params"], f"{w}.", "inspectCalibration.grader", ("grader_model",))
        ids: set[str] = set()
        replies: set[str] = set()
        for j, it in enumerate(s["items"]):
            if it["id"] in ids:
                raise BadInput(
                    f"manifest field {w}.items[{j}].id {it['id']!r} is used twice in its scenario: make ids unique"
                )
            # Samples map back to items by the reply the model gave: two items with one reply are indistinguishable.
            if it["reply"] in replies:
                raise BadInput(
                    f"manifest field {w}.items[{j}].reply repeats an earlier item's reply in its scenario: "
                    "make replies distinct"
                )
            ids.add(it["id"])
            replies.add(it["reply"])
        items = [{"id": it["id"], "shows": it["shows"], "reply": it["reply"]} for it in s["items"]]
        scenarios.append(CalibrationScenario(kind=s["kind"], params=dict(s["params"]), items=items))
    m.inspectCalibration = InspectCalibrationSpec(
        task=block["task"], scenarios=scenarios, grader=_grader(block["grader"], "inspectCalibration.grader")
    )


def _refuse_constant(name: str) -> Any:
    raise BadInput(f"the manifest holds {name}, which is not JSON: write a finite number")


def load_manifest(path: str) -> Manifest:
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"manifest file {path} does not exist")
    try:
        d = json.loads(p.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"manifest file {path} is not valid JSON: {e}") from e
    return parse_manifest(d)
