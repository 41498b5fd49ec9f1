"""How the generate job picks tokens: Hugging Face `generate` runs the loop (KV cache, padding, stopping) and
this module supplies its settings and the draw of each next token."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # transformers loads in seconds: imported where decoding() runs
    from transformers import GenerationConfig

BLOCK = 256  # tokens per block of the two-level draw


class CategoricalSampler:
    """A logits processor that draws each row's next token from softmax(scores / temperature) and leaves only
    that token finite, so that generate's greedy argmax takes it. The distribution is exactly HF's sampling
    with no top-k / top-p; what differs is the cost. torch.multinomial scans the whole vocabulary per row
    (about 4-6 ms per row and token on this CPU at a 128k vocabulary: most of a batched step), while this
    draws by inverse CDF in two levels: a block of BLOCK tokens from the block totals, then a token from
    within that block, each from its own uniform (P(token) = P(block) * P(token | block))."""

    def __init__(self, temperature: float):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 to sample, got {temperature}")
        self.temperature = temperature

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        token = draw(probs)
        return torch.full_like(scores, float("-inf")).scatter_(1, token, 0.0)


def draw(probs: torch.Tensor) -> torch.Tensor:
    """One token per row of a (rows, vocab) probability matrix, as a (rows, 1) index tensor."""
    rows, vocab = probs.shape
    if vocab % BLOCK:  # (Llama 3's 128,256 tokens are whole blocks: no copy)
        probs = F.pad(probs, (0, BLOCK - vocab % BLOCK))
    blocks = probs.view(rows, -1, BLOCK)
    # Block totals summed in float32 (a float64 sum of 128k floats per row costs as much as the softmax):
    # relative errors near 1e-7 in the block odds, far below what any number of samples could show.
    block = pick(blocks.sum(-1).double())
    within = blocks.gather(1, block[:, :, None].expand(rows, 1, BLOCK)).squeeze(1)
    token = block * BLOCK + pick(within.double())
    # A draw at the very top of a cumulative sum can round past its last positive entry (odds near 2^-52):
    # such a row is drawn again by multinomial rather than ever taking a token of probability zero.
    bad = (token >= vocab) | (probs.gather(1, token) <= 0)
    if bad.any():
        token = torch.where(bad, torch.multinomial(probs[:, :vocab], 1), token)
    return token


def pick(weights: torch.Tensor) -> torch.Tensor:
    """An index per row with probability proportional to the (float64, non-negative) weights: (rows, 1)."""
    cdf = weights.cumsum(-1)
    u = torch.rand((weights.shape[0], 1), dtype=torch.float64, device=weights.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_(max=weights.shape[1] - 1)


@dataclass
class Decoding:
    """Everything generate() needs besides the inputs."""

    config: "GenerationConfig"
    processors: list[Any]


def decoding(temperature: float, max_new_tokens: int, stops: list[int]) -> Decoding:
    """Plain temperature sampling (no top-k / top-p), or greedy at temperature 0; stop at any stop id."""
    from transformers import GenerationConfig

    config = GenerationConfig(
        do_sample=False,  # sampling, when asked for, is done by CategoricalSampler and taken by argmax
        max_new_tokens=max_new_tokens,
        eos_token_id=stops,
        pad_token_id=stops[0],
        # A trained output saved with gradient checkpointing says use_cache: false; sampling wants the cache.
        use_cache=True,
    )
    return Decoding(config, [] if temperature == 0 else [CategoricalSampler(temperature)])
