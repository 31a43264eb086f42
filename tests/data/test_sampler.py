"""Specification of the batch samplers (engine.data.sampler).

The training sampler yields batches of ``(epoch, index)`` keys. Optimizer step ``it``
consumes ``accumulation`` consecutive micro-batches of one rank's sampler; the helpers
below regroup the endless stream into steps so each test states one property of it.
"""
import itertools

import pytest

from engine.data.sampler import InferenceBatchSampler, TrainBatchSampler
from engine.utils.errors import ConfigError

N_ODD = 23  # a dataset size no batch size used here divides


def steps(sampler, count, accumulation=1):
    """The first ``count`` steps of ``sampler``: each the list of its micro-batches."""
    it = iter(sampler)
    return [[next(it) for _ in range(accumulation)] for _ in range(count)]


def flat_steps(sampler, count, accumulation=1):
    """The first ``count`` steps of ``sampler``, each as one flat list of keys."""
    return [list(itertools.chain.from_iterable(s)) for s in steps(sampler, count, accumulation)]


def rank_steps(n, batch, world_size, count, accumulation=1, **kw):
    """Per rank, the first ``count`` steps (flat key lists) of that rank's sampler."""
    return [
        flat_steps(
            TrainBatchSampler(n, batch, rank=r, world_size=world_size, accumulation=accumulation, **kw),
            count, accumulation,
        )
        for r in range(world_size)
    ]


# --------------------------------------------------------------------------- world size


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_world_size_n_batch_b_sees_per_step_the_samples_of_one_process_batch_nb(world_size):
    B, count = 4, 12
    single = flat_steps(TrainBatchSampler(N_ODD, world_size * B, seed=7), count)
    per_rank = rank_steps(N_ODD, B, world_size, count, seed=7)
    for it in range(count):
        union = [k for r in range(world_size) for k in per_rank[r][it]]
        assert sorted(union) == sorted(single[it]), f"step {it}"
        assert len(set(union)) == len(union) == world_size * B, f"step {it}: a key twice"


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_world_size_ranks_concatenated_in_rank_order_are_the_single_process_batch(world_size):
    B, count = 3, 10
    single = flat_steps(TrainBatchSampler(N_ODD, world_size * B, seed=3), count)
    per_rank = rank_steps(N_ODD, B, world_size, count, seed=3)
    for it in range(count):
        assert [k for r in range(world_size) for k in per_rank[r][it]] == single[it], f"step {it}"


def test_each_rank_gets_its_per_process_batch_size():
    for batches in rank_steps(N_ODD, 5, 3, 6, seed=0):
        assert all(len(b) == 5 for b in batches)


def test_world_size_and_accumulation_together_see_the_single_process_batch():
    world_size, B, k, count = 2, 6, 3, 8
    single = flat_steps(TrainBatchSampler(N_ODD, world_size * B, seed=5), count)
    per_rank = rank_steps(N_ODD, B, world_size, count, accumulation=k, seed=5)
    for it in range(count):
        union = [key for r in range(world_size) for key in per_rank[r][it]]
        assert sorted(union) == sorted(single[it]), f"step {it}"


def test_with_accumulation_each_micro_batch_across_ranks_is_the_single_process_micro_batch():
    # The step's block is cut into k micro-batches first, then each into one slice per
    # rank: micro-batch j of N ranks x B/k is micro-batch j of 1 process x N*B/k.
    world_size, B, k, count = 3, 4, 2, 8
    single = steps(TrainBatchSampler(N_ODD, world_size * B, seed=5, accumulation=k), count, k)
    per_rank = [
        steps(TrainBatchSampler(N_ODD, B, seed=5, rank=r, world_size=world_size, accumulation=k), count, k)
        for r in range(world_size)
    ]
    for it in range(count):
        for j in range(k):
            assert [key for r in range(world_size) for key in per_rank[r][it][j]] == single[it][j]


# --------------------------------------------------------------------------- accumulation


