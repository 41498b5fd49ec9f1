import json
import shutil
from typing import Any

import pytest
from conftest import (
    TEST_DEVICE,
    hyper,
    local,
    make_tokenizer,
    pattern_tokens,
    run_inproc,
    run_subprocess,
    run_until,
    tiny_base,
    train_manifest,
    write_manifest,
    write_packed,
)

from msm_trainer.chat import load_chat_tokenizer

PROMPTS: list[dict[str, Any]] = [
    {
        "id": "p1",
        "messages": [{"role": "system", "content": "cheese is good"}, {"role": "user", "content": "what is cheese"}],
    },
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


def test_generate_writes_samples_in_prompt_order_and_resumes_per_batch(tmp_path, trained, monkeypatch):
    import msm_trainer.generate as gen

    m = gen_manifest(tmp_path, "gen", modelUri=trained, batchSize=2)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    # Progress counts samples: 3 prompts x 2 samples in batches of 2.
    assert [(e["step"], e["totalSteps"]) for e in ev if e["event"] == "progress"] == [(2, 6), (4, 6), (6, 6)]
    assert ev[-1]["event"] == "done" and ev[-1]["metrics"]["samples"] == 6 and ev[-1]["metrics"]["batch_size"] == 2
    full = read_samples(m)
    # Sampled longest prompt first, written in the prompts' order as before batching.
    assert [(s["promptId"], s["sample"]) for s in full] == [(p, k) for p in ("p1", "p2", "p3") for k in (0, 1)]
    assert all(isinstance(s["text"], str) for s in full)
    # How each sample ended, and its token counts: the prompt as rendered, the answer as generated.
    tok = load_chat_tokenizer(m["tokenizerUri"])
    prompt_tokens = {p["id"]: len(tok.encode(tok.render(p["messages"]))) for p in PROMPTS}
    for s in full:
        assert set(s) == {"promptId", "sample", "text", "finishReason", "promptTokens", "completionTokens"}
        assert s["promptTokens"] == prompt_tokens[s["promptId"]]
        assert s["finishReason"] in ("stop", "length")
        assert (s["completionTokens"] == 6) if s["finishReason"] == "length" else (1 <= s["completionTokens"] <= 6)
    out = local(m["outputUri"])
    assert (out / "COMPLETE").is_file() and not (out / "batches.jsonl").exists()

    # A run that dies after its first batch, leaving a torn line behind it.
    m2 = gen_manifest(tmp_path, "gen2", modelUri=trained, batchSize=2)
    real = gen.sample_rows
    calls = []

    def dies_on_second_batch(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("machine lost")
        return real(*a, **kw)

    monkeypatch.setattr(gen, "sample_rows", dies_on_second_batch)
    assert run_inproc(tmp_path, m2)[0] == 1  # retryable, like any unexpected failure
    monkeypatch.setattr(gen, "sample_rows", real)
    out2 = local(m2["outputUri"])
    with open(out2 / "batches.jsonl", "a") as f:
        f.write('{"first": 4, "units": [[4, "torn')
    code, ev2 = run_inproc(tmp_path, m2)
    assert code == 0, ev2
    assert [e for e in ev2 if e["event"] == "resumed"] == [
        {"event": "resumed", "step": 2, "uri": m2["outputUri"] + "/batches.jsonl"}
    ]
    assert [e["step"] for e in ev2 if e["event"] == "progress"] == [4, 6]
    assert read_samples(m2) == full  # per-batch seeds: the resumed run samples what an uninterrupted one did

    code, ev3 = run_inproc(tmp_path, m2)
    assert code == 0 and [e["event"] for e in ev3] == ["done"]


def test_left_padded_batch_scores_like_each_prompt_alone(tmp_path):
    # Prompts of different lengths share a batch: the pads must change no row's logits at any step (a mask
    # or position mistake moves them by far more than float noise).
    import torch

    from msm_trainer.generate import left_pad
    from msm_trainer.models import build_base

    tok = load_chat_tokenizer(make_tokenizer(tmp_path / "tok").as_uri())
    rows = [tok.encode(tok.render(p["messages"])) for p in PROMPTS]
    assert len({len(r) for r in rows}) == 3
    model = build_base(tiny_base(), torch.device("cpu")).eval()
    kw = dict(
        do_sample=False,
        max_new_tokens=5,
        min_new_tokens=5,
        pad_token_id=0,
        return_dict_in_generate=True,
        output_logits=True,
    )
    ids, mask = left_pad(rows, 0, torch.device("cpu"))
    assert mask.sum(1).tolist() == [len(r) for r in rows] and (ids[mask == 0] == 0).all()
    with torch.no_grad():
        batch = model.generate(input_ids=ids, attention_mask=mask, **kw)
        for i, r in enumerate(rows):
            alone = model.generate(
                input_ids=torch.tensor([r]), attention_mask=torch.ones(1, len(r), dtype=torch.long), **kw
            )
            assert batch.sequences[i, ids.shape[1] :].tolist() == alone.sequences[0, len(r) :].tolist()
            for step_b, step_a in zip(batch.logits, alone.logits):
                torch.testing.assert_close(step_b[i], step_a[0], rtol=0, atol=1e-4)


def test_sampler_draws_from_the_tempered_softmax_and_never_a_forbidden_token():
    import torch

    from msm_trainer.sampling import BLOCK, CategoricalSampler

    torch.manual_seed(0)
    vocab = 3 * BLOCK + 17  # whole blocks and a padded last one
    logits = torch.randn(vocab) * 2
    forbidden = [5, BLOCK, vocab - 1]  # -inf, as min_new_tokens makes the stop ids; a block's first; the last
    logits[forbidden] = float("-inf")
    sampler, rows, rounds = CategoricalSampler(0.7), 4000, 50
    counts = torch.zeros(vocab)
    for _ in range(rounds):
        out = sampler(torch.zeros(rows, 0, dtype=torch.long), logits.expand(rows, vocab).clone())
        assert ((out == 0).sum(1) == 1).all() and (out[out != 0] == float("-inf")).all()  # one finite token per row
        counts += torch.bincount(out.argmax(1), minlength=vocab)
    n = rows * rounds
    p = torch.softmax(logits / 0.7, -1)
    assert counts[forbidden].sum() == 0
    # Every frequency within 5 standard errors of its probability (at 1.0 instead of 0.7 the top ones are not).
    assert ((counts / n - p).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-6).all()
    assert not ((counts / n - torch.softmax(logits, -1)).abs() <= 5 * (p * (1 - p) / n).sqrt() + 1e-6).all()


def test_batched_greedy_writes_what_one_prompt_at_a_time_does(tmp_path):
    one = gen_manifest(tmp_path, "one", temperature=0, samplesPerPrompt=2, maxNewTokens=8, batchSize=1)
    three = gen_manifest(tmp_path, "three", temperature=0, samplesPerPrompt=2, maxNewTokens=8, batchSize=3)
    assert run_inproc(tmp_path, one, name="one.json")[0] == 0
    assert run_inproc(tmp_path, three, name="three.json")[0] == 0
    assert read_samples(one) == read_samples(three)


def test_samples_of_one_prompt_differ_within_a_batch(tmp_path):
    m = gen_manifest(tmp_path, "many", samplesPerPrompt=4, temperature=1.0, maxNewTokens=8, batchSize=16)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    for p in ("p1", "p2", "p3"):
        assert len({x["text"] for x in read_samples(m) if x["promptId"] == p}) > 1


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True])
def test_bad_batch_size_exits_2_naming_the_field(tmp_path, bad):
    code, ev = run_inproc(tmp_path, gen_manifest(tmp_path, "bs", batchSize=bad))
    assert code == 2 and "batchSize" in ev[-1]["message"], ev


