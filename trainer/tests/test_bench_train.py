"""The MFU arithmetic of bench_train: its parameter count must equal the real model's."""

import pytest
import torch

from msm_trainer.bench_train import PRESETS, count_params, flops_per_token, lora_params, peak_flops
from msm_trainer.manifest import parse_hyper
from msm_trainer.models import build_base, lora_wrap

# Grouped-query attention and Qwen2's attention biases, at a size that builds in a moment.
SMALL_GQA = {
    "hiddenSize": 256,
    "numLayers": 2,
    "numHeads": 8,
    "numKvHeads": 2,
    "intermediateSize": 512,
    "vocabSize": 1000,
    "arch": "qwen2",
}


@pytest.mark.parametrize("shape", [PRESETS["tiny"], SMALL_GQA, {**SMALL_GQA, "arch": "llama"}])
def test_parameter_count_matches_the_built_model(shape):
    model = build_base({"init": "random", **shape, "initSeed": 0}, device=torch.device("cpu"))
    total, matmul = count_params(shape)
    assert total == sum(p.numel() for p in model.parameters())
    assert matmul == total - model.get_input_embeddings().weight.numel()
    h = parse_hyper(
        {"method": "lora", "loraR": 64, "loraAlpha": 128, "lr": 1e-4, "batchSize": 1, "epochs": 1, "maxSteps": 0}
    )
    lora = lora_wrap(model, h)
    assert lora_params(shape, 64) == sum(p.numel() for p in lora.parameters() if p.requires_grad)


def test_flops_per_token_and_peaks():
    shape = PRESETS["1b"]
    attn = 12 * 16 * 2048 * 2048
    assert flops_per_token(shape, 2048) == 6 * count_params(shape)[1] + attn
    # LoRA: no weight gradients for the frozen base; recomputation adds a forward pass.
    assert flops_per_token(shape, 2048, "lora") == 4 * count_params(shape)[1] + 6 * lora_params(shape) + attn
    assert flops_per_token(shape, 2048, "full", recompute=True) == 8 * count_params(shape)[1] + attn * 4 / 3
    # Checkpointing half the layers recomputes half the forward.
    assert flops_per_token(shape, 2048, "full", recompute=0.5) == 7 * count_params(shape)[1] + attn * 7 / 6
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("some other card") is None