@pytest.mark.parametrize("k", [2, 4])
def test_accumulation_micro_batches_have_size_b_over_k(k):
    B = 8
    for micro_batches in steps(TrainBatchSampler(N_ODD, B, seed=1, accumulation=k), 5, k):
        assert [len(m) for m in micro_batches] == [B // k] * k


@pytest.mark.parametrize("k", [2, 4, 8])
def test_accumulation_micro_batches_concatenate_to_the_batch_of_b(k):
    B, count = 8, 10
    whole = flat_steps(TrainBatchSampler(N_ODD, B, seed=11), count)
    accumulated = flat_steps(TrainBatchSampler(N_ODD, B, seed=11, accumulation=k), count, k)
    assert accumulated == whole


def test_train_per_batch_not_divisible_by_accumulation_raises_config_error():
    with pytest.raises(ConfigError, match="divisible"):
        TrainBatchSampler(N_ODD, 6, seed=0, accumulation=4)


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize("world_size,rank,k", [(1, 0, 1), (1, 0, 2), (3, 1, 1), (2, 1, 2)])
@pytest.mark.parametrize("s", [1, 5, 17])
def test_start_iter_s_yields_what_the_sampler_from_0_yields_from_step_s_on(world_size, rank, k, s):
    kw = dict(seed=9, rank=rank, world_size=world_size, accumulation=k)
    from_zero = steps(TrainBatchSampler(N_ODD, 4, **kw), s + 10, k)
    resumed = steps(TrainBatchSampler(N_ODD, 4, start_iter=s, **kw), 10, k)
    assert resumed == from_zero[s:]


def test_resume_skips_without_loading_or_replaying_the_stream():
    # Starting far into the run must not walk through the skipped steps: it is O(1) in s.
    sampler = TrainBatchSampler(N_ODD, 4, seed=0, start_iter=10**9)
    first = next(iter(sampler))
    assert len(first) == 4
    assert {e for e, _ in first} <= {sampler.epoch_at(10**9), sampler.epoch_at(10**9) + 1}


# --------------------------------------------------------------------------- epochs


def _stream(sampler, count):
    return [key for batch in flat_steps(sampler, count) for key in batch]


@pytest.mark.parametrize("batch", [4, 5, 7])
def test_every_index_appears_exactly_once_per_epoch(batch):
    epochs = 5
    keys = _stream(TrainBatchSampler(N_ODD, batch, seed=2), -(-epochs * N_ODD // batch))
    for epoch in range(epochs):
        indices = [i for e, i in keys if e == epoch]
        assert sorted(indices) == list(range(N_ODD)), f"epoch {epoch}"


def test_batches_cross_epoch_boundaries_without_dropping_or_padding():
    batch = 5  # 23 % 5 != 0: step 4 holds the last 3 samples of epoch 0 and 2 of epoch 1
    batches = flat_steps(TrainBatchSampler(N_ODD, batch, seed=2), 10)
    assert [e for e, _ in batches[4]] == [0, 0, 0, 1, 1]
    assert all(len(b) == batch for b in batches)


def test_the_stream_is_ordered_by_epoch():
    keys = _stream(TrainBatchSampler(N_ODD, 4, seed=2), 30)
    assert [e for e, _ in keys] == [pos // N_ODD for pos in range(len(keys))]


def test_each_epoch_has_its_own_order():
    keys = _stream(TrainBatchSampler(N_ODD, N_ODD, seed=2), 3)
    orders = [[i for e, i in keys if e == epoch] for epoch in range(3)]
    assert orders[0] != orders[1] != orders[2]


@pytest.mark.parametrize("world_size,batch,k", [(1, 4, 1), (1, 5, 1), (2, 3, 1), (3, 4, 2)])
def test_epoch_at_is_the_epoch_of_the_first_sample_of_the_step(world_size, batch, k):
    per_rank = rank_steps(N_ODD, batch, world_size, 30, accumulation=k, seed=4)
    sampler = TrainBatchSampler(N_ODD, batch, seed=4, world_size=world_size, accumulation=k)
    for it in range(30):
        first_epoch = min(e for r in range(world_size) for e, _ in per_rank[r][it])
        assert sampler.epoch_at(it) == first_epoch, f"step {it}"


def test_epoch_at_values():
    sampler = TrainBatchSampler(10, 4, seed=0)  # 4 samples per step, 10 per epoch
    assert [sampler.epoch_at(it) for it in range(8)] == [0, 0, 0, 1, 1, 2, 2, 2]
    # the per-step batch is per process: world size multiplies it
    assert TrainBatchSampler(10, 2, seed=0, rank=1, world_size=2).epoch_at(3) == 1


# --------------------------------------------------------------------------- order


def test_same_seed_gives_the_same_order():
    a = _stream(TrainBatchSampler(N_ODD, 4, seed=123), 20)
    b = _stream(TrainBatchSampler(N_ODD, 4, seed=123), 20)
    assert a == b


def test_different_seeds_give_different_orders():
    a = _stream(TrainBatchSampler(N_ODD, N_ODD, seed=123), 3)  # three whole epochs
    b = _stream(TrainBatchSampler(N_ODD, N_ODD, seed=124), 3)
    assert a != b
    assert sorted(a) == sorted(b)  # a different order of the same samples


def test_shuffled_order_is_not_the_identity():
    keys = _stream(TrainBatchSampler(N_ODD, N_ODD, seed=0), 1)
    assert [i for _, i in keys] != list(range(N_ODD))


def test_shuffle_false_is_in_order_across_epochs():
    keys = _stream(TrainBatchSampler(N_ODD, 4, seed=0, shuffle=False), 15)
    assert keys == [divmod(pos, N_ODD) for pos in range(60)]


def test_the_sampler_is_endless_and_reiterable():
    sampler = TrainBatchSampler(3, 2, seed=0)
    assert len(list(itertools.islice(iter(sampler), 100))) == 100
    assert list(itertools.islice(iter(sampler), 5)) == list(itertools.islice(iter(sampler), 5))


@pytest.mark.parametrize("batch", [0, -4])
def test_non_positive_train_per_batch_raises_config_error(batch):
    with pytest.raises(ConfigError, match="train_per_batch"):
        TrainBatchSampler(N_ODD, batch, seed=0)


def test_non_positive_test_per_batch_raises_config_error():
    with pytest.raises(ConfigError, match="test_per_batch"):
        InferenceBatchSampler(N_ODD, 0)


def test_empty_dataset_raises_config_error():
    with pytest.raises(ConfigError, match="empty"):
        TrainBatchSampler(0, 4, seed=0)


# --------------------------------------------------------------------------- inference


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 7, 9, 10, 23])
def test_inference_shards_cover_every_index_exactly_once(world_size, n):
    batch = 3
    keys = [
        key
        for rank in range(world_size)
        for b in InferenceBatchSampler(n, batch, rank=rank, world_size=world_size)
        for key in b
    ]
    assert sorted(i for _, i in keys) == list(range(n))
    assert len(keys) == n  # no index twice (no padding to equal shard sizes)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_inference_shards_in_rank_order_are_the_dataset_in_order(world_size):
    keys = [
        key
        for rank in range(world_size)
        for b in InferenceBatchSampler(N_ODD, 4, rank=rank, world_size=world_size)
        for key in b
    ]
    assert keys == [(0, i) for i in range(N_ODD)]


def test_inference_batches_have_batch_size_except_the_last_and_len_counts_them():
    sampler = InferenceBatchSampler(10, 4)
    batches = list(sampler)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert len(sampler) == len(batches)
