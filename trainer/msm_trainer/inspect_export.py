"""An Inspect log (.eval) of a cell evaluated with msm's own suite, so Inspect View and inspect_ai.analysis read it
like the logs an Inspect task writes itself.

    python -m msm_trainer.inspect_export <bundle.json> <out.eval>

The bundle is written by `msm inspect-logs` (src/eval/inspect/own-suite-log.ts): the cell's samples, each with
its prompt, completion and msm judge's verdict. Nothing is sampled or judged again here; this only re-expresses
stored records in Inspect's own types.

Scores: one scorer, "msm_judge". A judged sample scores 1 when the judge found it violates (counted toward the
rate) and 0 when it complies; the verdict is the score's answer and the judge's reasoning its explanation. An
unjudged sample stays in the log without a score (a 0 would count it as complying), its reason in the sample's
metadata. The metric "harmful_rate" is the mean over judged samples: the cell's k/n in the report.

Exit codes: 0 written, 2 a bad bundle (the message names the field)."""

import json
import sys
from pathlib import Path
from typing import Any

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalMetric,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    write_eval_log,
)
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ModelOutput,
    ModelUsage,
    StopReason,
)
from inspect_ai.scorer import Score

from .errors import EXIT_BAD_INPUT, BadInput

SCORER = "msm_judge"
METRIC = "harmful_rate"
VERDICTS = ("violates", "complies", "unjudged")
# msm's finish reasons as Inspect's stop reasons: "length" is Inspect's "max_tokens"; anything else unknown.
STOP_REASONS: dict[str, StopReason] = {"stop": "stop", "length": "max_tokens"}
MESSAGE_TYPES = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}
BUNDLE_FIELDS = ("task", "model", "cell", "createdAt", "evalSet", "judgeModel", "samples")
SAMPLE_FIELDS = ("id", "epoch", "input", "output", "verdict")


def _require(obj: Any, fields: tuple[str, ...], where: str) -> None:
    if not isinstance(obj, dict):
        raise BadInput(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [f for f in fields if f not in obj or obj[f] is None]
    if missing:
        raise BadInput(f"{where}: missing field {', '.join(missing)} (write the bundle with `msm inspect-logs`)")


def _input(raw: Any, where: str) -> str | list:
    """The prompt: its text, or its chat messages as Inspect's message types."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, list):
        raise BadInput(f"{where}.input: give the prompt text or a list of {{role, content}} messages")
    out = []
    for i, m in enumerate(raw):
        role = m.get("role") if isinstance(m, dict) else None
        kind = MESSAGE_TYPES.get(role) if isinstance(role, str) else None
        if kind is None or not isinstance(m.get("content"), str):
            raise BadInput(f"{where}.input[{i}]: a message needs role (system, user, assistant) and content text")
        out.append(kind(content=m["content"]))
    return out


def _usage(s: dict) -> ModelUsage | None:
    """Token counts when the trainer recorded both; Inspect's usage has no 'unknown' for one of them."""
    i, o = s.get("inputTokens"), s.get("outputTokens")
    if not isinstance(i, int) or not isinstance(o, int):
        return None
    return ModelUsage(input_tokens=i, output_tokens=o, total_tokens=i + o)


def _output(s: dict, model: str) -> ModelOutput:
    out = ModelOutput.from_content(model=model, content=s["output"], stop_reason=_stop_reason(s.get("finishReason")))
    out.usage = _usage(s)
    return out


def _stop_reason(finish: Any) -> StopReason:
    return STOP_REASONS.get(finish, "unknown") if isinstance(finish, str) else "unknown"


def _scores(s: dict) -> dict[str, Score] | None:
    """1 violates, 0 complies; an unjudged sample has no score (its reason is in the metadata)."""
    if s["verdict"] == "unjudged":
        return None
    value = 1 if s["verdict"] == "violates" else 0
    return {SCORER: Score(value=value, answer=s["verdict"], explanation=s.get("explanation") or "")}


def _sample(s: Any, i: int, model: str) -> EvalSample:
    where = f"samples[{i}]"
    _require(s, SAMPLE_FIELDS, where)
    if s["verdict"] not in VERDICTS:
        raise BadInput(f"{where}.verdict: {s['verdict']!r} is not one of {', '.join(VERDICTS)}")
    if not isinstance(s["epoch"], int) or s["epoch"] < 1:
        raise BadInput(f"{where}.epoch: give the sample's number + 1 (an integer from 1), got {s['epoch']!r}")
    metadata = dict(s.get("metadata") or {})
    metadata["verdict"] = s["verdict"]
    output = _output(s, model)
    prompt = _input(s["input"], where)
    # The conversation Inspect View shows: the prompt's messages, then the model's answer.
    messages = [ChatMessageUser(content=prompt)] if isinstance(prompt, str) else list(prompt)
    return EvalSample(
        id=str(s["id"]),
        epoch=s["epoch"],
        input=prompt,
        target="",
        messages=[*messages, output.message],
        output=output,
        scores=_scores(s),
        metadata=metadata,
        model_usage={model: output.usage} if output.usage else {},
    )


def _results(samples: list[EvalSample]) -> EvalResults:
    judged = [s.scores[SCORER].as_float() for s in samples if s.scores]
    rate = sum(judged) / len(judged) if judged else float("nan")
    score = EvalScore(
        name=SCORER,
        scorer=SCORER,
        scored_samples=len(judged),
        unscored_samples=len(samples) - len(judged),
        metrics={METRIC: EvalMetric(name=METRIC, value=rate)},
    )
    return EvalResults(total_samples=len(samples), completed_samples=len(samples), scores=[score])


def build_log(bundle: Any) -> EvalLog:
    """The EvalLog of one cell's bundle; BadInput names the first field that is missing or wrong."""
    _require(bundle, BUNDLE_FIELDS, "bundle")
    _require(bundle["evalSet"], ("sha256", "prompts"), "bundle.evalSet")
    if not isinstance(bundle["samples"], list):
        raise BadInput("bundle.samples: expected a list of samples")
    model = str(bundle["model"])
    samples = [_sample(s, i, model) for i, s in enumerate(bundle["samples"])]
    epochs = max((s.epoch for s in samples), default=1)
    spec = EvalSpec(
        created=bundle["createdAt"],
        task=bundle["task"],
        model=model,
        dataset=EvalDataset(
            name=f"eval-{bundle['evalSet']['sha256'][:16]}",
            samples=bundle["evalSet"]["prompts"],
            sample_ids=sorted({s.id for s in samples}),
        ),
        config=EvalConfig(epochs=epochs),
        metadata={"cell": bundle["cell"], "judgeModel": bundle["judgeModel"], "evalSet": bundle["evalSet"]},
    )
    return EvalLog(eval=spec, status="success", samples=samples, results=_results(samples))


def export(bundle_path: str, out_path: str) -> None:
    try:
        bundle = json.loads(Path(bundle_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadInput(f"{bundle_path}: cannot read the bundle as JSON ({e})") from e
    write_eval_log(build_log(bundle), out_path, format="eval")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m msm_trainer.inspect_export <bundle.json> <out.eval>", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        export(argv[0], argv[1])
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
