"""The learning-rate schedule (schedule.py): no step trains at learning rate 0, not even the first of a
one-step job, and the output records the learning rate of every step."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import hyper, local, pattern_tokens, run_inproc, tiny_base, train_manifest, write_packed
from safetensors.torch import load_file

from msm_trainer.models import build_base, load_output
from msm_trainer.schedule import Schedule, multipliers, warmup_steps


def rule(warmup_ratio: float, total: int) -> list[float]:
    """The rule of the module docstring, written out independently."""
    w = min(math.ceil(round(warmup_ratio * total, 9)), total - 1)
    return [(s + 1) / (w + 1) if s < w else 0.5 * (1 + math.cos(math.pi * (s - w) / (total - w))) for s in range(total)]


@pytest.mark.parametrize("total", [1, 2, 3, 20, 60])
@pytest.mark.parametrize("ratio", [0.05, 0.0])
def test_multipliers_follow_the_rule_and_none_is_zero(total, ratio):
    m = multipliers(ratio, total)
    assert len(m) == total
    assert m == pytest.approx(rule(ratio, total), abs=1e-12)
    assert all(x > 0 for x in m) and m[0] > 0
    w = warmup_steps(ratio, total)
    assert w == (0 if ratio == 0 else min(math.ceil(ratio * total), total - 1))
    assert m[w] == 1.0 and max(m) == 1.0  # the peak is reached, at step W


def test_small_jobs_and_warmup_counts():
    assert multipliers(0.05, 1) == [1.0]
    assert multipliers(0.05, 2) == [0.5, 1.0]
    assert multipliers(0.05, 3) == pytest.approx([0.5, 1.0, 0.5])
    assert multipliers(0.0, 2) == pytest.approx([1.0, 0.5])
    assert [warmup_steps(0.05, n) for n in (20, 21, 60)] == [1, 2, 3]
    assert warmup_steps(0.1, 30) == 3  # 0.1 * 30 is 3.0000000000000004 in floats
    assert multipliers(1.0, 4) == [0.25, 0.5, 0.75, 1.0]  # all warm-up: the last step still reaches the peak


def test_the_optimizer_sees_the_schedule_and_it_survives_a_state_dict_round_trip():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1e-3)
    sched = Schedule(opt, 0.05, 20)
    seen = []
    for _ in range(7):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([1e-3 * x for x in multipliers(0.05, 20)[:7]], rel=0, abs=1e-18)
    saved = sched.state_dict()
    # As checkpoint.load does it: both built fresh, then the optimizer (its lr too) and the scheduler loaded.
    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched2 = Schedule(opt2, 0.05, 20)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(saved)
    rest: list[float] = []
    rest2: list[float] = []
    for o, s, out in ((opt, sched, rest), (opt2, sched2, rest2)):
        for _ in range(13):
            out.append(o.param_groups[0]["lr"])
            o.step()
            s.step()
    assert rest == rest2 and seen + rest == pytest.approx([1e-3 * x for x in multipliers(0.05, 20)], abs=1e-18)


def aft_rows(n: int, seq_len: int):
    """A prompt half (no loss) and a learnable answer half."""
    tokens = pattern_tokens(n, seq_len, seed=5)
    mask = np.zeros((n, seq_len), np.uint8)
    mask[:, seq_len // 2 :] = 1
    return tokens, mask, np.full(n, seq_len, np.int32)


def outputs(m):
    out = local(m["outputUri"])
    return json.loads((out / "loss_curve.json").read_text()), json.loads((out / "metrics.json").read_text())


def test_one_step_aft_job_trains_at_the_full_learning_rate(tmp_path):
    data = write_packed(tmp_path / "aft", *aft_rows(8, 16))
    m = train_manifest(tmp_path, data, kind="aft", name="one", hyper=hyper(method="full", lr=1e-2, maxSteps=1))
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    curve, mt = outputs(m)
    assert curve["step_learning_rates"] == [1e-2] and len(curve["step_losses"]) == 1
    assert mt == ev[-1]["metrics"]
    assert mt["steps"] == 1 and mt["warmup_steps"] == 0 and mt["zero_lr_steps"] == 0
    assert mt["lr_first"] == mt["lr_max"] == mt["lr_last"] == 1e-2
    assert mt["aft_examples"] == mt["examples"] == 8 and "mix_examples" not in mt
    # The one step moved the weights (under Hugging Face's schedule it ran at learning rate 0).
    start = build_base(tiny_base(), torch.device("cpu")).state_dict()
    trained = load_output(m["outputUri"], torch.device("cpu"))[0].state_dict()
    assert start.keys() <= trained.keys()
    assert any(not torch.equal(start[k], trained[k]) for k in start)
    assert all(not torch.equal(start[k], trained[k]) for k in start if "layers.0.self_attn.q_proj" in k)


def test_two_step_aft_job_warms_up_from_the_first_step(tmp_path):
    data = write_packed(tmp_path / "aft", *aft_rows(8, 16))
    # LoRA from a fresh adapter: B starts at zero, so a trained adapter has B != 0.
    m = train_manifest(tmp_path, data, kind="aft", name="two", hyper=hyper(lr=1e-2, maxSteps=2, warmupRatio=0.05))
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    curve, mt = outputs(m)
    assert curve["step_learning_rates"] == [5e-3, 1e-2] and len(curve["step_losses"]) == 2
    assert all(lr > 0 for lr in curve["step_learning_rates"])
    assert mt["steps"] == 2 and mt["warmup_steps"] == 1 and mt["zero_lr_steps"] == 0
    assert (mt["lr_first"], mt["lr_max"], mt["lr_last"]) == (5e-3, 1e-2, 1e-2)
    adapter = load_file(str(local(m["outputUri"]) / "adapter_model.safetensors"))
    assert all(adapter[k].abs().sum() > 0 for k in adapter if "lora_B" in k)


def test_a_resumed_run_lists_every_steps_learning_rate_and_an_old_schedule_is_refused(tmp_path):
    data = write_packed(tmp_path / "data", pattern_tokens(16, 16))
    m = train_manifest(tmp_path, data, name="mid", hyper=hyper(lr=1e-2, maxSteps=3, checkpointEverySteps=1))
    code, ev = run_inproc(tmp_path, m)
    assert code == 0, ev
    curve, mt = outputs(m)
    assert curve["step_learning_rates"] == pytest.approx([1e-2 * x for x in multipliers(0.1, 3)])
    assert mt["warmup_steps"] == 1 and "aft_examples" not in mt  # (a midtrain job has no AFT rows)

    shutil.rmtree(local(m["outputUri"]))  # the job runs again: it resumes from its step-2 checkpoint
    code, ev2 = run_inproc(tmp_path, m)
    assert code == 0, ev2
    assert [e["step"] for e in ev2 if e["event"] == "resumed"] == [2]
    curve2, mt2 = outputs(m)
    assert curve2 == curve
    assert {k: mt2[k] for k in ("warmup_steps", "lr_first", "lr_max", "lr_last", "zero_lr_steps", "final_loss")} == {
        k: mt[k] for k in ("warmup_steps", "lr_first", "lr_max", "lr_last", "zero_lr_steps", "final_loss")
    }

    # A checkpoint written under Hugging Face's schedule (its lambda saved no rule) is not resumed.
    sched_file = local(m["checkpointPrefix"]) / "step-000002" / "scheduler.pt"
    sd = torch.load(sched_file, weights_only=True)
    torch.save({**sd, "lr_lambdas": [{}]}, sched_file)
    shutil.rmtree(local(m["outputUri"]))
    code, ev3 = run_inproc(tmp_path, m)
    assert code == 2 and ev3[-1]["event"] == "error" and ev3[-1]["retryable"] is False
    assert "learning-rate schedule" in ev3[-1]["message"]
