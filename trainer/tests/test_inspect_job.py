"""The inspect job: inspect_evals/agentic_misalignment on the local Gemma 3 270M (CPU), graded by a scripted
OpenAI-compatible server; per-condition results, unjudged samples, Inspect logs, resume, bad input."""

import json
import shutil
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from conftest import TRAINER_DIR, hyper, local, pattern_tokens, run_inproc, train_manifest, write_packed

ROOT = TRAINER_DIR.parent
GEMMA = ROOT / ".msm" / "models" / "gemma-3-270m"
KEY_ENV = "MSM_TEST_GRADER_KEY"
YES = "scenario-blackmail.goal_type-none.goal_value-none.urgency_type-none"
UNREADABLE = "scenario-leaking.goal_type-none.goal_value-none.urgency_type-none"


def _params(cid: str) -> dict:
    return dict(part.split("-", 1) for part in cid.split("."))


class Grader(ThreadingHTTPServer):
    """Chat completions: "<answer>yes</answer>" to the blackmail classifier, an answer no classifier can read
    (both words, no tag) to the others. Counts requests per classifier."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: Counter = Counter()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: Grader  # the server this handler answers for (its request counter)

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
        which = "blackmail" if "blackmail" in system else "other"
        self.server.requests[which] += 1
        yes = "<reasoning>scripted</reasoning>\n<answer>yes</answer>"
        answer = yes if which == "blackmail" else "Maybe yes, maybe no."
        reply = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def grader():
    server = Grader()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(monkeypatch, tiktoken_dir):
    assert (GEMMA / "config.json").is_file(), f"{GEMMA} is missing: bash scripts/setup.sh makes it"
    monkeypatch.setenv("MSM_TIKTOKEN_CACHE", str(tiktoken_dir))
    monkeypatch.setenv(KEY_ENV, "test-key")
    monkeypatch.setenv("MSM_TORCH_THREADS", "2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def inspect_manifest(tmp_path: Path, grader_url: str, name: str = "insp", conditions=(YES, UNREADABLE), **inspect):
    return {
        "kind": "inspect",
        "jobId": f"test-{name}",
        "baseModel": {"init": "pretrained", "path": str(GEMMA)},
        "inspect": {
            "task": "inspect_evals/agentic_misalignment",
            "conditions": [{"id": c, "params": _params(c)} for c in conditions],
            "epochs": 2,
            "maxTokens": 16,
            "temperature": 0.7,
            "grader": {"kind": "openai", "baseUrl": grader_url, "model": "judge", "apiKeyEnv": KEY_ENV},
            **inspect,
        },
        "checkpointPrefix": (tmp_path / name / "checkpoints").as_uri(),
        "outputUri": (tmp_path / name / "out").as_uri(),
        "seed": 3,
        "device": "cpu",
    }


def read_results(m: dict) -> list[dict]:
    return [json.loads(x) for x in (local(m["outputUri"]) / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_inspect_job_samples_grades_and_resumes_per_condition(tmp_path, grader, env):
    from inspect_ai.log import read_eval_log

    m = inspect_manifest(tmp_path, grader.url)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    assert [(e["step"], e["totalSteps"], e["condition"]) for e in ev if e["event"] == "progress"] == [
        (1, 2, YES),
        (2, 2, UNREADABLE),
    ]
    assert ev[-1] == {
        "event": "done",
        "outputUri": m["outputUri"],
        "metrics": {"conditions": 2, "samples": 4, "harmful": 0, "unjudged": 2},
    }
    # Each sample graded once: 2 epochs per condition.
    assert grader.requests == {"blackmail": 2, "other": 2}

    out = local(m["outputUri"])
    assert sorted(p.name for p in out.iterdir()) == ["COMPLETE", "logs", "metrics.json", "results.jsonl"]
    rows = read_results(m)
    assert [(r["condition"], r["epoch"]) for r in rows] == [(YES, 1), (YES, 2), (UNREADABLE, 1), (UNREADABLE, 2)]
    for r in rows:
        assert r["params"] == _params(r["condition"])
        assert isinstance(r["text"], str)
        assert r["finishReason"] in ("stop", "length"), r
        assert 1000 < r["inputTokens"] < 4000 and 1 <= r["outputTokens"] <= 16, r
        assert r["finishReason"] == "stop" or r["outputTokens"] == 16, r
    for r in rows[:2]:
        # The grader said yes; the task's headline verdict also needs an email to Kyle that says blackmail or
        # leverage, which 16 tokens of a 270M model never write: harmful false, the classifier's verdict true.
        assert (r["harmful"], r["classifierVerdict"], r["error"]) == (False, True, None), r
        assert "<answer>yes</answer>" in r["explanation"]
    for r in rows[2:]:
        assert r["harmful"] is None and r["classifierVerdict"] is None, r
        assert "Invalid answer from leak classifier" in r["error"], r

    for cid, errors in ((YES, 0), (UNREADABLE, 2)):
        log = read_eval_log(str(out / "logs" / f"{cid}.eval"))
        assert log.status == "success" and log.eval.task == "inspect_evals/agentic_misalignment"
        assert log.samples is not None
        assert len(log.samples) == 2 and sum(s.error is not None for s in log.samples) == errors
        assert log.eval.task_args["scenario"] == _params(cid)["scenario"]
        assert "test-key" not in json.dumps(log.eval.model_dump(mode="json"))  # the key is never logged

    # A job rerun with its output lost but its checkpoints kept samples nothing again (no grader call).
    first = (out / "results.jsonl").read_text()
    shutil.rmtree(out)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    assert [e["event"] for e in ev] == ["resumed", "done"] and ev[0]["step"] == 2
    assert grader.requests == {"blackmail": 2, "other": 2}
    assert (out / "results.jsonl").read_text() == first

    # A finished job reports done at once.
    code, ev = run_inproc(tmp_path, m)
    assert code == 0 and [e["event"] for e in ev] == ["done"]


def _bad(tmp_path, m) -> str:
    code, ev = run_inproc(tmp_path, m)
    assert code == 2 and ev[-1]["event"] == "error" and ev[-1]["retryable"] is False, ev
    return ev[-1]["message"]


def test_inspect_job_refuses_bad_tasks_params_and_keys(tmp_path, env, monkeypatch):
    url = "http://127.0.0.1:9/v1"  # never called: every refusal comes before any sampling
    m = inspect_manifest(tmp_path, url)
    m["inspect"]["task"] = "inspect_evals/no_such_task"
    assert "inspect.task: inspect_evals/no_such_task is not a registered Inspect task" in _bad(tmp_path, m)

    m = inspect_manifest(tmp_path, url)
    m["inspect"]["conditions"][1]["params"]["urgency"] = "none"
    msg = _bad(tmp_path, m)
    assert "inspect.conditions[1].params.urgency: task inspect_evals/agentic_misalignment has no such" in msg
    assert "urgency_type" in msg

    m = inspect_manifest(tmp_path, url)
    m["inspect"]["conditions"][0]["params"]["scenario"] = "blackmale"
    msg = _bad(tmp_path, m)
    assert 'inspect.conditions[0].params.scenario is "blackmale"' in msg and '"leaking"' in msg

    # The task itself refuses: goal_type none needs goal_value none (its default is america).
    m = inspect_manifest(tmp_path, url)
    del m["inspect"]["conditions"][0]["params"]["goal_value"]
    msg = _bad(tmp_path, m)
    assert "inspect.conditions[0].params: task inspect_evals/agentic_misalignment refused them" in msg
    assert "goal_value none" in msg

    monkeypatch.delenv(KEY_ENV)
    msg = _bad(tmp_path, inspect_manifest(tmp_path, url))
    assert f"inspect.grader.apiKeyEnv names {KEY_ENV}, which is not set" in msg
    assert not (tmp_path / "insp" / "checkpoints" / "conditions").exists()


def test_harm_score_reads_the_scorer_metadata_and_error_types():
    from inspect_ai._util.error import EvalError
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import Score

    from msm_trainer.inspect_job import _error_type, result_line
    from msm_trainer.manifest import InspectCondition

    score = Score(
        value={"harmful": 1.0, "classifier_verdict": 1.0},
        explanation="<answer>yes</answer>",
        metadata={"harmful": True, "classifier_verdict": True},
    )
    sample = EvalSample(
        id="s",
        epoch=3,
        input="x",
        target="",
        output=ModelOutput.from_content("m", "hi", stop_reason="max_tokens"),
        scores={"harmfulness_scorer": score},
    )
    cond = InspectCondition(id="c", params={"scenario": "blackmail"})
    row = result_line(cond, sample)
    assert row["harmful"] is True and row["classifierVerdict"] is True and row["error"] is None
    assert (row["epoch"], row["text"], row["finishReason"]) == (3, "hi", "length")
    assert row["explanation"] == score.explanation

    tb = "Traceback...\nopenai.APIConnectionError: Connection error.\n"
    assert _error_type(EvalError(message="Connection error.", traceback=tb, traceback_ansi="")) == "APIConnectionError"
    assert _error_type(EvalError(message="ValueError('x')", traceback="", traceback_ansi="")) == "ValueError"


def test_decoded_rows_count_tokens_to_the_first_stop():
    import torch

    from msm_trainer.inspect_job import _decode_rows, _Row

    tok = SimpleNamespace(decode=lambda ids, **kw: " ".join(map(str, ids)))
    rows = cast(list[_Row], _decode_rows(tok, (1, 106), torch.tensor([[5, 106, 0, 0], [5, 6, 7, 8], [1, 1, 1, 1]])))
    assert [(str(r), r.n_tokens, r.stopped) for r in rows] == [("5", 2, True), ("5 6 7 8", 4, False), ("", 1, True)]


@pytest.mark.slow
def test_condition_folders_on_s3_publish_and_come_back_on_a_fresh_machine(s3):
    from msm_trainer import mirror
    from msm_trainer.inspect_job import CONDITIONS, condition_done, read_condition

    ckpt = mirror.output_place(s3.uri("ck"), "checkpointPrefix")
    d = ckpt.local / CONDITIONS / "c1"
    d.mkdir(parents=True)
    (d / "results.jsonl").write_text('{"condition": "c1"}\n')
    (d / "log.eval").write_bytes(b"zip")
    (d / "COMPLETE").write_text("ok\n")  # finished here, killed before its upload
    assert condition_done(ckpt, "c1") and not condition_done(ckpt, "c2")
    assert s3.keys("ck") == ["conditions/c1/COMPLETE", "conditions/c1/log.eval", "conditions/c1/results.jsonl"]
    s3.new_machine()
    assert condition_done(ckpt, "c1") and read_condition(ckpt, "c1") == [{"condition": "c1"}]
    assert (d / "log.eval").read_bytes() == b"zip" and (d / "COMPLETE").is_file()
    s3.delete("ck", "conditions", "c1", "COMPLETE")  # an upload cut short is not a finished condition
    s3.new_machine()
    assert not condition_done(ckpt, "c1")


def test_lora_output_is_merged_once_into_the_checkpoint_folder(tmp_path):
    import torch

    from msm_trainer import mirror
    from msm_trainer.inspect_job import MERGED, model_folders
    from msm_trainer.manifest import Manifest

    data = write_packed(tmp_path / "data", pattern_tokens(8, 16))
    tm = train_manifest(tmp_path, data, name="mid", hyper=hyper(maxSteps=1))
    assert run_inproc(tmp_path, tm)[0] == 0
    # Only the fields model_folders reads.
    m = cast(
        Manifest,
        SimpleNamespace(baseModel=SimpleNamespace(path=str(GEMMA)), modelUri=tm["outputUri"], externalModel=None),
    )
    ckpt = mirror.output_place((tmp_path / "ck").as_uri(), "checkpointPrefix")
    folder, tok = model_folders(m, ckpt, torch.device("cpu"))
    assert folder == ckpt.local / MERGED and tok == GEMMA
    assert (folder / "config.json").is_file() and (folder / "COMPLETE").is_file()
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert model_folders(m, ckpt, torch.device("cpu"))[0] == folder
    assert (folder / "config.json").stat().st_mtime_ns == stamp  # reused, not merged again


def test_external_adapter_is_merged_like_an_output_and_named_by_its_reference(tmp_path):
    """An external arm's plain PEFT adapter (no msm description) is merged into the base model once, the merged
    folder keyed by the external reference, so a later job with another model never reuses it."""
    import shutil

    import torch

    from msm_trainer import mirror
    from msm_trainer.inspect_job import MERGED, model_folders
    from msm_trainer.manifest import Manifest

    data = write_packed(tmp_path / "data", pattern_tokens(8, 16))
    tm = train_manifest(tmp_path, data, name="mid", hyper=hyper(maxSteps=1))
    assert run_inproc(tmp_path, tm)[0] == 0
    out = local(tm["outputUri"])
    base = json.loads((out / "msm_model.json").read_text())["base"]
    released = tmp_path / "released"
    shutil.copytree(out, released)
    (released / "msm_model.json").unlink()
    m = cast(
        Manifest,
        SimpleNamespace(
            baseModel=SimpleNamespace(path=str(GEMMA), describe=lambda: base),
            modelUri=None,
            externalModel=str(released),
        ),
    )
    ckpt = mirror.output_place((tmp_path / "ck").as_uri(), "checkpointPrefix")
    folder, tok = model_folders(m, ckpt, torch.device("cpu"))
    assert folder == ckpt.local / MERGED and tok == GEMMA
    assert json.loads((folder / "source.json").read_text()) == {"externalModel": str(released)}
