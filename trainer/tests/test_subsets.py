"""aft.subsetBySeed: each seed draws its nested AFT subsets (and their mix rows) from its own permutation;
without it every seed trains on the one shared subset."""

import numpy as np
from conftest import hyper, pattern_tokens, run_inproc, train_manifest, write_packed

from msm_trainer.data import subset_rows
from msm_trainer.mixing import mix_rows

FRACTIONS = (1 / 60, 1 / 40, 0.1, 0.25, 0.5, 1.0)


def rows(n, f, seed=None):
    return set(subset_rows(n, f, seed).tolist())


def test_seeds_draw_different_subsets_only_with_subset_by_seed():
    n = 600
    for f in FRACTIONS[:-1]:
        assert rows(n, f) == rows(n, f, None)  # the shared subset is the same call after call
        assert rows(n, f, 0) != rows(n, f, 1)  # by seed: two seeds train on different examples
        assert rows(n, f, 3) == rows(n, f, 3)  # ... each reproducibly
        assert len(rows(n, f, 0)) == len(rows(n, f))  # the same count: ceil(f * n)
    assert rows(n, 1.0, 0) == rows(n, 1.0, 1) == set(range(n))
    # The shared subset stays the one runs made before the option existed: numpy seed 42.
    assert rows(n, 0.1) == set(np.random.default_rng(42).permutation(n)[:60].tolist())


def test_nesting_holds_within_each_seed():
    n = 600
    for seed in (None, 0, 1, 7):
        chosen = [rows(n, f, seed) for f in FRACTIONS]
        assert all(a <= b for a, b in zip(chosen, chosen[1:])), seed


def test_mix_rows_follow_the_seed_and_stay_nested():
    shared = [set(mix_rows(300, k, 0.5, "t").tolist()) for k in (10, 40, 160)]
    assert shared[0] <= shared[1] <= shared[2]
    for seed in (0, 1):
        own = [set(mix_rows(300, k, 0.5, "t", seed).tolist()) for k in (10, 40, 160)]
        assert own[0] <= own[1] <= own[2]
    assert set(mix_rows(300, 160, 0.5, "t", 0).tolist()) != set(mix_rows(300, 160, 0.5, "t", 1).tolist())


def varied(d, n, seq_len, seed):
    """Rows of different lengths, so the token count of a subset says which rows it holds."""
    lengths = np.random.default_rng(seed).integers(2, seq_len + 1, size=n)
    mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.uint8)
    return write_packed(d, pattern_tokens(n, seq_len, seed=seed), loss_mask=mask, lengths=lengths)


def test_aft_jobs_train_on_their_seed_subset_only_with_subset_by_seed(tmp_path):
    data = varied(tmp_path / "aft", 40, 16, seed=3)
    tokens = {}
    for by_seed in (False, True):
        for seed in (0, 5):
            name = f"s{seed}-{'own' if by_seed else 'shared'}"
            extra = {"subsetBySeed": True} if by_seed else {}
            m = train_manifest(
                tmp_path,
                data,
                kind="aft",
                name=name,
                seed=seed,
                fraction=0.25,
                hyper=hyper(epochs=1, batchSize=2),
                **extra,
            )
            code, ev = run_inproc(tmp_path, m, name=f"{name}.json")
            assert code == 0, ev
            assert ev[-1]["metrics"]["examples"] == 10
            tokens[(by_seed, seed)] = ev[-1]["metrics"]["tokens"]
    lengths = np.fromfile(tmp_path / "aft" / "lengths.bin", dtype="<i4")
    assert tokens[(False, 0)] == tokens[(False, 5)] == int(lengths[subset_rows(40, 0.25)].sum())
    assert tokens[(True, 0)] != tokens[(True, 5)]
    for seed in (0, 5):
        assert tokens[(True, seed)] == int(lengths[subset_rows(40, 0.25, seed)].sum())


def test_subset_by_seed_is_for_aft_jobs(tmp_path):
    data = write_packed(tmp_path / "d", pattern_tokens(8, 16))
    for name, fields, expect in (
        ("midtrain", {"subsetBySeed": True}, "subsetBySeed is for aft jobs"),
        ("type", {"kind": "aft", "subsetBySeed": 1}, "subsetBySeed must be true or false"),
    ):
        code, ev = run_inproc(tmp_path, train_manifest(tmp_path, data, name=name, **fields), name=f"{name}.json")
        assert code == 2 and expect in ev[-1]["message"], (name, ev)
