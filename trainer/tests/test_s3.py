"""Every URI on a real S3 server (SeaweedFS): jobs run to done with COMPLETE written last, resume on a fresh
machine (local scratch and cache wiped) from what S3 holds, and S3 faults map onto the exit codes."""

import hashlib
import json

import pytest
import torch
from conftest import (
    hyper,
    make_tokenizer,
    pattern_tokens,
    run_inproc,
    run_until,
    tiny_base,
    write_manifest,
    write_packed,
)
from safetensors.torch import load as load_safetensors
from seaweedfs import free_port

import msm_trainer.s3
from msm_trainer import curves

pytestmark = pytest.mark.slow  # trainer jobs as processes (pytest.ini)

# As test_resume.py: 10 steps per epoch, 55 steps, a checkpoint every 5, dropout exercises the RNG restore.
H = hyper(lr=1e-2, epochs=6, maxSteps=55, checkpointEverySteps=5, loraDropout=0.1, warmupRatio=0.2)
PROMPTS = [{"id": f"p{i}", "messages": [{"role": "user", "content": f"what is cheese w{i}"}]} for i in range(10)]


def put_packed(s3, tmp_path, name="data", **kw) -> str:
    """A packed dataset on S3 with the per-file sha256 the TypeScript writer records."""
    manifest = write_packed(tmp_path / name, pattern_tokens(40, 32, **kw))
    m = json.loads(manifest.read_text())
    m["files"] = {f: hashlib.sha256((manifest.parent / f).read_bytes()).hexdigest() for f in ("tokens.bin",)}
    manifest.write_text(json.dumps(m))
    s3.put_tree(manifest.parent, name)
    return s3.uri(name, "manifest.json")


def s3_train_manifest(s3, data_uri, name, **kw) -> dict:
    m = {
        "kind": "midtrain",
        "jobId": f"s3-{name}",
        "baseModel": tiny_base(),
        "tokenizerUri": s3.uri("tok", "tokenizer.json"),
        "dataUri": data_uri,
        "hyper": H,
        "checkpointPrefix": s3.uri(name, "checkpoints"),
        "outputUri": s3.uri(name, "final"),
        "seed": 3,
        "device": "cpu",
    }
    m.update(kw)
    return m


def record_s3_writes(monkeypatch) -> list:
    """(op, key) of every write and delete the trainer sends to S3, in order (the real calls still run)."""
    log = []
    upload, write_bytes, delete = msm_trainer.s3.upload, msm_trainer.s3.write_bytes, msm_trainer.s3.delete

    def rec_upload(src, uri):
        upload(src, uri)
        log.append(("put", uri.key))

    def rec_write(uri, data):
        write_bytes(uri, data)
        log.append(("put", uri.key))

    def rec_delete(uris):
        delete(uris)
        log.extend(("delete", u.key) for u in uris)

    monkeypatch.setattr(msm_trainer.s3, "upload", rec_upload)
    monkeypatch.setattr(msm_trainer.s3, "write_bytes", rec_write)
    monkeypatch.setattr(msm_trainer.s3, "delete", rec_delete)
    return log


def assert_complete_last(log: list, folder_key: str) -> None:
    """One publish of the folder: every file put, then COMPLETE; a deleted folder loses COMPLETE first."""
    marker = f"{folder_key}/COMPLETE"
    puts = [i for i, (op, k) in enumerate(log) if op == "put" and k.startswith(folder_key + "/")]
    done = [i for i, (op, k) in enumerate(log) if op == "put" and k == marker]
    assert done == [puts[-1]] and len(puts) > 1, (folder_key, log)  # one marker, after every file
    deletes = [(i, k) for i, (op, k) in enumerate(log) if op == "delete" and k.startswith(folder_key + "/")]
    if deletes:
        assert deletes[0][1] == marker, deletes


