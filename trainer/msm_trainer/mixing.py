"""AFT data mixed with an instruction-tuning set (the paper's practice; the baseline arm trains on the same
mix without MSM). Both sets arrive tokenized alike (chat template, assistant-only loss mask); this module
only decides which rows train, so a job manifest carries two data URIs and a ratio, never row lists.

The ratio is *mix examples per AFT example*: with k AFT rows chosen by `fraction`, the job trains on
k AFT rows plus round(ratio * k) mix rows. The mix rows are the first ones of a fixed permutation of the
mix set (its own seed stream), so they are nested like the AFT subsets, and every arm and seed of one
fraction trains on exactly the same rows. The job seed only orders them (data.epoch_order), unless the job
draws its subsets by seed (manifest subsetBySeed): then each seed has its own AFT and mix permutations."""

import math
from dataclasses import dataclass

import numpy as np

from .data import PackedData
from .errors import BadInput

MIX_SUBSET_SEED = (42, 1)  # a stream apart from data.SUBSET_SEED: the AFT subset never steers the mix


def mix_count(aft_rows: int, ratio: float) -> int:
    """Mix rows that go with `aft_rows` AFT rows (round half up; src/config/aft-mix.ts computes the same)."""
    return int(math.floor(ratio * aft_rows + 0.5))


def mix_rows(n_mix: int, aft_rows: int, ratio: float, where: str, seed: int | None = None) -> np.ndarray:
    """The rows of the mix set to train on, sorted; a smaller AFT subset takes a prefix of the same choice.
    With `seed` (aft.subsetBySeed, like data.subset_rows) the choice is that seed's own."""
    k = mix_count(aft_rows, ratio)
    if k > n_mix:
        raise BadInput(
            f"{where}: mixRatio {ratio} x {aft_rows} AFT examples needs {k} mix examples but the mix data has "
            f"{n_mix}; add instruction-tuning examples or lower aft.mix.ratio"
        )
    perm = np.random.default_rng(list(MIX_SUBSET_SEED) + ([] if seed is None else [seed])).permutation(n_mix)
    return np.sort(perm[:k])


@dataclass
class MixedData:
    """AFT rows [0, n_aft) followed by mix rows [n_aft, n_aft + n_mix): one index space for the epoch order."""

    aft: PackedData
    mix: PackedData

    def __post_init__(self):
        if self.aft.seq_len != self.mix.seq_len:
            raise BadInput(
                f"the mix data has seqLen {self.mix.seq_len} but the AFT data {self.aft.seq_len}; "
                "tokenize both with aft.seqLen"
            )
        if self.aft.vocab_size != self.mix.vocab_size:
            raise BadInput(
                f"the mix data has vocabSize {self.mix.vocab_size} but the AFT data {self.aft.vocab_size}; "
                "tokenize both with the base model's tokenizer"
            )

    @property
    def n(self) -> int:
        return self.aft.n + self.mix.n

    @property
    def vocab_size(self) -> int:
        return self.aft.vocab_size

    @property
    def seq_len(self) -> int:
        return self.aft.seq_len

    def batch(self, rows: np.ndarray):
        """Rows in the order given, each drawn from its own set."""
        rows = np.asarray(rows)
        from_mix = rows >= self.aft.n
        if not from_mix.any():
            return self.aft.batch(rows)
        if from_mix.all():
            return self.mix.batch(rows - self.aft.n)
        a = self.aft.batch(rows[~from_mix])
        b = self.mix.batch(rows[from_mix] - self.aft.n)
        parts = []
        for x, y in zip(a, b):
            out = np.empty((len(rows),) + x.shape[1:], dtype=x.dtype)
            out[~from_mix] = x
            out[from_mix] = y
            parts.append(out)
        return tuple(parts)


def with_mix(aft: PackedData, aft_rows: np.ndarray, mix: PackedData, ratio: float, where: str, seed: int | None = None):
    """(data, rows) to train on: the AFT subset plus its share of mix rows, in one index space."""
    chosen = mix_rows(mix.n, len(aft_rows), ratio, where, seed)
    data = MixedData(aft, mix)
    return data, np.concatenate([aft_rows, chosen + aft.n])