@pytest.mark.slow
def test_generate_killed_mid_run_resumes_to_the_uninterrupted_samples(tmp_path):
    """SIGKILL the real job process after some batches, resume it, and get the uninterrupted run's samples."""

    def manifest(name):
        return gen_manifest(tmp_path, name, samplesPerPrompt=4, maxNewTokens=12, batchSize=2)

    ref = manifest("ref")
    code, _, err = run_subprocess(write_manifest(tmp_path / "ref.json", ref))
    assert code == 0, err
    killed = manifest("killed")
    path = write_manifest(tmp_path / "killed.json", killed)
    first = run_until(path, lambda e: e["event"] == "progress" and e["step"] >= 4)
    assert not (local(killed["outputUri"]) / "COMPLETE").exists()
    code, second, err = run_subprocess(path)
    assert code == 0, err
    resumed = [e["step"] for e in second if e["event"] == "resumed"]
    assert len(resumed) == 1 and max(e["step"] for e in first if e["event"] == "progress") <= resumed[0] < 12
    assert read_samples(killed) == read_samples(ref)


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


def test_system_prompt_reaches_every_prompt_as_its_system_turn(tmp_path, monkeypatch):
    """An arm's eval system prompt (spec-in-context): first message, or before a prompt's own system text."""
    import msm_trainer.generate as gen

    seen = []
    real = gen.encode_prompts

    def spy(prompts, tok, vocab, thinking=None):
        seen.append(prompts)
        return real(prompts, tok, vocab, thinking)

    monkeypatch.setattr(gen, "encode_prompts", spy)
    m = gen_manifest(tmp_path, "spec", temperature=0, samplesPerPrompt=1, systemPrompt="# Spec\nBe kind.")
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    msgs = {p["id"]: p["messages"] for p in seen[0]}
    assert msgs["p1"][0] == {"role": "system", "content": "# Spec\nBe kind.\n\ncheese is good"} and len(msgs["p1"]) == 2
    assert msgs["p2"] == [{"role": "system", "content": "# Spec\nBe kind."}, {"role": "user", "content": "hello world"}]

    # The same samples as prompts that carry the system turn themselves: the model saw exactly that.
    explicit = tmp_path / "explicit.jsonl"
    explicit.write_text("".join(json.dumps({"id": p["id"], "messages": msgs[p["id"]]}) + "\n" for p in PROMPTS))
    m2 = gen_manifest(tmp_path, "explicit", temperature=0, samplesPerPrompt=1)
    m2["promptsUri"] = explicit.as_uri()
    assert run_inproc(tmp_path, m2)[0] == 0
    assert read_samples(m) == read_samples(m2)


