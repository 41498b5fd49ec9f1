"""The MFU arithmetic of bench_train: its parameter count must equal the real model's."""

from msm_trainer.bench_train import PRESETS, count_params, flops_per_token, peak_flops
from msm_trainer.models import build_base


def test_parameter_count_matches_the_built_model():
    shape = PRESETS["tiny"]
    model = build_base({"init": "random", **shape, "initSeed": 0}, device="cpu")
    total, matmul = count_params(shape)
    assert total == sum(p.numel() for p in model.parameters())
    assert matmul == total - model.get_input_embeddings().weight.numel()


def test_flops_per_token_and_peaks():
    shape = PRESETS["1b"]
    assert flops_per_token(shape, 2048) == 6 * count_params(shape)[1] + 12 * 16 * 2048 * 2048
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("some other card") is None
