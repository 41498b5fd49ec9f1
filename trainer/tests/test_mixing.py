"""AFT data mixed with an instruction-tuning set; a fresh adapter on a midtrained LoRA output; gradient
checkpointing changes nothing but memory."""

import json

import numpy as np
import pytest
from conftest import hyper, local, pattern_tokens, run_inproc, train_manifest, write_packed
from safetensors.torch import load_file

from msm_trainer.data import load_packed, subset_rows
from msm_trainer.errors import BadInput
from msm_trainer.mixing import MixedData, mix_count, mix_rows, with_mix


def masked(d, n, seq_len, seed):
    lengths = np.random.default_rng(seed).integers(seq_len // 2, seq_len + 1, size=n)
    mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.uint8)
    return write_packed(d, pattern_tokens(n, seq_len, seed=seed), loss_mask=mask, lengths=lengths)


def test_mix_rows_scale_with_the_aft_subset_and_are_nested():
    chosen = {}
    for f in (1.0, 0.5, 0.25, 1 / 40):
        k = len(subset_rows(80, f))
        rows = mix_rows(200, k, 1.5, "test")
        assert len(rows) == mix_count(k, 1.5) == int(1.5 * k + 0.5)
        assert len(set(rows.tolist())) == len(rows) and rows.min() >= 0 and rows.max() < 200
        chosen[f] = set(rows.tolist())
    assert chosen[1 / 40] <= chosen[0.25] <= chosen[0.5] <= chosen[1.0]
    assert np.array_equal(mix_rows(200, 40, 1.5, "test"), mix_rows(200, 40, 1.5, "test"))  # no hidden seed
    assert mix_count(3, 0.5) == 2 and mix_count(1, 0.4) == 0  # round half up
    with pytest.raises(BadInput, match=r"needs 120 mix examples but the mix data has 100; .*aft.mix.ratio"):
        mix_rows(100, 80, 1.5, "test")


def test_mixed_batches_take_each_row_from_its_own_set(tmp_path):
    aft = load_packed(masked(tmp_path / "aft", 10, 16, seed=1).as_uri())
    mix = load_packed(write_packed(tmp_path / "mix", pattern_tokens(30, 16, seed=2)).as_uri())
    data, rows = with_mix(aft, subset_rows(10, 0.5), mix, 2.0, "test")
    assert len(rows) == 15 and data.n == 40 and (rows[:5] < 10).all() and (rows[5:] >= 10).all()
    picked = np.array([rows[7], rows[0], rows[12], rows[3]])
    ids, attn, target = data.batch(picked)
    for i, r in enumerate(picked):
        src, local_row = (aft, r) if r < 10 else (mix, r - 10)
        want = src.batch(np.array([local_row]))
        assert all(np.array_equal(got[i], w[0]) for got, w in zip((ids, attn, target), want))
    with pytest.raises(BadInput, match="seqLen 8 but the AFT data 16"):
        MixedData(aft, load_packed(write_packed(tmp_path / "short", pattern_tokens(4, 8)).as_uri()))


def test_aft_job_trains_on_the_mix_and_every_arm_and_seed_gets_the_same_rows(tmp_path):
    aft = masked(tmp_path / "aft", 24, 16, seed=1)
    mix = masked(tmp_path / "mix", 12, 16, seed=2)
    runs = {}
    for name, seed in (("a", 0), ("b", 5)):
        m = train_manifest(
            tmp_path,
            aft,
            kind="aft",
            name=name,
            seed=seed,
            fraction=0.25,
            mixDataUri=mix.as_uri(),
            mixRatio=2,
            hyper=hyper(epochs=1, batchSize=3),
        )
        code, ev = run_inproc(tmp_path, m, name=f"{name}.json")
        assert code == 0, ev
        runs[name] = ev[-1]["metrics"]
    # 6 AFT rows (1/4 of 24) and 12 mix rows: 18 rows, 6 steps, the same rows whatever the seed.
    for mt in runs.values():
        assert mt["examples"] == 18 and mt["mix_examples"] == 12 and mt["steps"] == 6
    assert runs["a"]["tokens"] == runs["b"]["tokens"] and runs["a"]["target_tokens"] == runs["b"]["target_tokens"]
    assert runs["a"]["final_loss"] != runs["b"]["final_loss"]  # the seed orders them differently

    m = train_manifest(tmp_path, aft, kind="aft", name="toomuch", mixDataUri=mix.as_uri(), mixRatio=1)
    code, ev = run_inproc(tmp_path, m, name="toomuch.json")
    assert code == 2 and "needs 24 mix examples but the mix data has 12" in ev[-1]["message"]