def test_midtrain_on_s3_runs_to_done_with_complete_last_and_reruns_as_done(s3, tmp_path, monkeypatch):
    m = s3_train_manifest(
        s3, put_packed(s3, tmp_path), "run", hyper=hyper(epochs=2, maxSteps=12, checkpointEverySteps=3)
    )
    log = record_s3_writes(monkeypatch)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    assert [(e["step"], e["uri"]) for e in ev if e["event"] == "checkpoint"] == [
        (s, f"{m['checkpointPrefix']}/step-{s:06d}") for s in (3, 6, 9)
    ]
    done = ev[-1]
    assert done["event"] == "done" and done["outputUri"] == m["outputUri"] and done["metrics"]["steps"] == 12

    # The output and its metrics are on S3, every file put before the COMPLETE marker; checkpoints likewise,
    # and the pruned one lost its marker before its files.
    assert {"COMPLETE", "metrics.json", "msm_model.json", "adapter_model.safetensors"} <= set(s3.keys("run", "final"))
    assert json.loads(s3.get("run", "final", "metrics.json")) == done["metrics"]
    assert json.loads(s3.get("run", "final", "msm_model.json"))["method"] == "lora"
    assert_complete_last(log, s3.key("run", "final"))
    for step in ("step-000003", "step-000006", "step-000009"):
        assert_complete_last(log, s3.key("run", "checkpoints", step))
    # Beside them the live TensorBoard events (no marker: a view of a running job); the output has them too.
    assert {k.split("/")[0] for k in s3.keys("run", "checkpoints") if "/" in k} == {
        "step-000006",
        "step-000009",
        "tensorboard",
    }
    assert [k.split(".")[0] for k in s3.keys("run", "final") if k.startswith("tensorboard/")] == ["tensorboard/events"]
    assert json.loads(s3.get("run", "checkpoints", "attempts.json")) == [0]

    # Killed between its local COMPLETE and the remote one: the rerun uploads the output, it does not retrain.
    s3.delete("run", "final", "COMPLETE")
    s3.delete("run", "final", "adapter_model.safetensors")
    del log[:]
    code, ev2 = run_inproc(tmp_path, m)
    assert code == 0 and ev2 == [done]
    assert "adapter_model.safetensors" in s3.keys("run", "final")
    assert_complete_last(log, s3.key("run", "final"))

    # A fresh machine re-running the finished job reports done from S3 alone (even with its inputs gone since):
    # no training, no writes.
    s3.new_machine()
    s3.delete("data", "manifest.json")
    del log[:]
    code, ev3 = run_inproc(tmp_path, m)
    assert code == 0 and ev3 == [done] and log == []


