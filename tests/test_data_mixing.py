"""The mixed batch sampler: exact counts, resume, rank-disjoint streams, ratios."""

from __future__ import annotations

import itertools

import pytest

from hyper_sapiens.data.mixing import MixedBatchSampler, counts_from_ratios

SIZES = {"syn": 37, "real": 23}


def _sources(batch):
    return [k[0] for k in batch]


def test_every_batch_has_the_exact_counts():
    s = MixedBatchSampler(SIZES, {"syn": 16, "real": 16}, seed=3)
    for batch in itertools.islice(iter(s), 20):
        assert _sources(batch).count(0) == 16 and _sources(batch).count(1) == 16


def test_each_pass_covers_the_source_once():
    s = MixedBatchSampler(SIZES, {"syn": 1, "real": 0}, seed=0)
    first_pass = [b[0][1] for b in itertools.islice(iter(s), 37)]
    assert sorted(first_pass) == list(range(37))


def test_resume_yields_the_same_batches():
    full = list(itertools.islice(iter(MixedBatchSampler(SIZES, {"syn": 5, "real": 3}, seed=9)), 12))
    resumed = list(itertools.islice(iter(MixedBatchSampler(SIZES, {"syn": 5, "real": 3}, seed=9, start=7)), 5))
    assert resumed == full[7:]


def test_seed_changes_the_stream():
    a = MixedBatchSampler(SIZES, {"syn": 5}, seed=1).batch(0)
    b = MixedBatchSampler(SIZES, {"syn": 5}, seed=2).batch(0)
    assert a != b


def test_two_ranks_equal_one_rank_with_accumulation_two_and_are_disjoint():
    counts = {"syn": 4, "real": 4}
    sizes = {"syn": 100, "real": 60}  # 6 steps x 8 per source stay within one pass of each source
    single = MixedBatchSampler(sizes, counts, seed=5, accumulation=2)
    ranks = [MixedBatchSampler(sizes, counts, seed=5, rank=r, world_size=2) for r in range(2)]
    for step in range(6):
        for r in range(2):
            assert ranks[r].batch(step) == single.batch(2 * step + r)
        keys0 = {(k[0], k[1]) for k in ranks[0].batch(step)}
        keys1 = {(k[0], k[1]) for k in ranks[1].batch(step)}
        assert not keys0 & keys1


def test_ratios_round_to_the_batch_size():
    assert counts_from_ratios(32, {"real": 0.8, "syn": 0.2}) == {"real": 26, "syn": 6}
    assert counts_from_ratios(10, {"real": 0.8, "syn": 0.2}) == {"real": 8, "syn": 2}
    assert sum(counts_from_ratios(7, {"a": 1, "b": 1, "c": 1}).values()) == 7


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="unknown sources"):
        MixedBatchSampler(SIZES, {"mpii": 3})
    with pytest.raises(ValueError, match="at least one sample"):
        MixedBatchSampler(SIZES, {"syn": 0})
    with pytest.raises(TypeError):
        len(MixedBatchSampler(SIZES, {"syn": 1}))
    assert len(MixedBatchSampler(SIZES, {"syn": 1}, num_batches=4)) == 4
