"""Tests for rlkit.prioritized: the sum tree against plain cumulative sums, sampling statistics, weights, files."""

import numpy as np
import pytest

from rlkit.errors import CheckpointError
from rlkit.replay import Batch, FrameReplayBuffer, PrioritizedReplay, ReplayBuffer, SumTree, build_replay
from test_frame_replay import K, StackedEnvs


@pytest.mark.parametrize("capacity", [1, 5, 64, 1000])
def test_sum_tree_matches_a_plain_cumulative_sum(capacity):
    rng = np.random.default_rng(capacity)
    tree, naive = SumTree(capacity), np.zeros(capacity)
    for _ in range(30):
        indices = rng.integers(0, capacity, 17)
        priorities = rng.random(17) * (rng.random(17) < 0.7)  # some zeros
        tree.update(indices, priorities)
        for i, p in zip(indices, priorities):  # a loop of single updates: the last repeat wins
            naive[i] = p
        np.testing.assert_allclose(tree.values(), naive)
        assert tree.total == pytest.approx(naive.sum()) and tree.max == naive.max()
        if naive.sum() == 0:
            continue
        values = np.concatenate([rng.random(200) * naive.sum(), [0.0, np.nextafter(naive.sum(), 0)]])
        found = tree.find_prefix_sum(values)
        cumulative = np.cumsum(naive)
        expected = np.minimum(np.searchsorted(cumulative, values, side="right"), capacity - 1)
        # Equal except where rounding put v on a boundary; a found leaf is never empty.
        assert (found == expected).mean() > 0.99
        assert (naive[found] > 0).all()


def test_sum_tree_rebuild_and_errors():
    tree = SumTree(6)
    tree.set_all(np.arange(6.0))
    assert tree.total == 15.0
    np.testing.assert_array_equal(tree.find_prefix_sum([0.0, 0.5, 1.0, 14.9]), [1, 1, 2, 5])
    with pytest.raises(IndexError):
        tree.update([6], [1.0])
    with pytest.raises(ValueError, match="finite"):
        tree.update([0], [np.nan])