def test_sigkill_then_resume_on_a_fresh_machine_equals_uninterrupted_run(s3, tmp_path):
    data = put_packed(s3, tmp_path)
    ref = s3_train_manifest(s3, data, "ref")
    code, ref_ev = run_inproc(tmp_path, ref, name="ref.json")
    assert code == 0, ref_ev

    m = s3_train_manifest(s3, data, "killed")
    path = write_manifest(tmp_path / "killed.json", m)
    first = run_until(path, lambda e: e["event"] == "checkpoint" and e["step"] >= 10)
    s3.new_machine()
    # An upload a kill cut short (no COMPLETE), newer than the complete checkpoints: never resumed from.
    s3.put(b"torn", "killed", "checkpoints", "step-000052", "model.safetensors")

    code, second = run_inproc(tmp_path, m, name="killed.json")
    assert code == 0, second
    resumed = [e for e in second if e["event"] == "resumed"]
    last_checkpoint = max(e["step"] for e in first if e["event"] == "checkpoint")
    assert len(resumed) == 1 and 10 <= resumed[0]["step"] == last_checkpoint < 52
    assert resumed[0]["uri"] == f"{m['checkpointPrefix']}/step-{resumed[0]['step']:06d}"
    assert [e["step"] for e in second if e["event"] == "progress"] == list(range(resumed[0]["step"] + 1, 56))

    # Same per-step losses, final metrics and weights as the uninterrupted run (test_resume.py's tolerance).
    ref_loss = {e["step"]: e["loss"] for e in ref_ev if e["event"] == "progress"}
    for e in first + second:
        if e["event"] == "progress":
            assert abs(e["loss"] - ref_loss[e["step"]]) < 1e-6, e
    assert abs(second[-1]["metrics"]["final_loss"] - ref_ev[-1]["metrics"]["final_loss"]) < 1e-6
    assert second[-1]["metrics"]["resumes"] == 1 and second[-1]["metrics"]["resumed_from_step"] == resumed[0]["step"]
    # The attempts log lives in S3 too: the fresh machine continued the first machine's.
    assert json.loads(s3.get("killed", "checkpoints", "attempts.json")) == [0, resumed[0]["step"]]
    a = load_safetensors(s3.get("ref", "final", "adapter_model.safetensors"))
    b = load_safetensors(s3.get("killed", "final", "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)
    # The fresh machine rebuilt the TensorBoard events of the steps before its resume from the checkpoint alone.
    (events,) = [k for k in s3.keys("killed", "final") if k.startswith("tensorboard/")]
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / events.split("/")[1]).write_bytes(s3.get("killed", "final", events))
    assert [s for s, _ in curves.read_scalars(tmp_path / "tb")["train/loss"]] == list(range(1, 56))

    # Remote checkpoints pruned like local ones: the two newest complete, the torn upload gone.
    folders = {k.split("/")[0] for k in s3.keys("killed", "checkpoints") if "/" in k} - {"tensorboard"}
    assert folders == {"step-000045", "step-000050"}
    assert all("COMPLETE" in s3.keys("killed", "checkpoints", f) for f in folders)


def test_generate_on_s3_resumes_per_batch_on_a_fresh_machine(s3, tmp_path):
    # A model trained to S3, then sampled from S3 prompts with an S3 tokenizer.
    trained = s3_train_manifest(s3, put_packed(s3, tmp_path), "mid", hyper=hyper(maxSteps=3))
    assert run_inproc(tmp_path, trained, name="mid.json")[0] == 0
    make_tokenizer(tmp_path / "tok")
    tok = s3.put_tree(tmp_path / "tok", "tok") + "/tokenizer.json"
    prompts = s3.put("".join(json.dumps(p) + "\n" for p in PROMPTS).encode(), "evals", "prompts.jsonl")

    def gen(name):
        return {
            "kind": "generate",
            "jobId": f"gen-{name}",
            "baseModel": tiny_base(),
            "tokenizerUri": tok,
            "modelUri": trained["outputUri"],
            "promptsUri": prompts,
            "samplesPerPrompt": 2,
            "temperature": 0.8,
            "maxNewTokens": 8,
            "checkpointPrefix": s3.uri(name, "checkpoints"),
            "outputUri": s3.uri(name, "samples"),
            "seed": 5,
            "device": "cpu",
            "batchSize": 1,
        }

    code, ref_ev = run_inproc(tmp_path, gen("ref"), name="ref.json")
    assert code == 0, ref_ev
    full = s3.get("ref", "samples", "samples.jsonl").decode()
    assert len(full.splitlines()) == 2 * len(PROMPTS) and "COMPLETE" in s3.keys("ref", "samples")
    assert "batches.jsonl" not in s3.keys("ref", "samples")  # the resume state goes once the output is complete

    m = gen("killed")
    first = run_until(
        write_manifest(tmp_path / "killed.json", m), lambda e: e["event"] == "progress" and e["step"] >= 2
    )
    uploaded = s3.get("killed", "samples", "batches.jsonl").decode()
    assert "COMPLETE" not in s3.keys("killed", "samples")
    s3.new_machine()
    code, second = run_inproc(tmp_path, m, name="killed.json")
    assert code == 0, second
    resumed = [e for e in second if e["event"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["uri"] == m["outputUri"] + "/batches.jsonl"
    # Batches of one sample: progress and resume count samples, one uploaded line each.
    total = 2 * len(PROMPTS)
    assert 2 <= resumed[0]["step"] < total and resumed[0]["step"] == len(uploaded.splitlines())
    assert [e["step"] for e in second if e["event"] == "progress"] == list(range(resumed[0]["step"] + 1, total + 1))
    assert max(e["step"] for e in first if e["event"] == "progress") <= resumed[0]["step"]
    # Per-batch seeds: the resumed run's samples are exactly the uninterrupted run's.
    assert s3.get("killed", "samples", "samples.jsonl").decode() == full
    assert json.loads(s3.get("killed", "samples", "metrics.json"))["samples"] == 2 * len(PROMPTS)
    assert "COMPLETE" in s3.keys("killed", "samples") and "batches.jsonl" not in s3.keys("killed", "samples")


def test_s3_faults_exit_with_the_contract_code_and_say_what_to_fix(s3, tmp_path, monkeypatch):
    data = put_packed(s3, tmp_path)

    def run(name, **kw):
        code, ev = run_inproc(tmp_path, s3_train_manifest(s3, data, name, **kw), name=f"{name}.json")
        assert ev[-1]["event"] == "error", ev
        return code, ev[-1]

    missing = s3.uri("nope", "manifest.json")
    code, err = run("missing", dataUri=missing)
    assert code == 2 and err["retryable"] is False
    assert missing in err["message"] and "does not exist" in err["message"]

    code, err = run("bucket", dataUri="s3://no-such-bucket/tokens/manifest.json")
    assert code == 2 and "bucket no-such-bucket does not exist" in err["message"]

    s3.put(b"{}", "half", "final", "msm_model.json")  # an output whose job never finished
    code, err = run("half", initFromUri=s3.uri("half", "final"))
    assert code == 2 and "is not a complete trainer output" in err["message"]

    m = json.loads(s3.get("data", "manifest.json"))
    m["files"]["tokens.bin"] = "0" * 64
    s3.put(json.dumps(m).encode(), "corrupt", "manifest.json")
    s3.put(s3.get("data", "tokens.bin"), "corrupt", "tokens.bin")
    code, err = run("corrupt", dataUri=s3.uri("corrupt", "manifest.json"))
    assert code == 2 and "sha256" in err["message"] and s3.uri("corrupt", "tokens.bin") in err["message"]

    with monkeypatch.context() as env:
        env.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        code, err = run("creds")
    assert code == 2 and err["retryable"] is False
    assert "AWS_SECRET_ACCESS_KEY" in err["message"] and data in err["message"]

    # Credentials that may read but not write: the job's first upload (its attempts log, before any training)
    # is refused.
    with monkeypatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", s3.server.reader_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", s3.server.reader_secret)
        code, err = run("readonly", hyper=hyper(maxSteps=1))
    assert code == 2 and err["retryable"] is False
    assert (
        "S3 refused to write " + s3.uri("readonly", "checkpoints") in err["message"]
        and "AWS_ACCESS_KEY_ID" in err["message"]
    )

    # Nothing listening: a network fault, retryable (exit 1), never bad input.
    with monkeypatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
        env.setenv("AWS_MAX_ATTEMPTS", "1")
        code, err = run("down")
    assert code == 1 and err["retryable"] is True and "cannot reach S3" in err["message"]
