"""Bad input exits 2; a second process on the same job is refused. (Kill and resume: test_kill_resume.py.)"""

import pytest
from conftest import (
    local,
    pattern_tokens,
    run_inproc,
    run_subprocess,
    train_manifest,
    write_packed,
)

from msm_trainer.storage import JobLock


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
