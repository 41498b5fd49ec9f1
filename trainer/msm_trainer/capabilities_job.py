"""capabilities: a list of Inspect tasks ("checks": capability, over-refusal and a spec Q&A eval) run against
one model at a small sample count, each sample's score reported, per arm of an experiment.

Layout (resumable per check; a finished check is never sampled again):

    <checkpointPrefix>/checks/<check id>/{log.eval, results.jsonl, COMPLETE}   (written atomically)
    <checkpointPrefix>/merged-model/      a LoRA output merged into its base (local only, a cache)
    <outputUri>/{results.jsonl, logs/<check id>.eval, metrics.json, COMPLETE}

The model, the grader, the task arguments and the folders are the inspect job's (inspect_job.py). A check's
task is msm/<name>, built into the trainer (inspect_tasks.py: msm/multiple_choice asks the manifest's own
questions), or a registered task of an installed package (inspect_evals/gsm8k, inspect_evals/xstest, ...).
The grader goes to whichever of grader_model, scorer_model, judge_model the task takes (xstest's is
scorer_model); such a task without a grader in the manifest is refused before any model loads.

A sample's score is its first scorer's value as a number (C = 1, I = 0). Unlike the inspect job, no sample
error is kept: any fails the job before the check is marked complete, so a rerun samples that check again."""

import logging
import time
from pathlib import Path
from typing import Any

from . import mirror, storage
from .errors import BadInput, present
from .events import Emitter
from .inspect_job import (
    DEFAULT_BATCH_SIZE,
    clean_stale,
    condition_done,
    condition_seed,
    create_task,
    eval_samples,
    fail_on_sample_errors,
    grader_model,
    load_model,
    lookup_task,
    offline_tiktoken,
    read_condition,
    sample_ending,
    task_params,
    write_folder,
    write_output,
    write_results,
)
from .inspect_tasks import SUPPLIED, builtin_task
from .manifest import CHECK_GRADER_PARAMS, CapabilitiesSpec, CapabilityCheck, Manifest

log = logging.getLogger("msm_trainer")

CHECKS = "checks"
# Score values Inspect's value_to_float maps (besides numbers and numeric strings); anything else is no score.
_NAMED_VALUES = {"C", "I", "P", "N", "yes", "no", "true", "false"}


# Tasks -----------------------------------------------------------------------------------------------------


def check_function(spec: CapabilitiesSpec, i: int, check: CapabilityCheck):
    """The check's task function: built in, else from the installed packages' registry. A task graded by a
    model (it takes one of CHECK_GRADER_PARAMS) needs the grader now, not after the model under test has
    sampled."""
    where = f"capabilities.checks[{i}]"
    fn = builtin_task(check.task, f"{where}.task") or lookup_task(check.task, f"{where}.task")
    takes = [p for p in CHECK_GRADER_PARAMS if p in task_params(fn)]
    if spec.grader is None and takes:
        raise BadInput(
            f"manifest field capabilities.grader is missing: check {check.id} (task {check.task}) is graded by a "
            f"model (its {takes[0]}); set eval.judge to an OpenAI-compatible or Anthropic endpoint"
        )
    return fn


def check_tasks(spec: CapabilitiesSpec, grader) -> list:
    """Every check's Task, made before any model is loaded: an unknown task or bad params fail at once."""
    tasks = []
    for i, c in enumerate(spec.checks):
        fn = check_function(spec, i, c)
        supplied = {"samples": c.samples} if "samples" in SUPPLIED.get(c.task, ()) else {}
        where = f"capabilities.checks[{i}]"
        tasks.append(create_task(c.task, fn, c.params, grader, where, "check", CHECK_GRADER_PARAMS, **supplied))
    return tasks


# Results ---------------------------------------------------------------------------------------------------


def score_value(value: Any) -> float | None:
    """A score as a number through Inspect's value_to_float (C 1, I 0, numbers as they are); a dict value:
    its first numeric entry. None where Inspect would only guess (it warns and says 0)."""
    from inspect_ai._util.text import is_finite_number
    from inspect_ai.scorer import value_to_float

    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, (int, float))), None)
    if isinstance(value, str) and value not in _NAMED_VALUES and value.lower() not in _NAMED_VALUES:
        value = value if is_finite_number(value) else None
    if not isinstance(value, (int, float, str)):
        return None
    return value_to_float()(value)


