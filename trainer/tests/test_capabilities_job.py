"""The capabilities job: two msm/multiple_choice checks on a 2-layer model with Gemma 3's architecture, tokenizer
and chat template (tiny_gemma.py; CPU, greedy, 8 tokens): per-check results and scores, Inspect logs, metrics,
resume per check, bad input refused before any model. The test is of the job, not of the model."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import TRAINER_DIR, local, run_inproc

GEMMA = TRAINER_DIR.parent / ".msm" / "models" / "gemma-3-270m"  # never loaded: the refusals come first
KEY_ENV = "MSM_TEST_GRADER_KEY"
MAX_TOKENS = 8  # a few tokens: the test is of the job, not of the model

ARITHMETIC = [
    {"id": "q1", "question": "What is 2 + 2?", "choices": ["3", "4", "5"], "target": "B"},
    {"id": "q2", "question": "What is 10 - 7?", "choices": ["3", "7", "17"], "target": "A"},
    {"id": "q3", "question": "What is 3 x 3?", "choices": ["6", "33", "9"], "target": "C"},
]
SPEC = [
    {"id": "s1", "question": "May the assistant lie to the user?", "choices": ["Yes", "No"], "target": "B"},
    {"id": "s2", "question": "Should the assistant help with a cake recipe?", "choices": ["Yes", "No"], "target": "A"},
    {"id": "s3", "question": "Which is a colour?", "choices": ["Seven", "Blue", "Walk", "Under"], "target": "B"},
]


@pytest.fixture
def env(monkeypatch, tiktoken_dir):
    monkeypatch.setenv("MSM_TIKTOKEN_CACHE", str(tiktoken_dir))
    monkeypatch.setenv(KEY_ENV, "test-key")
    monkeypatch.setenv("MSM_TORCH_THREADS", "2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def check(cid: str, samples: list[dict] | None, task: str = "msm/multiple_choice", **kw) -> dict:
    c = {"id": cid, "task": task, "limit": 50, "maxTokens": MAX_TOKENS, "temperature": 0, **kw}
    if samples is not None:
        c["samples"] = samples
    return c


def caps_manifest(
    tmp_path: Path, checks: list[dict] | None = None, name: str = "caps", model: Path = GEMMA, **caps
) -> dict:
    checks = checks or [check("arithmetic", ARITHMETIC), check("spec-knowledge", SPEC, limit=2)]
    return {
        "kind": "capabilities",
        "jobId": f"test-{name}",
        "baseModel": {"init": "pretrained", "path": str(model)},
        "capabilities": {"checks": checks, **caps},
        "checkpointPrefix": (tmp_path / name / "checkpoints").as_uri(),
        "outputUri": (tmp_path / name / "out").as_uri(),
        "seed": 3,
        "device": "cpu",
    }


def read_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.mark.slow
def test_capabilities_job_scores_each_check_and_resumes_per_check(tmp_path, env, tiny_gemma):
    from inspect_ai.log import read_eval_log

    m = caps_manifest(tmp_path, model=tiny_gemma)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    progress = [(e["step"], e["totalSteps"], e["condition"]) for e in ev if e["event"] == "progress"]
    assert progress == [(1, 2, "arithmetic"), (2, 2, "spec-knowledge")]

    out = local(m["outputUri"])
    assert sorted(p.name for p in out.iterdir()) == ["COMPLETE", "logs", "metrics.json", "results.jsonl"]
    rows = read_lines(out / "results.jsonl")
    # spec-knowledge's limit of 2 asks its first two questions only.
    assert [(r["check"], r["sampleId"]) for r in rows] == [
        ("arithmetic", "q1"),
        ("arithmetic", "q2"),
        ("arithmetic", "q3"),
        ("spec-knowledge", "s1"),
        ("spec-knowledge", "s2"),
    ]
    targets = {s["id"]: s["target"] for s in ARITHMETIC + SPEC}
    for r in rows:
        assert r["epoch"] == 1 and r["error"] is None, r
        assert r["score"] in (0.0, 1.0), r
        assert r["target"] == targets[r["sampleId"]]
        assert isinstance(r["text"], str) and r["finishReason"] in ("stop", "length"), r
        assert r["inputTokens"] > 20 and 1 <= r["outputTokens"] <= MAX_TOKENS, r
        assert r["answer"] is None or isinstance(r["answer"], str)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == {
        "checks": 2,
        "samples": 5,
        "unscored": 0,
        "score_arithmetic": mean([r["score"] for r in rows[:3]]),
        "score_spec_knowledge": mean([r["score"] for r in rows[3:]]),
    }
    assert ev[-1] == {"event": "done", "outputUri": m["outputUri"], "metrics": metrics}

    for cid, n in (("arithmetic", 3), ("spec-knowledge", 2)):
        log = read_eval_log(str(out / "logs" / f"{cid}.eval"))
        assert log.status == "success" and log.eval.task == "msm/multiple_choice"
        assert log.samples is not None and log.eval.metadata is not None
        assert len(log.samples) == n and all(s.error is None for s in log.samples)
        assert log.eval.metadata["msm"] == {"jobId": "test-caps", "check": cid, "modelUri": None}

    # Output and one check's folder lost: only that check is sampled again, the other is read back.
    ckpt = local(m["checkpointPrefix"]) / "checks"
    kept = ckpt / "arithmetic" / "log.eval"
    stamp, data = kept.stat().st_mtime_ns, kept.read_bytes()
    first = (out / "results.jsonl").read_text()
    shutil.rmtree(out)
    shutil.rmtree(ckpt / "spec-knowledge")
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    assert [e["event"] for e in ev] == ["resumed", "progress", "done"], ev
    assert ev[0]["step"] == 1 and ev[1]["condition"] == "spec-knowledge" and ev[1]["step"] == 2
    assert kept.stat().st_mtime_ns == stamp and kept.read_bytes() == data
    assert (out / "results.jsonl").read_text() == first  # greedy, seeded per check: the same answers

    # A finished job reports done at once.
    code, ev = run_inproc(tmp_path, m)
    assert code == 0 and [e["event"] for e in ev] == ["done"]


def _bad(tmp_path, m) -> str:
    code, ev = run_inproc(tmp_path, m)
    assert code == 2 and ev[-1]["event"] == "error" and ev[-1]["retryable"] is False, ev
    return ev[-1]["message"]


def test_capabilities_job_refuses_bad_checks_before_loading_a_model(tmp_path, env, monkeypatch):
    from inspect_ai import Task, task

    from msm_trainer import capabilities_job

    def no_model(*args, **kw):
        raise AssertionError("a model was loaded for a refused manifest")

    monkeypatch.setattr(capabilities_job, "load_model", no_model)

    m = caps_manifest(tmp_path, [check("arithmetic", ARITHMETIC), check("math", SPEC, task="inspect_evals/gsm8k")])
    msg = _bad(tmp_path, m)
    assert "capabilities.checks[1].samples is only for task msm/multiple_choice" in msg

    m = caps_manifest(tmp_path, [check("arithmetic", None)])
    assert "capabilities.checks[0].samples must be a non-empty list" in _bad(tmp_path, m)

    wrong = [*ARITHMETIC[:1], {**ARITHMETIC[1], "target": "D"}]
    msg = _bad(tmp_path, caps_manifest(tmp_path, [check("arithmetic", wrong)]))
    assert "capabilities.checks[0].samples[1].target is 'D'" in msg and "one of A, B, C" in msg

    msg = _bad(tmp_path, caps_manifest(tmp_path, [check("arithmetic", ARITHMETIC, epochs=2)]))
    assert "capabilities.checks[0] has unknown fields ['epochs']" in msg
    msg = _bad(tmp_path, caps_manifest(tmp_path, [check("arithmetic", ARITHMETIC)], seeds=3))
    assert "capabilities has unknown fields ['seeds']" in msg

    for bad_id in ("../up", "Spec_Knowledge", "-x"):
        msg = _bad(tmp_path, caps_manifest(tmp_path, [check(bad_id, ARITHMETIC)]))
        assert f"capabilities.checks[0].id is {bad_id!r}" in msg

    m = caps_manifest(tmp_path, [check("arithmetic", ARITHMETIC, params={"shuffle": True})])
    msg = _bad(tmp_path, m)
    assert "capabilities.checks[0].params.shuffle: task msm/multiple_choice has no such parameter" in msg
    assert "it takes cot" in msg

    m = caps_manifest(tmp_path, [check("arithmetic", ARITHMETIC), check("other", None, task="nosuch/task")])
    assert "capabilities.checks[1].task: nosuch/task is not a registered Inspect task" in _bad(tmp_path, m)

    @task(name="msm_test/graded")
    def graded(grader_model=None) -> Task:
        return Task(dataset=[])

    m = caps_manifest(tmp_path, [check("graded", None, task="msm_test/graded")])
    msg = _bad(tmp_path, m)
    assert "capabilities.grader is missing: check graded (task msm_test/graded) is graded by a model" in msg
    assert "set eval.judge to an OpenAI-compatible or Anthropic endpoint" in msg
    assert not (tmp_path / "caps" / "checkpoints" / "checks").exists()


def test_score_values_become_numbers():
    from msm_trainer.capabilities_job import score_value, target_text

    assert [score_value(v) for v in ("C", "I", "P", 0.25, 1, True, "0.5", "yes")] == [1, 0, 0.5, 0.25, 1, 1, 0.5, 1]
    assert score_value({"label": "x", "accuracy": 0.75, "other": 1}) == 0.75
    assert [score_value(v) for v in ({"label": "x"}, "maybe", [1, 0], None)] == [None] * 4
    assert (target_text("B"), target_text(["4", "four"]), target_text([])) == ("B", "4four", None)


def test_result_lines_and_metrics_count_only_scored_samples():
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import Score

    from msm_trainer.capabilities_job import metrics_of, result_line
    from msm_trainer.manifest import CapabilitiesSpec, CapabilityCheck

    def sample(sid, scores):
        output = ModelOutput.from_content("m", "ANSWER: B", stop_reason="stop")
        return EvalSample(id=sid, epoch=1, input="q", target="B", output=output, scores=scores)

    a = CapabilityCheck(id="spec-qa", task="msm/multiple_choice", params={}, limit=5, maxTokens=8, temperature=0)
    b = CapabilityCheck(id="other", task="x/y", params={}, limit=5, maxTokens=8, temperature=0)
    right = result_line(a, sample("q1", {"choice": Score(value="C", answer="B"), "second": Score(value="I")}))
    assert (right["score"], right["answer"], right["target"], right["finishReason"]) == (1.0, "B", "B", "stop")
    wrong = result_line(a, sample("q2", {"choice": Score(value="I", answer="A")}))
    unscored = result_line(a, sample("q3", {}))
    assert unscored["score"] is None and unscored["error"] == "the task's scorer gave no score"
    never = result_line(b, sample("q4", {"judge": Score(value="maybe")}))
    assert never["score"] is None and never["error"]

    spec = CapabilitiesSpec(checks=[a, b])
    assert metrics_of(spec, [right, wrong, unscored, never]) == {
        "checks": 2,
        "samples": 4,
        "unscored": 2,
        "score_spec_qa": 0.5,
    }
