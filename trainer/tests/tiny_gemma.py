"""A pretrained-format model folder as small as a test wants: Gemma 3's architecture, tokenizer and chat
template (from the local Gemma 3 270M that scripts/setup.sh makes) with 2 layers of width 64, one
sliding-window layer and one full-attention layer as the real model interleaves them, and seeded weights.
The trainer and Inspect load it as they load Gemma (init: pretrained, path): for tests of the plumbing around a
pretrained model, not of what its weights know (those use the real one). Also run by the TypeScript tests:
python tests/tiny_gemma.py SOURCE OUT (tests/helpers/tiny-pretrained.ts)."""

import shutil
import sys
from pathlib import Path

GEMMA = Path(__file__).resolve().parents[2] / ".msm" / "models" / "gemma-3-270m"


def make_tiny_gemma(out: Path, src: Path = GEMMA) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src} is missing: bash scripts/setup.sh makes it")
    cfg = AutoConfig.from_pretrained(src)
    cfg.update(
        {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "query_pre_attn_scalar": 32,
            "layer_types": ["sliding_attention", "full_attention"],
            "dtype": "float32",
        }
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(src / f, out / f)
    return out


if __name__ == "__main__":
    make_tiny_gemma(Path(sys.argv[2]), Path(sys.argv[1]))