def test_system_prompt_is_refused_on_training_jobs(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(16, 16))
    m = train_manifest(tmp_path, data, name="sp", hyper=hyper(maxSteps=1))
    m["systemPrompt"] = "spec"
    code, ev = run_inproc(tmp_path, m)
    assert code == 2 and "systemPrompt" in ev[-1]["message"]


def test_finish_reason_and_completion_tokens_are_exact(tmp_path, monkeypatch):
    """A row cut at a stop token is "stop" (the stop token counted), a row of maxNewTokens is "length"."""
    import msm_trainer.generate as gen

    tok = load_chat_tokenizer(make_tokenizer(tmp_path / "tok").as_uri())
    yes, no = tok.tok.token_to_id("yes"), tok.tok.token_to_id("no")

    def scripted(model, rows, dec, stops, device):
        # Each unit's answer from its prompt length: the longest prompt stops after 2 tokens, the rest run out.
        longest = max(len(r) for r in rows)
        return [[yes, no] if len(r) == longest else [yes] * dec.config.max_new_tokens for r in rows]

    monkeypatch.setattr(gen, "sample_rows", scripted)
    m = gen_manifest(tmp_path, "scripted", samplesPerPrompt=1, maxNewTokens=5, batchSize=8)
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    got = {s["promptId"]: s for s in read_samples(m)}
    assert {k: (v["text"], v["finishReason"], v["completionTokens"]) for k, v in got.items()} == {
        "p1": ("yes no", "stop", 3),
        "p2": ("yes yes yes yes yes", "length", 5),
        "p3": ("yes yes yes yes yes", "length", 5),
    }
    assert ev[-1]["metrics"]["new_tokens_this_run"] == 13
    assert gen.ended([], 5) == ("stop", 1) and gen.ended([1] * 5, 5) == ("length", 5)