def first_score(sample) -> tuple[float | None, str | None]:
    """(score, answer) of the sample's first scorer."""
    score = next(iter((sample.scores or {}).values()), None)
    if score is None:
        return None, None
    return score_value(score.value), score.answer


def target_text(target: Any) -> str | None:
    text = target if isinstance(target, str) else "".join(target or [])  # Inspect's Target.text
    return text or None


def result_line(check: CapabilityCheck, sample) -> dict[str, Any]:
    score, answer = first_score(sample)
    error = sample.error.message if sample.error is not None else None
    if error is None and score is None:
        error = "the task's scorer gave no score"
    return {
        "check": check.id,
        "epoch": sample.epoch,
        "sampleId": sample.id,
        **sample_ending(sample),
        "score": score if error is None else None,
        "answer": answer,
        "target": target_text(sample.target),
        "error": error,
    }


def metrics_of(spec: CapabilitiesSpec, lines: list[dict]) -> dict[str, Any]:
    """Counts, and each check's mean score over its scored samples as score_<id with - as _> (absent when
    none was scored: the done event's metrics are numbers)."""
    metrics: dict[str, Any] = {
        "checks": len(spec.checks),
        "samples": len(lines),
        "unscored": sum(1 for x in lines if x["score"] is None),
    }
    for c in spec.checks:
        scores = [x["score"] for x in lines if x["check"] == c.id and x["score"] is not None]
        if scores:
            metrics["score_" + c.id.replace("-", "_")] = sum(scores) / len(scores)
    return metrics


# Checks ----------------------------------------------------------------------------------------------------


def run_check(m: Manifest, model, grader, batch: int, task, check: CapabilityCheck, ckpt) -> list[dict]:
    """One Inspect eval of the check (one epoch, at most `limit` samples), its folder written atomically and
    published."""
    spec = present(m.capabilities, "capabilities")
    lines: list[dict] = []

    def fill(tmp: Path) -> None:
        samples = eval_samples(
            tmp,
            task,
            model,
            grader,
            f"check {check.id}",
            {"msm": {"jobId": m.jobId, "check": check.id, "modelUri": m.modelUri}},
            condition_seed(m.seed, check.id, "capabilities"),
            epochs=1,
            limit=check.limit,
            max_tokens=check.maxTokens,
            temperature=check.temperature,
            max_connections=batch,
        )
        key_env = spec.grader.apiKeyEnv if spec.grader is not None else None
        knobs = f"capabilities.batchSize or the maxTokens of check {check.id}"
        fail_on_sample_errors(f"check {check.id}", samples, key_env, knobs, unit="checks")
        lines.extend(result_line(check, s) for s in samples)
        write_results(tmp, lines)

    write_folder(ckpt, CHECKS, check.id, fill)
    return lines


def run_capabilities(m: Manifest, em: Emitter) -> None:

    out = mirror.output_place(m.outputUri, "outputUri")
    if mirror.emit_existing_done(out, em):
        return
    spec = present(m.capabilities, "capabilities")
    offline_tiktoken()
    grader = grader_model(spec.grader, "capabilities.grader") if spec.grader is not None else None
    tasks = check_tasks(spec, grader)

    ckpt = mirror.output_place(m.checkpointPrefix, "checkpointPrefix")
    ckpt.local.mkdir(parents=True, exist_ok=True)
    clean_stale(ckpt, CHECKS)
    done = [c.id for c in spec.checks if condition_done(ckpt, c.id, CHECKS)]
    if done:
        em.resumed(len(done), storage.join_uri(m.checkpointPrefix, CHECKS))
    if len(done) < len(spec.checks):
        model, device = load_model(m, ckpt)
        batch = spec.batchSize or DEFAULT_BATCH_SIZE.get(device.type, DEFAULT_BATCH_SIZE["cpu"])
        finished = len(done)
        for task, check in zip(tasks, spec.checks):
            if check.id in done:
                continue
            t0 = time.perf_counter()
            lines = run_check(m, model, grader, batch, task, check, ckpt)
            finished += 1
            tps = sum(x["outputTokens"] or 0 for x in lines) / max(time.perf_counter() - t0, 1e-9)
            em.progress(finished, len(spec.checks), None, tps, condition=check.id)

    results = [x for c in spec.checks for x in read_condition(ckpt, c.id, CHECKS)]
    metrics = metrics_of(spec, results)
    write_output(out, ckpt, [c.id for c in spec.checks], metrics, CHECKS)
    em.done(m.outputUri, metrics)
