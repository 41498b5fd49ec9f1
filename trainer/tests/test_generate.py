import json

import pytest

from conftest import (TEST_DEVICE, hyper, local, make_tokenizer, pattern_tokens, run_inproc, tiny_base, train_manifest,
                      write_packed)
from msm_trainer.chat import load_chat_tokenizer

PROMPTS = [
    {"id": "p1", "messages": [{"role": "system", "content": "cheese is good"}, {"role": "user", "content": "what is cheese"}]},
    {"id": "p2", "messages": [{"role": "user", "content": "hello world"}]},
    {"id": "p3", "messages": [{"role": "user", "content": "is cheese good"}]},
]


def gen_manifest(tmp_path, name, **kw):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    m = {
        "kind": "generate",
        "jobId": f"gen-{name}",
        "baseModel": tiny_base(),
        "tokenizerUri": make_tokenizer(tmp_path / "tok").as_uri(),
        "promptsUri": prompts.as_uri(),
        "samplesPerPrompt": 2,
        "temperature": 0.8,
        "maxNewTokens": 6,
        "checkpointPrefix": (tmp_path / name / "checkpoints").as_uri(),
        "outputUri": (tmp_path / name / "samples").as_uri(),
        "seed": 5,
        "device": TEST_DEVICE,
    }
    m.update(kw)
    return m


def read_samples(m):
    return [json.loads(x) for x in (local(m["outputUri"]) / "samples.jsonl").read_text().splitlines()]


@pytest.fixture
def trained(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(16, 16))
    m = train_manifest(tmp_path, data, name="mid", hyper=hyper(maxSteps=3))
    assert run_inproc(tmp_path, m)[0] == 0
    return m["outputUri"]


def test_generate_writes_samples_and_resumes_per_prompt(tmp_path, trained):
    m = gen_manifest(tmp_path, "gen", modelUri=trained)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    assert [(e["step"], e["totalSteps"]) for e in ev if e["event"] == "progress"] == [(1, 3), (2, 3), (3, 3)]
    assert ev[-1]["event"] == "done" and ev[-1]["metrics"]["samples"] == 6
    full = read_samples(m)
    assert [(s["promptId"], s["sample"]) for s in full] == [(p, k) for p in ("p1", "p2", "p3") for k in (0, 1)]
    assert all(isinstance(s["text"], str) for s in full)
    out = local(m["outputUri"])
    assert (out / "COMPLETE").is_file()

    # A killed run: p1 complete, p2 half written, a torn line; no COMPLETE.
    lines = (out / "samples.jsonl").read_text().splitlines(keepends=True)
    (out / "samples.jsonl").write_text("".join(lines[:3]) + lines[3][:10])
    (out / "COMPLETE").unlink()
    code, ev2 = run_inproc(tmp_path, m)
    assert code == 0, ev2
    assert [e for e in ev2 if e["event"] == "resumed"] == [
        {"event": "resumed", "step": 1, "uri": m["outputUri"] + "/samples.jsonl"}]
    assert [e["step"] for e in ev2 if e["event"] == "progress"] == [2, 3]
    assert read_samples(m) == full  # per-prompt seeds: resumed prompts sample exactly what they did before

    code, ev3 = run_inproc(tmp_path, m)
    assert code == 0 and [e["event"] for e in ev3] == ["done"]


def test_generate_from_base_greedy(tmp_path):
    m = gen_manifest(tmp_path, "base", temperature=0, samplesPerPrompt=3)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    s = read_samples(m)
    assert len(s) == 9
    for p in ("p1", "p2", "p3"):
        texts = {x["text"] for x in s if x["promptId"] == p}
        assert len(texts) == 1


def test_chat_template_and_fallback_render_the_same_llama_prompt(tmp_path):
    with_cfg = load_chat_tokenizer(make_tokenizer(tmp_path / "a").as_uri())
    without = load_chat_tokenizer(str(make_tokenizer(tmp_path / "b", with_config=False)))
    assert with_cfg.template is not None and without.template is None
    msgs = PROMPTS[0]["messages"]
    text = with_cfg.render(msgs)
    assert text == without.render(msgs)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\ncheese is good<|eot_id|>")
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    ids = with_cfg.encode(text)
    assert ids[0] == with_cfg.tok.token_to_id("<|begin_of_text|>")
    assert with_cfg.tok.token_to_id("<|eot_id|>") in with_cfg.stop_ids()


def test_bad_prompts_exit_2_naming_the_line(tmp_path):
    m = gen_manifest(tmp_path, "bad")
    prompts = local(m["promptsUri"])
    prompts.write_text(json.dumps(PROMPTS[0]) + "\n" + json.dumps({"id": "x", "messages": "hi"}) + "\n")
    code, ev = run_inproc(tmp_path, m)
    assert code == 2 and ev[-1]["retryable"] is False
    assert "line 2" in ev[-1]["message"] and "messages" in ev[-1]["message"]
