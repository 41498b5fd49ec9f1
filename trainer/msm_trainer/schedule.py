"""The learning-rate schedule: linear warm-up that starts above 0, then cosine decay that ends above 0.

Over `total` optimizer steps, with warmupRatio and the peak learning rate lr, step s (0-based) uses lr × m(s):

- W = ceil(warmupRatio × total) warm-up steps (0 when warmupRatio is 0), at most total − 1: the peak is
  always reached (a job of 1 step has W = 0).
- Step s (0-based) < W: multiplier (s + 1) / (W + 1)  — never 0; the ramp reaches 1 at step W.
- Step s ≥ W: cosine decay 0.5·(1 + cos(π·(s − W)/(total − W))): 1 at step W, above 0 at the last step.
- So 1 step → [lr], 2 steps → [lr/2, lr] (W=1), etc. No step has learning rate 0.

(Hugging Face's get_cosine_schedule_with_warmup, used before, gives step 0 learning rate 0: a one-step job
trained nothing and every job wasted its first step.) W is the ceiling of the decimal warmupRatio as written,
so 0.1 × 30 is 3 steps, not the 4 that float rounding (3.0000000000000004) would give.
"""

import math
from fractions import Fraction

from torch.optim.lr_scheduler import LambdaLR

from .errors import BadInput

# Saved with the scheduler in every checkpoint: a checkpoint of another schedule is not resumed under this one.
RULE = "warmup-from-step-1"


def warmup_steps(warmup_ratio: float, total: int) -> int:
    """W = ceil(warmupRatio × total), computed on the decimal the manifest wrote (no float rounding up), at
    most total − 1."""
    if warmup_ratio <= 0:
        return 0
    return min(math.ceil(Fraction(repr(float(warmup_ratio))) * total), total - 1)


class WarmupCosine:
    """The multiplier of step s. A callable object, not a function: LambdaLR saves its attributes (the rule,
    W and total) in the scheduler's state_dict, and loading sets them back."""

    def __init__(self, warmup: int, total: int):
        self.rule = RULE
        self.warmup = warmup
        self.total = total

    def __call__(self, s: int) -> float:
        if s < self.warmup:
            return (s + 1) / (self.warmup + 1)
        # (LambdaLR also asks for s = total, after the last step, never used to train: 0 there.)
        progress = min(1.0, (s - self.warmup) / max(1, self.total - self.warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class Schedule(LambdaLR):
    """LambdaLR over WarmupCosine whose load_state_dict refuses a checkpoint written under another schedule
    (e.g. Hugging Face's, whose step 0 had learning rate 0): resuming it would mix two schedules in one run."""

    def __init__(self, optimizer, warmup_ratio: float, total: int):
        self.warmup_steps = warmup_steps(warmup_ratio, total)
        super().__init__(optimizer, WarmupCosine(self.warmup_steps, total))

    def load_state_dict(self, state_dict) -> None:
        saved = state_dict.get("lr_lambdas") or [None]
        if not all(isinstance(f, dict) and f.get("rule") == RULE for f in saved):
            raise BadInput(
                f"the checkpoint's learning-rate schedule is not this trainer's ({RULE}); "
                "use a fresh checkpointPrefix (or delete the old checkpoints)"
            )
        super().load_state_dict(state_dict)


def multipliers(warmup_ratio: float, total: int) -> list[float]:
    """m(0) .. m(total - 1): the multiplier of every optimizer step of a job (tests, tools)."""
    f = WarmupCosine(warmup_steps(warmup_ratio, total), total)
    return [f(s) for s in range(total)]
