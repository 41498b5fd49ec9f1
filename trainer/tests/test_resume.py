"""Kill a real trainer process with SIGKILL after checkpoints and check the resumed result equals an
uninterrupted run; bad input exits 2; a second process on the same job is refused."""

import pytest
import torch
from conftest import (
    hyper,
    local,
    pattern_tokens,
    run_inproc,
    run_subprocess,
    run_until,
    train_manifest,
    write_manifest,
    write_packed,
)
from safetensors.torch import load_file

from msm_trainer.storage import JobLock

# 40 rows / batch 4 = 10 steps per epoch; 6 epochs capped at 55 steps; LoRA dropout exercises RNG restore.
H = hyper(lr=1e-2, epochs=6, maxSteps=55, checkpointEverySteps=5, loraDropout=0.1, warmupRatio=0.2)


def run_until_checkpoint(manifest_path, min_step):
    """Start the job, SIGKILL it right after it reports a checkpoint at >= min_step; return its events."""
    return run_until(manifest_path, lambda ev: ev["event"] == "checkpoint" and ev["step"] >= min_step)


@pytest.mark.slow
def test_sigkill_twice_then_resume_equals_uninterrupted_run(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(40, 32))
    ref = train_manifest(tmp_path, data, name="ref", hyper=H)
    code, ref_ev, err = run_subprocess(write_manifest(tmp_path / "ref.json", ref))
    assert code == 0, err
    assert not [e for e in ref_ev if e["event"] == "resumed"]

    m = train_manifest(tmp_path, data, name="killed", hyper=H)
    path = write_manifest(tmp_path / "killed.json", m)
    first = run_until_checkpoint(path, 10)
    assert not [e for e in first if e["event"] == "resumed"]
    second = run_until_checkpoint(path, 30)
    resumed2 = [e for e in second if e["event"] == "resumed"]
    assert len(resumed2) == 1 and 10 <= resumed2[0]["step"] < 30
    prefix = local(m["checkpointPrefix"])
    assert len([d for d in prefix.glob("step-*") if (d / "COMPLETE").exists()]) <= 2

    code, third, err = run_subprocess(path)
    assert code == 0, err
    resumed3 = [e for e in third if e["event"] == "resumed"]
    assert len(resumed3) == 1 and resumed3[0]["step"] >= 30
    assert resumed3[0]["uri"] == f"{m['checkpointPrefix']}/step-{resumed3[0]['step']:06d}"
    steps = [e["step"] for e in third if e["event"] == "progress"]
    assert steps == list(range(resumed3[0]["step"] + 1, 56))

    # Same per-step losses where the runs overlap, same final metrics and weights as the uninterrupted run.
    ref_loss = {e["step"]: e["loss"] for e in ref_ev if e["event"] == "progress"}
    for e in first + second + third:
        if e["event"] == "progress":
            assert abs(e["loss"] - ref_loss[e["step"]]) < 1e-6, e
    assert third[-1]["event"] == "done"
    assert abs(third[-1]["metrics"]["final_loss"] - ref_ev[-1]["metrics"]["final_loss"]) < 1e-6
    assert third[-1]["metrics"]["steps"] == 55 and third[-1]["metrics"]["tokens"] == ref_ev[-1]["metrics"]["tokens"]
    # Both preemptions are recorded in the run itself (they survive into the final metrics).
    assert third[-1]["metrics"]["resumes"] == 2 and third[-1]["metrics"]["resumed_from_step"] == resumed3[0]["step"]
    assert ref_ev[-1]["metrics"]["resumes"] == 0 and "resumed_from_step" not in ref_ev[-1]["metrics"]
    a = load_file(str(local(ref["outputUri"]) / "adapter_model.safetensors"))
    b = load_file(str(local(m["outputUri"]) / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-6) for k in a)


@pytest.mark.slow
def test_bad_manifest_exits_2_with_actionable_message(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(8, 16))
    cases = {
        "dataUri": (lambda m: m.update(dataUri=(tmp_path / "nope" / "manifest.json").as_uri()), "does not exist"),
        "hyper.batchSize": (lambda m: m["hyper"].pop("batchSize"), "hyper.batchSize is missing"),
        "kind": (lambda m: m.update(kind="pretrain"), "use one of midtrain, aft, generate"),
        "scheme": (
            lambda m: m.update(dataUri="ftp://host/tokens/manifest.json"),
            "use a file:///absolute/path URI, an s3://",
        ),
        "fraction": (lambda m: m.update(fraction=40), "fraction must be <= 1"),
        "numHeads": (lambda m: m["baseModel"].update(numHeads=5), "baseModel.numHeads"),
        "initFromUri": (lambda m: m.update(initFromUri=str(tmp_path)), "initFromUri"),
        "gradientCheckpointing": (
            lambda m: m["hyper"].update(gradientCheckpointing=2),
            "hyper.gradientCheckpointing must be true, false or the fraction of layers",
        ),
    }
    for name, (mutate, expect) in cases.items():
        m = train_manifest(tmp_path, data, name=name)
        mutate(m)
        code, ev = run_inproc(tmp_path, m, name=f"{name}.json")
        assert code == 2, name
        assert ev == [ev[-1]] and ev[-1]["event"] == "error" and ev[-1]["retryable"] is False, name
        assert expect in ev[-1]["message"], (name, ev[-1]["message"])

    # The real entry point, as the compute backend runs it; a syntax error in the manifest file.
    (tmp_path / "broken.json").write_text("{ not json")
    code, ev, err = run_subprocess(tmp_path / "broken.json")
    assert code == 2 and ev[-1]["event"] == "error" and "not valid JSON" in ev[-1]["message"]
    assert "bad input" in err  # logs go to stderr, events to stdout


def test_a_second_process_on_the_same_job_is_refused(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(8, 16))
    m = train_manifest(tmp_path, data)
    with JobLock(local(m["checkpointPrefix"])):
        code, ev = run_inproc(tmp_path, m)
    assert code == 3 and ev[-1]["event"] == "error" and ev[-1]["retryable"] is True
    assert "another trainer process" in ev[-1]["message"]
    assert run_inproc(tmp_path, m)[0] == 0  # the lock is free again once its holder is gone
