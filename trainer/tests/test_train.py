import json
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import VOCAB, hyper, local, pattern_tokens, run_inproc, tiny_base, train_manifest, write_packed
from safetensors.torch import load_file

from msm_trainer.data import PackedData, load_packed, subset_rows
from msm_trainer.errors import BadInput
from msm_trainer.models import build_base, load_output
from msm_trainer.train import batch_loss, trim_padding


def progress_losses(events):
    return [e["loss"] for e in events if e["event"] == "progress"]


@pytest.fixture
def data(tmp_path):
    return write_packed(tmp_path / "data", pattern_tokens(64, 32))


def test_midtrain_full_loss_falls_output_loads_and_rerun_is_idempotent(tmp_path, data):
    m = train_manifest(tmp_path, data, hyper=hyper(method="full", lr=1e-2, epochs=2))
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    done = ev[-1]
    assert done["event"] == "done" and done["outputUri"] == m["outputUri"]
    mt = done["metrics"]
    assert mt["steps"] == 32 and mt["tokens"] == 64 * 32 * 2 and mt["examples"] == 64
    assert mt["final_loss"] < 0.6 * mt["first_loss"]
    assert [e["step"] for e in ev if e["event"] == "progress"] == list(range(1, 33))
    assert all(e["totalSteps"] == 32 and e["tokensPerSec"] > 0 for e in ev if e["event"] == "progress")

    out = local(m["outputUri"])
    assert (out / "COMPLETE").is_file()
    assert json.loads((out / "metrics.json").read_text()) == mt
    info = json.loads((out / "msm_model.json").read_text())
    assert info["method"] == "full"
    model, _ = load_output(m["outputUri"], torch.device("cpu"))
    ids, attn, tgt = (torch.from_numpy(a) for a in load_packed(m["dataUri"]).batch(np.arange(8)))
    with torch.no_grad():
        loss, _ = batch_loss(model, ids, attn, tgt, torch.device("cpu"))
    assert loss.item() < 0.6 * mt["first_loss"]  # the saved weights are the trained ones

    stamp = (out / "COMPLETE").stat().st_mtime_ns
    code, ev2 = run_inproc(tmp_path, m)
    assert code == 0 and [e["event"] for e in ev2] == ["done"] and ev2[0]["metrics"] == mt
    assert (out / "COMPLETE").stat().st_mtime_ns == stamp


def test_midtrain_lora_loss_falls_and_saves_adapter(tmp_path, data):
    m = train_manifest(tmp_path, data, hyper=hyper(lr=1e-2, epochs=4, loraR=8, loraAlpha=32))
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    losses = progress_losses(ev)
    assert len(losses) == 64
    assert np.mean(losses[-8:]) < losses[0] - 0.2
    out = local(m["outputUri"])
    info = json.loads((out / "msm_model.json").read_text())
    assert info["method"] == "lora" and info["base"] == {**tiny_base(), "init": "random"}
    adapter = load_file(str(out / "adapter_model.safetensors"))
    assert adapter and all("lora_" in k for k in adapter)
    assert len([k for k in adapter if "q_proj" in k or "down_proj" in k]) == 2 * 2 * 2  # 2 layers x A/B x 2 modules


def test_random_base_weights_depend_only_on_init_seed():
    desc = {**tiny_base(), "initSeed": 11}
    torch.manual_seed(1)
    a = build_base(desc, torch.device("cpu")).state_dict()
    torch.manual_seed(2)
    torch.rand(1000)  # a job's own RNG use must not change the base
    b = build_base(desc, torch.device("cpu")).state_dict()
    c = build_base({**desc, "initSeed": 12}, torch.device("cpu")).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.embed_tokens.weight"], c["model.embed_tokens.weight"])


def test_fraction_subsets_are_nested_and_sized_by_ceil():
    n = 1000
    prev = None
    for f in [1 / 60, 1 / 40, 0.1, 0.5, 1.0]:
        rows = subset_rows(n, f)
        assert len(rows) == math.ceil(f * n - 1e-9) and len(set(rows.tolist())) == len(rows)
        if prev is not None:
            assert set(prev.tolist()) <= set(rows.tolist())
        prev = rows
    assert len(subset_rows(40, 1 / 40)) == 1  # 1/40 of 40 is one row, not two (float rounding)
    assert sorted(subset_rows(10, 1.0).tolist()) == list(range(10))
    # Drawn from numpy seed 42: the first rows of default_rng(42).permutation(n).
    assert set(subset_rows(n, 0.1).tolist()) == set(np.random.default_rng(42).permutation(n)[:100].tolist())


