"""Tokenizer and chat template for `generate`: prompts are rendered the way the AFT data was (see
src/tokenize/chat-template.ts), from tokenizer_config.json next to tokenizer.json when it is there.

Thinking (the manifest's `thinking`, the experiment's eval.thinking): "on" and "off" render the prompt with the
template variable `enable_thinking` True or False, as Qwen3's template reads it (off ends the prompt with an
empty `<think>\n\n</think>\n\n`, so the model answers without reasoning; on leaves the model to open its own
think block); None ("model-default") passes nothing, which is today's rendering. A template that does not read
enable_thinking renders the same either way."""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tokenizers import Tokenizer

from .errors import BadInput
from .uris import local_input

THINKING = ("on", "off", "model-default")

# What Qwen3's template appends to the generation prompt when enable_thinking is false.
EMPTY_THINK = "<think>\n\n</think>\n\n"

# End-of-turn / end-of-text tokens of the supported families: generation stops at any of them.
STOP_TOKENS = ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<eos>")


def _token_text(v) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    return None


@dataclass
class ChatTokenizer:
    tok: Tokenizer
    template: str | None
    bos_token: str
    eos_token: str | None
    # A model folder's end-of-turn token, as msm found it in the template (msm_end_of_turn in the stored config).
    end_of_turn: str | None = None

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    def stop_ids(self) -> list[int]:
        names = list(STOP_TOKENS) + [t for t in (self.eos_token, self.end_of_turn) if t]
        ids = {self.tok.token_to_id(t) for t in names}
        return sorted(i for i in ids if i is not None)

    def render(self, messages: list[dict[str, str]], thinking: str | None = None) -> str:
        """The prompt for the model's answer. thinking: "on" / "off" set the template's enable_thinking to
        True / False; None or "model-default" leave it unset (the template's own default)."""
        if thinking not in (None, *THINKING):
            raise BadInput(f"thinking is {thinking!r}: use one of {', '.join(THINKING)}")
        flags = {} if thinking in (None, "model-default") else {"enable_thinking": thinking == "on"}
        if self.template is not None:
            from jinja2.sandbox import ImmutableSandboxedEnvironment  # jinja2 ships with torch

            def raise_exception(msg):
                raise BadInput(f"chat template: {msg}")

            # The options Hugging Face uses for chat templates.
            env = ImmutableSandboxedEnvironment(
                trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
            )
            env.globals["raise_exception"] = raise_exception
            env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
            return env.from_string(self.template).render(
                messages=messages,
                bos_token=self.bos_token,
                eos_token=self.eos_token or "",
                add_generation_prompt=True,
                **flags,
            )
        text = self._fallback(messages)
        # No template: a ChatML vocabulary with <think> is Qwen3's, whose template closes an empty think block
        # when thinking is off.
        if flags.get("enable_thinking") is False and text.endswith("<|im_start|>assistant\n"):
            if self.tok.token_to_id("<think>") is not None:
                text += EMPTY_THINK
        return text

    def _fallback(self, messages: list[dict[str, str]]) -> str:
        # No tokenizer_config.json was stored: use the family's own layout, detected from its vocabulary.
        if self.tok.token_to_id("<|start_header_id|>") is not None:
            s = "<|begin_of_text|>" if self.tok.token_to_id("<|begin_of_text|>") is not None else ""
            for m in messages:
                s += f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>"
            return s + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        if self.tok.token_to_id("<|im_start|>") is not None:
            s = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
            return s + "<|im_start|>assistant\n"
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)


def load_chat_tokenizer(uri: str) -> ChatTokenizer:
    path = local_input(uri, "tokenizerUri", "tokenizer")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises plain Exceptions on bad files
        raise BadInput(f"tokenizerUri {uri} is not a readable tokenizer.json: {e}") from e
    cfg_path = Path(path).with_name("tokenizer_config.json")
    template, bos, eos, eot = None, "", None, None
    if cfg_path.is_file():
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if isinstance(cfg.get("chat_template"), str):
            template = cfg["chat_template"]
        bos = _token_text(cfg.get("bos_token")) or ""
        eos = _token_text(cfg.get("eos_token"))
        eot = _token_text(cfg.get("msm_end_of_turn"))
    return ChatTokenizer(tok=tok, template=template, bos_token=bos, eos_token=eos, end_of_turn=eot)
