"""The training loss without full logits: next-token cross-entropy computed over the sequence in chunks.

A (micro-batch × seq × vocab) fp32 logits tensor is the largest one in training a model with a big vocabulary
(Qwen3: 151,936 entries, 4096 tokens → 2.5 GB per row). Here the final hidden states go through the output
layer `CE_CHUNK_TOKENS` positions at a time, each chunk under activation checkpointing, so only one chunk's
logits ever exist and the backward pass recomputes them. The sum of per-chunk sums equals the one-shot loss
to fp32 rounding.

`LossModel` wraps the causal LM so the whole loss runs inside one module's forward: under FSDP2 that module
is the root, whose parameters (embeddings, final norm, output layer) are gathered for exactly that call.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

CE_CHUNK_TOKENS = 1024


def causal_lm(model):
    """The Hugging Face *ForCausalLM inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _softcap(model) -> float:
    cfg = causal_lm(model).config
    cfg = getattr(cfg, "text_config", None) or cfg
    return float(getattr(cfg, "final_logit_softcapping", None) or 0.0)


def _chunk_ce_sum(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, softcap: float
) -> torch.Tensor:
    logits = F.linear(hidden, weight).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    ce = F.cross_entropy(logits, targets, reduction="none")
    return (ce * weights).sum()


class LossModel(nn.Module):
    """forward(ids, attn, target) -> sum of next-token cross-entropy over positions whose *next* token has
    target mask 1 (a sum, not a mean: the caller divides by the target count of the whole effective batch)."""

    def __init__(self, lm, chunk_tokens: int = CE_CHUNK_TOKENS):
        super().__init__()
        self.lm = lm
        self.chunk_tokens = chunk_tokens
        self.softcap = _softcap(lm)
        self.chunk_fn = _chunk_ce_sum

    def compile_loss(self) -> None:
        self.chunk_fn = torch.compile(_chunk_ce_sum)

    def forward(self, ids: torch.Tensor, attn: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        inner = causal_lm(self.lm)
        hidden = inner.model(input_ids=ids, attention_mask=attn).last_hidden_state
        weight = inner.get_output_embeddings().weight
        # Position t predicts token t+1; the last position predicts nothing (weight 0).
        nxt = torch.cat([ids[:, 1:], torch.zeros_like(ids[:, :1])], dim=1).reshape(-1)
        w = torch.cat([target[:, 1:], torch.zeros_like(target[:, :1])], dim=1).reshape(-1).float()
        hidden = hidden.reshape(-1, hidden.shape[-1])
        total = hidden.new_zeros((), dtype=torch.float32)
        for i in range(0, hidden.shape[0], self.chunk_tokens):
            j = i + self.chunk_tokens
            total = total + checkpoint(
                self.chunk_fn, hidden[i:j], weight, nxt[i:j], w[i:j], self.softcap, use_reentrant=False
            )
        return total