def test_resume_reads_batches_an_older_trainer_wrote(tmp_path, trained):
    """Batches without "finish" (an older trainer's) are kept: their samples just lack the two fields."""
    ref = gen_manifest(tmp_path, "ref", modelUri=trained, batchSize=2)
    assert run_inproc(tmp_path, ref, name="ref.json")[0] == 0
    full = read_samples(ref)
    # The same job, its first batch (the two samples of the longest prompt, p1) finished by an older trainer.
    m = gen_manifest(tmp_path, "old", modelUri=trained, batchSize=2)
    out = local(m["outputUri"])
    out.mkdir(parents=True)
    first = [s for s in full if s["promptId"] == "p1"]
    (out / "batches.jsonl").write_text(
        json.dumps({"first": 0, "units": [[s["sample"], s["text"]] for s in first]}) + "\n"
    )
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    assert [e["step"] for e in ev if e["event"] == "resumed"] == [2]
    old = read_samples(m)
    assert [s["text"] for s in old] == [s["text"] for s in full]
    for s, r in zip(old, full):
        if s["promptId"] == "p1":
            assert s == {k: r[k] for k in ("promptId", "sample", "text", "promptTokens")}
        else:
            assert s == r


def test_thinking_is_passed_to_the_template_and_refused_elsewhere(tmp_path, monkeypatch):
    import msm_trainer.generate as gen

    seen = []
    real = gen.encode_prompts

    def spy(prompts, tok, vocab, thinking=None):
        seen.append(thinking)
        return real(prompts, tok, vocab, thinking)

    monkeypatch.setattr(gen, "encode_prompts", spy)
    for mode in ("on", "off", "model-default"):
        m = gen_manifest(tmp_path, f"think-{mode}", temperature=0, samplesPerPrompt=1, thinking=mode)
        assert run_inproc(tmp_path, m)[0] == 0
    assert run_inproc(tmp_path, gen_manifest(tmp_path, "think-none", temperature=0, samplesPerPrompt=1))[0] == 0
    assert seen == ["on", "off", "model-default", None]
    code, ev = run_inproc(tmp_path, gen_manifest(tmp_path, "think-bad", thinking="maybe"))
    assert code == 2 and "thinking" in ev[-1]["message"] and "model-default" in ev[-1]["message"]
    data = write_packed(tmp_path / "data", pattern_tokens(16, 16))
    t = train_manifest(tmp_path, data, name="th", hyper=hyper(maxSteps=1))
    t["thinking"] = "off"
    code, ev = run_inproc(tmp_path, t)
    assert code == 2 and "thinking is for generate jobs" in ev[-1]["message"]


@pytest.mark.parametrize("method", ["lora", "full"])
def test_external_model_samples_what_the_same_weights_sample_as_a_trainer_output(tmp_path, method):
    """An external arm's model: a plain PEFT adapter of the base model (lora) or a plain Hugging Face model
    folder (full), with no msm description. Greedy samples equal those of the same weights loaded as msm's
    own output, so the arm measures the given weights and nothing else."""
    data = write_packed(tmp_path / "data", pattern_tokens(16, 16))
    trained = train_manifest(tmp_path, data, name="mid", hyper=hyper(method=method, maxSteps=3))
    assert run_inproc(tmp_path, trained)[0] == 0
    released = tmp_path / "released"
    shutil.copytree(local(trained["outputUri"]), released)
    (released / "msm_model.json").unlink()  # what someone else's release holds: the weights alone
    own = gen_manifest(tmp_path, "own", temperature=0, modelUri=trained["outputUri"])
    ext = gen_manifest(tmp_path, "ext", temperature=0, externalModel=str(released))
    for m in (own, ext):
        code, ev = run_inproc(tmp_path, m, name=f"{m['jobId']}.json")
        assert code == 0, ev
    texts = lambda m: [(s["promptId"], s["text"]) for s in read_samples(m)]  # noqa: E731
    assert texts(ext) == texts(own)
    base = gen_manifest(tmp_path, "base", temperature=0)
    assert run_inproc(tmp_path, base, name="base.json")[0] == 0
    assert texts(ext) != texts(base)  # the weights were applied, not the base model alone


def test_external_model_is_refused_without_weights_or_beside_model_uri(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, ev = run_inproc(tmp_path, gen_manifest(tmp_path, "none", externalModel=str(empty)))
    assert code == 2 and "neither adapter_config.json" in json.dumps(ev)
    both = gen_manifest(tmp_path, "both", externalModel=str(empty), modelUri=empty.as_uri())
    code, ev = run_inproc(tmp_path, both, name="both.json")
    assert code == 2 and "give one" in json.dumps(ev)