def chat_rows(n, seq_len, seed=0):
    """AFT-like rows: a noise 'prompt', then a learnable 'answer', then padding after `length`."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, VOCAB, size=(n, seq_len)).astype(np.int32)
    mask = np.zeros((n, seq_len), np.uint8)
    lengths = rng.integers(seq_len // 2 + 4, seq_len + 1, size=n).astype(np.int32)
    for i in range(n):
        start = seq_len // 2
        tokens[i, start : lengths[i]] = 2 + (np.arange(lengths[i] - start) * 3 + i) % 10
        mask[i, start : lengths[i]] = 1
        tokens[i, lengths[i] :] = 0
    return tokens, mask, lengths


def test_loss_counts_only_masked_targets_and_never_padding():
    torch.manual_seed(0)
    model = build_base(tiny_base(), torch.device("cpu")).eval()
    seq = 12
    tokens = np.random.default_rng(1).integers(2, VOCAB, size=(1, seq)).astype(np.int32)
    mask = np.zeros((1, seq), np.uint8)
    mask[0, 5:8] = 1
    data = PackedData(seq, tokens, mask, np.array([8], np.int32), 0, 1, VOCAB)
    ids, attn, tgt = (torch.from_numpy(a) for a in data.batch(np.array([0])))
    assert attn[0].tolist() == [1] * 8 + [0] * 4
    assert tgt[0].tolist() == [0] * 5 + [1] * 3 + [0] * 4
    with torch.no_grad():
        loss, n = batch_loss(model, ids, attn, tgt, torch.device("cpu"))
        logits = model(input_ids=ids, attention_mask=attn).logits[0]
    expect = torch.stack([torch.nn.functional.cross_entropy(logits[t - 1], ids[0, t]) for t in (5, 6, 7)]).mean()
    assert n == 3 and torch.allclose(loss, expect, atol=1e-6)

    # Changing a token at a masked-out target position that nothing later attends to (the last real token
    # when it is masked, or any padding) must not change the loss.
    mask2 = mask.copy()
    mask2[0, 7] = 0
    t2 = tokens.copy()
    t2[0, 7] = (t2[0, 7] + 1 - 2) % (VOCAB - 2) + 2
    t2[0, 9] = 5

    def loss_of(tokens, mask):
        rows = PackedData(seq, tokens, mask, np.array([8], np.int32), 0, 1, VOCAB).batch(np.array([0]))
        ids, attn, tgt = (torch.from_numpy(x) for x in rows)
        return batch_loss(model, ids, attn, tgt, torch.device("cpu"))[0]

    with torch.no_grad():
        a, b, c = loss_of(tokens, mask2), loss_of(t2, mask2), loss_of(t2, mask)
    assert torch.equal(a, b)
    assert not torch.allclose(b, c)  # the same change at an unmasked target does count


def test_aft_uses_fraction_subset_and_assistant_only_loss(tmp_path):
    tokens, mask, lengths = chat_rows(40, 24)
    data = write_packed(tmp_path / "aft", tokens, mask, lengths)
    m = train_manifest(
        tmp_path, data, kind="aft", name="aft", fraction=0.5, hyper=hyper(method="full", lr=1e-2, epochs=6, batchSize=4)
    )
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    mt = ev[-1]["metrics"]
    used = subset_rows(40, 0.5)
    assert mt["examples"] == 20 and mt["steps"] == 30
    # Target tokens: per row, the answer positions after the first answer token (shift by one), within length.
    per_row = {i: int(mask[i, 1 : lengths[i]].sum()) for i in used}
    assert mt["target_tokens"] == 6 * sum(per_row.values())
    assert mt["tokens"] == 6 * int(lengths[used].sum())
    # The answers are learnable but the noise prompts are not: an assistant-only loss falls far below ln(V).
    assert mt["final_loss"] < 0.5 * math.log(VOCAB)


def test_aft_continues_from_the_midtrain_adapter(tmp_path, data):
    mid = train_manifest(tmp_path, data, name="mid", hyper=hyper(lr=1e-2, epochs=1))
    assert run_inproc(tmp_path, mid)[0] == 0
    tokens, mask, lengths = chat_rows(16, 24)
    aft_data = write_packed(tmp_path / "aft", tokens, mask, lengths)
    aft = train_manifest(
        tmp_path, aft_data, kind="aft", name="aft", initFromUri=mid["outputUri"], hyper=hyper(lr=1e-12, maxSteps=1)
    )
    code, ev = run_inproc(tmp_path, aft)
    assert code == 0, ev
    info = json.loads((local(aft["outputUri"]) / "msm_model.json").read_text())
    assert info["initFrom"] == mid["outputUri"] and info["base"]["initSeed"] == 7
    a = load_file(str(local(mid["outputUri"]) / "adapter_model.safetensors"))
    b = load_file(str(local(aft["outputUri"]) / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-8) for k in a)  # a near-zero lr step from the same adapter
    assert any(a[k].abs().sum() > 0 for k in a if "lora_B" in k)  # ...which is not a fresh (zero-B) adapter


def test_incomplete_checkpoints_are_ignored(tmp_path, data):
    h = hyper(lr=1e-2, epochs=1, checkpointEverySteps=4, loraDropout=0.1)
    ref = train_manifest(tmp_path, data, name="ref", hyper=h)
    code, ev = run_inproc(tmp_path, ref)
    assert code == 0
    ref_prefix = local(ref["checkpointPrefix"])
    assert sorted(p.name for p in ref_prefix.glob("step-*")) == ["step-000008", "step-000012"]  # 2 newest kept

    m = train_manifest(tmp_path, data, name="b", hyper=h)
    prefix = local(m["checkpointPrefix"])
    prefix.mkdir(parents=True)
    shutil.copytree(ref_prefix / "step-000008", prefix / "step-000008")
    shutil.copytree(ref_prefix / "step-000012", prefix / "step-000012")
    (prefix / "step-000012" / "COMPLETE").unlink()  # a checkpoint killed before its marker
    (prefix / "step-000012" / "model.safetensors").write_bytes(b"torn")
    (prefix / ".tmp-step-000014-999").mkdir()
    code, ev2 = run_inproc(tmp_path, m)
    assert code == 0, ev2
    resumed = [e for e in ev2 if e["event"] == "resumed"]
    assert resumed == [{"event": "resumed", "step": 8, "uri": m["checkpointPrefix"] + "/step-000008"}]
    assert [e["step"] for e in ev2 if e["event"] == "progress"] == list(range(9, 17))
    # (GPU runs also report their peak memory: a measurement of the attempt, not a result of the training)
    resume_keys = {"resumes", "resumed_from_step", "peak_memory_bytes"}
    assert {k: v for k, v in ev2[-1]["metrics"].items() if k not in resume_keys} == {
        k: v for k, v in ev[-1]["metrics"].items() if k not in resume_keys
    }
    assert ev2[-1]["metrics"]["resumes"] == 1 and ev2[-1]["metrics"]["resumed_from_step"] == 8
    assert not (prefix / ".tmp-step-000014-999").exists()

    # With only incomplete checkpoints the job starts from scratch.
    c = train_manifest(tmp_path, data, name="c", hyper=h)
    cp = local(c["checkpointPrefix"])
    (cp / "step-000012").mkdir(parents=True)
    (cp / "step-000012" / "state.json").write_text("{")
    code, ev3 = run_inproc(tmp_path, c)
    assert code == 0 and not [e for e in ev3 if e["event"] == "resumed"]
    assert {k: v for k, v in ev3[-1]["metrics"].items() if k != "peak_memory_bytes"} == {
        k: v for k, v in ev[-1]["metrics"].items() if k != "peak_memory_bytes"
    }


def test_checkpoints_by_wall_clock(tmp_path, data):
    # A tiny interval: every step is past it, so every step but the last checkpoints by the clock alone.
    m = train_manifest(
        tmp_path,
        data,
        name="clock",
        hyper=hyper(lr=1e-2, epochs=1, checkpointEverySteps=0, checkpointEveryMinutes=1e-9),
    )
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    total = [e for e in ev if e["event"] == "progress"][-1]["totalSteps"]
    assert [e["step"] for e in ev if e["event"] == "checkpoint"] == list(range(1, total))
    # An hour-long interval in a seconds-long run: no checkpoint at all (steps are off too).
    m2 = train_manifest(
        tmp_path,
        data,
        name="clock-long",
        hyper=hyper(lr=1e-2, epochs=1, checkpointEverySteps=0, checkpointEveryMinutes=60),
    )
    code, ev2 = run_inproc(tmp_path, m2)
    assert code == 0 and not [e for e in ev2 if e["event"] == "checkpoint"]
    # The interval is not part of the job: a resume may use another one.
    m3 = dict(m, hyper={**m["hyper"], "checkpointEveryMinutes": 5})
    shutil.rmtree(local(m3["outputUri"]))
    code, ev3 = run_inproc(tmp_path, m3)
    assert code == 0, ev3
    assert [e["step"] for e in ev3 if e["event"] == "resumed"] == [total - 1]


def test_checkpoint_of_another_job_is_rejected(tmp_path, data):
    a = train_manifest(tmp_path, data, name="a", hyper=hyper(checkpointEverySteps=4))
    assert run_inproc(tmp_path, a)[0] == 0
    b = train_manifest(tmp_path, data, name="b", hyper=hyper(checkpointEverySteps=4, lr=5e-3))
    shutil.copytree(local(a["checkpointPrefix"]), local(b["checkpointPrefix"]))
    code, ev = run_inproc(tmp_path, b)
    assert code == 2 and ev[-1]["event"] == "error" and ev[-1]["retryable"] is False
    assert "different hyper" in ev[-1]["message"]


def test_load_packed_checks_file_sizes_and_token_range(tmp_path):
    d = write_packed(tmp_path / "bad", pattern_tokens(4, 8))
    (tmp_path / "bad" / "tokens.bin").write_bytes(b"\0" * 10)
    with pytest.raises(BadInput, match="tokens.bin should be 128 bytes"):
        load_packed(d.as_uri())
    d2 = write_packed(tmp_path / "big", pattern_tokens(4, 8), vocab=10)
    with pytest.raises(BadInput, match="vocabSize is 10"):
        load_packed(str(d2))


def test_a_micro_batch_is_trimmed_to_its_longest_row_with_the_same_loss_and_gradients():
    lengths = np.array([40, 71, 12, 65, 30, 50], np.int32)
    tokens = np.random.default_rng(3).integers(2, VOCAB, size=(6, 200)).astype(np.int32)
    mask = np.zeros((6, 200), np.uint8)
    for i, n in enumerate(lengths):
        tokens[i, n:] = 0
        mask[i, n // 2 : n] = 1  # the answer: the second half of the row
    data = PackedData(200, tokens, mask, lengths, 0, 1, VOCAB)
    ids, attn, tgt = data.batch(np.arange(6))
    t_ids, t_attn, t_tgt = trim_padding(ids, attn, tgt, multiple=16)
    assert t_ids.shape == (6, 80)  # the longest row, 71, rounded up to 16s
    assert int(t_tgt.sum()) == int(tgt.sum()) and int(t_attn.sum()) == int(attn.sum())
    assert trim_padding(ids[:1, :64], np.ones_like(attn[:1, :64]), tgt[:1, :64])[0].shape == (1, 64)  # full rows

    def loss_and_grads(arrays):
        torch.manual_seed(0)
        model = build_base(tiny_base(), torch.device("cpu"))
        ids, attn, tgt = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
        loss, _ = batch_loss(model, ids, attn, tgt, torch.device("cpu"))
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    full_loss, full_grads = loss_and_grads((ids, attn, tgt))
    trim_loss, trim_grads = loss_and_grads((t_ids, t_attn, t_tgt))
    assert full_loss > 1.0  # random weights on real targets: a real loss, not the 0 of a batch without targets
    assert torch.allclose(full_loss, trim_loss, atol=1e-6, rtol=1e-5)
    assert sum(float(g.abs().sum()) for g in full_grads) > 0
    for a, b in zip(full_grads, trim_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