def _uniform_buffer(capacity=40, num_envs=2, n_step=1):
    buffer = ReplayBuffer(capacity, (1,), np.float32, num_envs, n_step, 0.5, seed=0)
    for t in range(capacity // num_envs):
        obs = np.full((num_envs, 1), t, np.float32)
        buffer.add(obs, [0] * num_envs, [1.0] * num_envs, obs + 1, [False] * num_envs, [False] * num_envs)
    return buffer


def test_sampling_frequencies_follow_priorities():
    replay = PrioritizedReplay(_uniform_buffer(), alpha=0.7)
    rng = np.random.default_rng(1)
    td_errors = rng.random(40) * 3
    replay.update_priorities(np.arange(40), td_errors)
    probabilities = (td_errors + replay.eps) ** 0.7
    probabilities /= probabilities.sum()
    draws = 100_000
    counts = np.bincount(np.concatenate([replay.sample(1000).indices for _ in range(draws // 1000)]), minlength=40)
    expected = probabilities * draws
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 39 + 6 * np.sqrt(2 * 39)  # 39 degrees of freedom: mean 39, sd ~8.8


def test_importance_weights_on_a_hand_example():
    replay = PrioritizedReplay(_uniform_buffer(capacity=4, num_envs=1), alpha=1.0, beta=0.5, eps=1e-9)
    replay.update_priorities([0, 1, 2, 3], [1.0, 1.0, 2.0, 4.0])  # P = 1/8, 1/8, 2/8, 4/8; N = 4
    batch = replay.sample(200)
    probabilities = np.array([1, 1, 2, 4])[batch.indices] / 8
    raw = (4 * probabilities) ** -0.5  # (N P)^-beta: 1.414, 1.414, 1.0, 0.707
    np.testing.assert_allclose(batch.weights, raw / raw.max(), rtol=1e-6)
    assert set(batch.indices.tolist()) == {0, 1, 2, 3}
    np.testing.assert_allclose(sorted(set(batch.weights.tolist())), [0.5, 0.5 ** 0.5, 1.0], rtol=1e-6)


def test_beta_anneals_to_one_and_weights_follow():
    replay = PrioritizedReplay(_uniform_buffer(), beta=0.4)
    replay.update_priorities(np.arange(40), np.arange(40.0))
    replay.anneal(0.5)
    assert replay.beta == pytest.approx(0.7)
    replay.anneal(2.0)
    assert replay.beta == 1.0
    batch = replay.sample(500)
    probabilities = replay.tree.get(batch.indices) / replay.tree.total
    np.testing.assert_allclose(batch.weights, probabilities.min() / probabilities, rtol=1e-5)


def test_new_transitions_get_the_max_priority_and_updates_raise_it():
    replay = PrioritizedReplay(_uniform_buffer(capacity=8, num_envs=1), alpha=1.0, eps=1e-6)
    replay.update_priorities([0, 1], [5.0, 0.5])
    assert replay.max_priority == pytest.approx(5.0 + 1e-6)
    added, _ = replay.add(np.zeros((1, 1)), [0], [0.0], np.ones((1, 1)), [False], [False])  # overwrites slot 0
    assert replay.tree.get(added)[0] == pytest.approx(5.0 + 1e-6)


def _frame_replay(n_step=3, capacity=60, num_envs=3, seed=0):
    storage = FrameReplayBuffer(capacity, (K, 6, 6), np.uint8, num_envs, n_step, 0.9, seed=seed, num_actions=6)
    return PrioritizedReplay(storage), StackedEnvs(num_envs, np.random.default_rng(seed))


def test_with_frame_storage_invalid_slots_are_never_sampled_and_the_tree_stays_in_sync():
    replay, envs = _frame_replay()
    naive = ReplayBuffer(3 * 400, (K, 6, 6), np.uint8, 3, 3, 0.9)
    naive_slot = np.full(replay.capacity, -1)
    rng = np.random.default_rng(5)
    for step in range(400):
        transition = envs.step()[:6]
        added, _ = replay.add(*transition)
        naive_slot[added] = naive.add(*transition)[0]
        valid = np.zeros(replay.capacity, bool)
        valid[replay.storage.valid_slots()] = True
        assert ((replay.tree.values() > 0) == valid).all(), step  # zero priority exactly where not sampleable
        if step % 5 == 0:
            batch = replay.sample(32)
            assert valid[batch.indices].all()
            reference = naive.gather(naive_slot[batch.indices])  # n-step returns and stacks as the naive buffer's
            for field in ("obs", "next_obs", "returns", "discounts", "actions"):
                np.testing.assert_array_equal(getattr(batch, field), getattr(reference, field), err_msg=field)
            replay.update_priorities(batch.indices, rng.standard_normal(32) * 10)


@pytest.mark.parametrize("frames", [False, True])
def test_add_steps_equals_step_by_step_adds_with_priorities(frames):
    """One tree write per chunk leaves the tree as T add + update_priorities calls would, wrap-around included."""
    (one, envs), (batched, _) = _frame_replay(seed=1), _frame_replay(seed=1)
    if not frames:
        one, batched = (PrioritizedReplay(ReplayBuffer(60, (K, 6, 6), np.uint8, 3, 3, 0.9)) for _ in range(2))
    rng = np.random.default_rng(2)
    for _ in range(9):  # 9 chunks of 16 steps x 3 envs: the 60-slot buffer wraps twice
        steps = [envs.step()[:6] for _ in range(16)]
        td = rng.standard_normal((16, 3)) * 4
        for t, transition in enumerate(steps):
            added, _ = one.add(*transition)
            one.update_priorities(added, td[t])
        batched.add_steps(*(np.stack([s[i] for s in steps]) for i in range(6)), td)
        np.testing.assert_allclose(batched.tree.values(), one.tree.values())
        assert batched.max_priority == one.max_priority
    with pytest.raises(ValueError, match="td_errors"):
        batched.add_steps(*(np.stack([s[i] for s in steps]) for i in range(6)), td[:3])


def test_sample_batches_draws_each_batch_after_the_previous_update():
    replay = PrioritizedReplay(_uniform_buffer(), alpha=1.0)
    batches = replay.sample_batches(16, 3)
    first = next(batches)
    replay.update_priorities(np.arange(40), np.where(np.arange(40) == 7, 1e6, 0.0))
    assert (next(batches).indices == 7).mean() > 0.9  # the second batch sees the new priorities
    assert len(list(batches)) == 1 and isinstance(first, Batch)


def test_save_load_round_trip_with_tree(tmp_path):
    replay, envs = _frame_replay()
    for _ in range(100):
        replay.add(*envs.step()[:6])
    batch = replay.sample(16)
    replay.update_priorities(batch.indices, np.arange(16.0))
    replay.anneal(0.25)
    replay.save(tmp_path / "per.npz")
    restored, _ = _frame_replay(seed=9)
    restored.load(tmp_path / "per.npz")
    np.testing.assert_array_equal(restored.tree.values(), replay.tree.values())
    assert (restored.beta, restored.max_priority) == (replay.beta, replay.max_priority)
    a, b = replay.sample(64), restored.sample(64)
    for field in Batch.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    # A uniform buffer's file loads into a prioritised replay at priority 1 everywhere; alpha must match.
    replay.storage.save(tmp_path / "uniform.npz")
    restored.load(tmp_path / "uniform.npz")
    assert set(restored.tree.values()[restored.storage.valid_slots()].tolist()) == {1.0}
    with pytest.raises(CheckpointError, match="alpha=0.6, but this replay has alpha=0.5"):
        PrioritizedReplay(restored.storage, alpha=0.5).load(tmp_path / "per.npz")


def test_build_replay_prioritized_and_errors():
    replay = build_replay(1000, (4, 84, 84), np.uint8, num_envs=4, prioritized=True, num_actions=6, frame_stack=4)
    assert replay.prioritized and isinstance(replay.storage, FrameReplayBuffer) and replay.capacity == 1000
    assert not build_replay(100, (4,), np.float32).prioritized
    with pytest.raises(ValueError, match="empty"):
        replay.sample(4)
    with pytest.raises(ValueError, match="eps"):
        PrioritizedReplay(replay.storage, eps=0.0)
    with pytest.raises(ValueError, match="3 values for 2 indices"):
        replay.update_priorities([0, 1], [1.0, 2.0, 3.0])


def test_large_priority_arrays_load_through_the_streaming_reader(tmp_path):
    storage = ReplayBuffer(140_000, (1,), np.float32, seed=0)  # 1.1 MB of priorities: read lazily
    for t in range(50):
        storage.add(np.full((1, 1), t), [0], [0.0], np.full((1, 1), t + 1), [False], [False])
    replay = PrioritizedReplay(storage)
    replay.update_priorities(np.arange(50), np.arange(50.0))
    replay.save(tmp_path / "per.npz")
    restored = PrioritizedReplay(ReplayBuffer(140_000, (1,), np.float32))
    restored.load(tmp_path / "per.npz")
    np.testing.assert_array_equal(restored.tree.values(), replay.tree.values())
