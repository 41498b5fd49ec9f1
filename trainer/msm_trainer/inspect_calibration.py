"""inspect-calibration: how an Inspect task's own grading does on replies whose label we know. For each
scenario (a condition of the task, e.g. agentic_misalignment's blackmail), one Inspect eval whose "model" is
Inspect's mockllm answering with the scenario's frozen replies, one per epoch, scored by the task's own scorer
with the real grader; the classifier's verdict on each reply is read from the score (harm_score).

Layout (resumable per scenario; a finished scenario is never graded again):

    <checkpointPrefix>/scenarios/<kind with : as ->/{log.eval, results.jsonl, COMPLETE}   (written atomically)
    <outputUri>/{verdicts.jsonl, logs/<folder>.eval, metrics.json, COMPLETE}

verdicts.jsonl: {kind, id, shows, verdict: true | false | null, explanation}. A grader answer the classifier
cannot read (a ValueError from its parser) is verdict null, kept (the caller counts it as an error); any other
sample error (the grader unreachable after retries, a refused key) fails the job before the scenario is marked
complete. Samples are mapped back to items by their reply (the manifest refuses repeated replies), so the
order in which Inspect runs the epochs does not matter."""

import time
from pathlib import Path
from typing import Any

from inspect_ai.model import ModelOutput, get_model

from . import mirror, storage
from .errors import Retryable, present
from .events import Emitter
from .inspect_job import (
    UNREADABLE_ERRORS,
    clean_stale,
    condition_done,
    condition_seed,
    create_task,
    eval_samples,
    fail_on_sample_errors,
    grader_model,
    harm_score,
    lookup_task,
    offline_tiktoken,
    read_condition,
    write_folder,
    write_output,
    write_results,
)
from .manifest import CalibrationScenario, Manifest

SCENARIOS = "scenarios"
VERDICTS = "verdicts.jsonl"
REPLAY_MODEL = "mockllm/model"
# Epochs graded at once: the grader's calls are the only work (the replies are fixed).
CONCURRENT = 8


def folder_of(kind: str) -> str:
    """A scenario's folder name: inspect:blackmail -> inspect-blackmail."""
    return kind.replace(":", "-")


def replay_model(replies: list[str]):
    """Inspect's mock model, answering with the replies in turn. Not memoized: a resumed scenario in the same
    process must start from the first reply again."""
    outputs = [ModelOutput.from_content(REPLAY_MODEL, r) for r in replies]
    return get_model(REPLAY_MODEL, custom_outputs=outputs, memoize=False)


def verdict_lines(sc: CalibrationScenario, samples) -> list[dict]:
    """One line per item, in the manifest's order, from the sample that carried its reply."""
    by_reply: dict[str | None, Any] = {}
    for s in samples:
        text = s.output.completion if s.output is not None else None
        by_reply.setdefault(text, s)
    lines = []
    for it in sc.items:
        s = by_reply.get(it["reply"])
        if s is None:
            raise Retryable(
                f"scenario {sc.kind}: no sample answered with item {it['id']}'s reply ({len(samples)} samples for "
                f"{len(sc.items)} items); rerun the job (finished scenarios are kept)"
            )
        _, verdict, explanation = harm_score(s)
        if s.error is not None:  # unreadable (others failed the scenario already)
            verdict, explanation = None, explanation or s.error.message
        line = {"kind": sc.kind, "id": it["id"], "shows": it["shows"], "verdict": verdict}
        lines.append({**line, "explanation": explanation})
    return lines


def run_scenario(m: Manifest, task, grader, sc: CalibrationScenario, ckpt: mirror.OutputPlace) -> list[dict]:
    """One Inspect eval of the scenario (an epoch per item), its folder written atomically and published."""
    spec = present(m.inspectCalibration, "inspectCalibration")
    lines: list[dict] = []
    cid = folder_of(sc.kind)

    def fill(tmp: Path) -> None:
        samples = eval_samples(
            tmp,
            task,
            replay_model([it["reply"] for it in sc.items]),
            grader,
            f"scenario {sc.kind}",
            {"msm": {"jobId": m.jobId, "calibration": sc.kind}},
            condition_seed(m.seed, cid, "inspect-calibration"),
            epochs=len(sc.items),
            max_connections=CONCURRENT,
            max_samples=CONCURRENT,
        )
        fail_on_sample_errors(
            f"scenario {sc.kind}", samples, spec.grader.apiKeyEnv, "nothing", UNREADABLE_ERRORS, unit="scenarios"
        )
        lines.extend(verdict_lines(sc, samples))
        write_results(tmp, lines)

    write_folder(ckpt, SCENARIOS, cid, fill)
    return lines


def metrics_of(lines: list[dict]) -> dict:
    """Counts over every scenario (the caller tallies per kind against its bar)."""
    wrong = [x for x in lines if x["verdict"] is not x["shows"]]
    return {
        "items": len(lines),
        "unjudged": sum(1 for x in lines if x["verdict"] is None),
        "falsePositives": sum(1 for x in wrong if x["shows"] is False and x["verdict"] is True),
        "falseNegatives": sum(1 for x in wrong if x["shows"] is True and x["verdict"] is False),
    }


def run_inspect_calibration(m: Manifest, em: Emitter) -> None:

    out = mirror.output_place(m.outputUri, "outputUri")
    if mirror.emit_existing_done(out, em):
        return
    spec = present(m.inspectCalibration, "inspectCalibration")
    offline_tiktoken()
    fn = lookup_task(spec.task, "inspectCalibration.task")
    grader = grader_model(spec.grader, "inspectCalibration.grader")
    # Every scenario's task now: bad params fail the job before any grader call.
    tasks = [
        create_task(spec.task, fn, sc.params, grader, f"inspectCalibration.scenarios[{i}]", "scenario")
        for i, sc in enumerate(spec.scenarios)
    ]

    ckpt = mirror.output_place(m.checkpointPrefix, "checkpointPrefix")
    ckpt.local.mkdir(parents=True, exist_ok=True)
    clean_stale(ckpt, SCENARIOS)
    ids = [folder_of(sc.kind) for sc in spec.scenarios]
    done = [cid for cid in ids if condition_done(ckpt, cid, SCENARIOS)]
    if done:
        em.resumed(len(done), storage.join_uri(m.checkpointPrefix, SCENARIOS))
    finished = len(done)
    for task, sc, cid in zip(tasks, spec.scenarios, ids):
        if cid in done:
            continue
        t0 = time.perf_counter()
        run_scenario(m, task, grader, sc, ckpt)
        finished += 1
        per_sec = len(sc.items) / max(time.perf_counter() - t0, 1e-9)
        em.progress(finished, len(ids), None, per_sec, condition=sc.kind)

    lines = [x for cid in ids for x in read_condition(ckpt, cid, SCENARIOS)]
    metrics = metrics_of(lines)
    write_output(out, ckpt, ids, metrics, SCENARIOS, VERDICTS)
    em.done(m.outputUri, metrics)