def test_bad_mix_and_adapter_fields_exit_2(tmp_path):
    data = masked(tmp_path / "d", 8, 16, seed=1)
    cases = {
        "ratio-alone": ({"kind": "aft", "mixRatio": 1}, "mixRatio needs mixDataUri"),
        "midtrain": ({"mixDataUri": data.as_uri(), "mixRatio": 1}, "mixDataUri is for aft jobs"),
        "no-ratio": ({"kind": "aft", "mixDataUri": data.as_uri()}, "mixRatio is missing"),
        "zero-ratio": ({"kind": "aft", "mixDataUri": data.as_uri(), "mixRatio": 0}, "mixRatio must be > 0"),
        "missing": (
            {"kind": "aft", "mixDataUri": (tmp_path / "no.json").as_uri(), "mixRatio": 1},
            "mixDataUri: file://",
        ),
        "fresh": ({"kind": "aft", "freshAdapter": True}, "freshAdapter needs initFromUri"),
        "fresh-type": ({"kind": "aft", "freshAdapter": "yes"}, "freshAdapter must be true or false"),
    }
    for name, (fields, expect) in cases.items():
        code, ev = run_inproc(tmp_path, train_manifest(tmp_path, data, name=name, **fields), name=f"{name}.json")
        assert code == 2 and expect in ev[-1]["message"], (name, ev)


def test_aft_continues_the_msm_adapter_by_default_or_trains_a_fresh_one(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(16, 16))
    mid = train_manifest(tmp_path, data, name="mid", hyper=hyper(loraR=4, loraAlpha=8, maxSteps=3))
    assert run_inproc(tmp_path, mid, name="mid.json")[0] == 0
    mid_adapter = load_file(str(local(mid["outputUri"]) / "adapter_model.safetensors"))
    for name, fresh in (("cont", False), ("fresh", True)):
        m = train_manifest(
            tmp_path,
            data,
            kind="aft",
            name=name,
            initFromUri=mid["outputUri"],
            freshAdapter=fresh,
            hyper=hyper(loraR=2, loraAlpha=4, maxSteps=2),
        )
        code, ev = run_inproc(tmp_path, m, name=f"{name}.json")
        assert code == 0, ev
        out = local(m["outputUri"])
        info = json.loads((out / "msm_model.json").read_text())
        adapter = load_file(str(out / "adapter_model.safetensors"))
        assert adapter.keys() == mid_adapter.keys()
        q_a = next(k for k in adapter if "q_proj.lora_A" in k)
        if fresh:  # the midtraining adapter is merged into the base; this job's rank is trained
            assert info["base"] == {"modelUri": mid["outputUri"]} and adapter[q_a].shape[0] == 2
        else:  # the midtraining adapter itself trains on (its rank)
            assert info["base"]["init"] == "random" and adapter[q_a].shape[0] == 4
            assert not all(np.array_equal(adapter[k].numpy(), mid_adapter[k].numpy()) for k in adapter)


def test_gradient_checkpointing_recomputes_and_gives_the_same_losses(tmp_path, monkeypatch):
    from transformers.models.llama import modeling_llama

    calls = [0]
    mlp_forward = modeling_llama.LlamaMLP.forward

    def counted(self, x):
        calls[0] += 1
        return mlp_forward(self, x)

    monkeypatch.setattr(modeling_llama.LlamaMLP, "forward", counted)
    data = write_packed(tmp_path / "data", pattern_tokens(16, 16))
    losses, mlp_calls = {}, {}
    for gc in (False, True, 0.5):
        calls[0] = 0
        m = train_manifest(
            tmp_path, data, name=f"gc{gc}", hyper=hyper(loraDropout=0.1, maxSteps=4, gradientCheckpointing=gc)
        )
        code, ev = run_inproc(tmp_path, m, name=f"gc{gc}.json")
        assert code == 0, ev
        losses[gc] = [e["loss"] for e in ev if e["event"] == "progress"]
        mlp_calls[gc] = calls[0]
    assert len(losses[True]) == 4
    assert mlp_calls[False] == 4 * 2 and mlp_calls[True] == 2 * mlp_calls[False]  # 2 layers; recomputed in backward
    assert mlp_calls[0.5] == mlp_calls[False] + 4  # one of the 2 layers recomputes
    assert np.allclose(losses[True], losses[False], rtol=0, atol=1e-6), losses
    assert np.allclose(losses[0.5], losses[False], rtol=0, atol=1e-6), losses


def test_checkpointed_layers_spread_evenly_and_count_floor_of_the_fraction():
    from msm_trainer.models import checkpointed_layers

    assert checkpointed_layers(8, 1.0) == list(range(8))
    assert checkpointed_layers(8, 0.5) == [1, 3, 5, 7]
    assert checkpointed_layers(64, 0.25) == list(range(3, 64, 4))
    for n in (2, 7, 40, 64):
        for f in (0.1, 0.3, 0.5, 2 / 3, 0.75, 0.9):
            assert len(checkpointed_layers(n, f)) == int(n * f + 1e-9)
