"""Build base models, wrap them for training, and save/load trainer outputs (`msm_model.json`)."""

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

from . import weights
from .distributed import decoder_layers
from .errors import BadInput, present
from .manifest import Hyper, Manifest
from .uris import local_input

log = logging.getLogger("msm_trainer")

MODEL_FORMAT = "msm-model-v1"
MODEL_INFO = "msm_model.json"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("manifest field device is 'cuda' but no CUDA device is visible here; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def frozen_dtype(device: torch.device) -> torch.dtype:
    # Frozen weights go to bf16 on GPU (memory); trained weights stay fp32 (FSDP computes in bf16 and keeps
    # fp32 masters).
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _random_model(desc: dict[str, Any], device: torch.device, dtype: torch.dtype):
    """A seeded random model of the described shape: Llama, or Qwen2 (attention biases) when arch says so."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    qwen = desc.get("arch") == "qwen2"
    cfg = (Qwen2Config if qwen else LlamaConfig)(
        hidden_size=desc["hiddenSize"],
        num_hidden_layers=desc["numLayers"],
        num_attention_heads=desc["numHeads"],
        num_key_value_heads=desc.get("numKvHeads") or desc["numHeads"],
        intermediate_size=desc["intermediateSize"],
        vocab_size=desc["vocabSize"],
        max_position_embeddings=131072,
        tie_word_embeddings=False,
    )
    cls = Qwen2ForCausalLM if qwen else LlamaForCausalLM
    if device.type == "cuda":
        # Built on the GPU in its dtype: a 32B model never fits in fp32, nor initialises fast on a CPU.
        with torch.random.fork_rng(devices=[device]):
            torch.manual_seed(desc["initSeed"])
            with torch.device(device):
                return cls._from_config(cfg, dtype=dtype)
    # Built on the CPU from its own seed, outside the job's RNG stream: every arm gets identical weights.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(desc["initSeed"])
        model = cls(cfg)
    return _to(model, device=device, dtype=dtype)


def _to(model, *args, **kwargs):
    """model.to(...): transformers declares its models' .to() through a decorator that mypy cannot call."""
    return model.to(*args, **kwargs)


def build_base(desc: dict[str, Any], device: torch.device, dtype: torch.dtype = torch.float32):
    """A base model from its description: random (seeded), a local HF folder, or a full trainer output."""
    from transformers import AutoModelForCausalLM

    if "modelUri" in desc:
        return load_output(desc["modelUri"], device, dtype)[0]
    if desc["init"] == "pretrained":
        return _to(AutoModelForCausalLM.from_pretrained(str(weights.resolve(desc["path"])), dtype=dtype), device)
    return _random_model(desc, device, dtype)


def read_info(uri: str, field: str) -> tuple[Path, dict[str, Any]]:
    d = local_input(uri, field, "model")
    try:
        info = json.loads((d / MODEL_INFO).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise BadInput(f"{field} {uri}: cannot read {MODEL_INFO} ({e})") from e
    if info.get("format") != MODEL_FORMAT or info.get("method") not in ("lora", "full"):
        raise BadInput(f"{field} {uri}: {MODEL_INFO} is not an {MODEL_FORMAT} description")
    return d, info


def external_info(path: str, base: dict[str, Any], field: str = "externalModel") -> tuple[Path, dict[str, Any]]:
    """An external arm's model as a trainer output would describe it: a PEFT adapter folder (adapter_config.json)
    is a LoRA of the experiment's base model, a Hugging Face model folder (config.json) is full weights."""
    d = weights.fetch(path, field)
    if (d / "adapter_config.json").is_file():
        return d, {"format": MODEL_FORMAT, "method": "lora", "base": base}
    if (d / "config.json").is_file():
        return d, {"format": MODEL_FORMAT, "method": "full"}
    raise BadInput(
        f"{field} {path}: {d} holds neither adapter_config.json (a PEFT adapter of the base model) nor config.json "
        "(a Hugging Face model folder); point the external arm's model at one of those"
    )


def load_output(
    uri: str,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    field: str = "modelUri",
    trainable_adapter: bool = False,
):
    """Load a trainer output. LoRA outputs are merged into their base unless the adapter is to be trained on."""
    d, info = read_info(uri, field)
    return load_described(d, info, device, dtype, trainable_adapter), info


def load_described(
    d: Path, info: dict[str, Any], device: torch.device, dtype: torch.dtype, trainable_adapter: bool = False
):
    """A model folder with its description (read_info, external_info): full weights, or a LoRA on its base."""
    from transformers import AutoModelForCausalLM

    if info["method"] == "full":
        return _to(AutoModelForCausalLM.from_pretrained(str(d), dtype=dtype), device)
    from peft import PeftModel  # only LoRA outputs need it (importing it costs seconds at every job start)

    base = build_base(info["base"], device, dtype)
    model = PeftModel.from_pretrained(base, str(d), is_trainable=trainable_adapter)
    return model if trainable_adapter else model.merge_and_unload()


def lora_wrap(model, h: Hyper):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(
        r=h.loraR,
        lora_alpha=h.loraAlpha,  # type: ignore[arg-type]  # PEFT declares an int; a float scales the same
        lora_dropout=h.loraDropout,
        target_modules=LORA_TARGETS,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, cfg)


def model_vocab(model) -> int:
    return model.get_input_embeddings().num_embeddings


def make_train_model(m: Manifest, data_vocab: int, device: torch.device, load_device: torch.device | None = None):
    """The model to train and the base description its output records (None for full weights). Weights read
    from disk go to `load_device` (FSDP moves them to the GPU one layer at a time); random ones are built
    on `device`, the device the job trains on."""
    h = present(m.hyper, "hyper")
    load_to = load_device or device
    frozen = frozen_dtype(device)
    if m.initFromUri:
        _, info = read_info(m.initFromUri, "initFromUri")
        if h.method == "lora" and info["method"] == "lora" and not m.freshAdapter:
            # AFT continues the midtraining adapter (its rank/alpha/dropout come from that adapter).
            base_desc = info["base"]
            model, _ = load_output(m.initFromUri, load_to, frozen, "initFromUri", trainable_adapter=True)
        elif h.method == "lora":
            # A new adapter (this job's rank/alpha) on the output with any adapter merged into its base.
            base_desc = {"modelUri": m.initFromUri}
            model = lora_wrap(load_output(m.initFromUri, load_to, frozen, "initFromUri")[0], h)
        else:
            base_desc = None
            model = load_output(m.initFromUri, load_to, torch.float32, "initFromUri")[0]
    else:
        desc = m.baseModel.describe()
        if desc["init"] == "random" and desc["vocabSize"] is None:
            desc["vocabSize"] = data_vocab
        build_on = device if desc["init"] == "random" else load_to
        if h.method == "lora":
            base_desc = desc
            model = lora_wrap(build_base(desc, build_on, frozen), h)
        else:
            base_desc = None
            model = build_base(desc, build_on, torch.float32)
    if model_vocab(model) < data_vocab:
        raise BadInput(
            f"the data's vocabSize {data_vocab} exceeds the model's {model_vocab(model)} embeddings; "
            "tokenize with the base model's tokenizer (or raise baseModel.vocabSize)"
        )
    return model, base_desc


def checkpointed_layers(n_layers: int, fraction: float) -> list[int]:
    """Which of n decoder layers recompute their activations, spread evenly (0.5: every second layer). Layer i
    is in when floor((i+1)·f) > floor(i·f), so exactly floor(n·f) layers are (the memory planner counts so)."""
    return [i for i in range(n_layers) if math.floor((i + 1) * fraction + 1e-9) > math.floor(i * fraction + 1e-9)]


def enable_gradient_checkpointing(model, fraction: float = 1.0) -> int:
    """Recompute activations in the backward pass: less memory for about a third more compute. Non-reentrant
    checkpointing needs no input grads (frozen embeddings under LoRA) and replays the dropout RNG exactly.
    A fraction < 1 keeps the other layers' activations (faster where memory allows). Returns the layers
    checkpointed."""
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    cfg = getattr(model, "config", None)
    if cfg is not None:
        cfg.use_cache = False
    # transformers' decoder layers check their own `gradient_checkpointing` flag on every call.
    layers = decoder_layers(model)
    keep = set(checkpointed_layers(len(layers), fraction))
    for i, layer in enumerate(layers):
        layer.gradient_checkpointing = i in keep  # type: ignore[assignment]  # torch types attributes as modules
    return len(keep)


def save_output(
    model,
    d: Path,
    method: str,
    base_desc: dict[str, Any] | None,
    init_from: str | None,
    state: dict[str, torch.Tensor] | None = None,
) -> None:
    """LoRA: the adapter (PEFT layout) + its base description; full: a Hugging Face model folder. `state`:
    the consolidated weights when the model's own are sharded (FSDP)."""
    model.save_pretrained(str(d), **({"state_dict": state} if state is not None else {}))
    info: dict[str, Any] = {"format": MODEL_FORMAT, "method": method, "initFrom": init_from}
    if method == "lora":
        info["base"] = base_desc
    (d / MODEL_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
