"""Tests for rlkit.replay: n-step returns on hand-computed examples, ring wrap-around, dtypes, checkpoints, sampling."""

import pickle

import numpy as np
import pytest

from rlkit.errors import CheckpointError
from rlkit.replay import Batch, ReplayBuffer, n_step_returns


def _add_steps(buffer, rewards, terminated=None, truncated=None):
    """Add T steps for N envs from (T, N) arrays; obs[t, e] = 10t + e, next_obs = obs + 5, action = t + 100e."""
    rewards = np.asarray(rewards, np.float32)
    steps, num_envs = rewards.shape
    terminated = np.zeros_like(rewards, bool) if terminated is None else np.asarray(terminated, bool)
    truncated = np.zeros_like(rewards, bool) if truncated is None else np.asarray(truncated, bool)
    envs = np.arange(num_envs)
    for t in range(steps):
        obs = (10 * t + envs).astype(np.float32)[:, None]
        buffer.add(obs, t + 100 * envs, rewards[t], obs + 5, terminated[t], truncated[t])


def _assert_batch(batch, rewards, discounts, next_obs):
    np.testing.assert_allclose(batch.returns, rewards, rtol=1e-6)
    np.testing.assert_allclose(batch.discounts, discounts, rtol=1e-6)
    np.testing.assert_array_equal(batch.next_obs[:, 0], next_obs)


def test_n_step_two_envs_termination_and_truncation_hand_computed():
    # env 0 terminates after step 2; env 1 is truncated after step 1. n=3, gamma=0.5, 6 steps, no wrap.
    buffer = ReplayBuffer(17, (1,), np.float32, num_envs=2, n_step=3, gamma=0.5)
    assert buffer.capacity == 16  # rounded down to a multiple of num_envs
    rewards = [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50], [6, 60]]
    terminated = np.zeros((6, 2), bool)
    terminated[2, 0] = True
    truncated = np.zeros((6, 2), bool)
    truncated[1, 1] = True
    _add_steps(buffer, rewards, terminated, truncated)
    assert len(buffer) == 12

    batch = buffer.gather(np.arange(12))  # flat slot = t * 2 + env
    expected = [  # (reward, discount, next_obs) per slot, worked out by hand
        (1 + 0.5 * 2 + 0.25 * 3, 0.0, 25),      # t0 e0: steps 0,1,2, terminated at 2
        (10 + 0.5 * 20, 0.25, 16),              # t0 e1: steps 0,1, truncated at 1 -> bootstraps from true final obs
        (2 + 0.5 * 3, 0.0, 25),                 # t1 e0
        (20, 0.5, 16),                          # t1 e1: truncation step alone
        (3, 0.0, 25),                           # t2 e0: termination step alone
        (30 + 0.5 * 40 + 0.25 * 50, 0.125, 46),  # t2 e1: new episode, full window
        (4 + 0.5 * 5 + 0.25 * 6, 0.125, 55),    # t3 e0: new episode, full window ending at the newest row
        (40 + 0.5 * 50 + 0.25 * 60, 0.125, 56),
        (5 + 0.5 * 6, 0.25, 55),                # t4 e0: shortened by the write head, m=2
        (50 + 0.5 * 60, 0.25, 56),
        (6, 0.5, 55),                           # t5 e0: newest row, m=1
        (60, 0.5, 56),
    ]
    _assert_batch(batch, *zip(*expected))
    np.testing.assert_array_equal(batch.actions, [0, 100, 1, 101, 2, 102, 3, 103, 4, 104, 5, 105])
    np.testing.assert_array_equal(batch.obs[:, 0], [0, 1, 10, 11, 20, 21, 30, 31, 40, 41, 50, 51])
    np.testing.assert_array_equal(batch.indices, np.arange(12))
    np.testing.assert_array_equal(batch.weights, np.ones(12))


def test_window_near_write_head_is_shortened_then_grows():
    buffer = ReplayBuffer(10, (1,), np.float32, n_step=3, gamma=0.5)
    _add_steps(buffer, [[1], [2]])
    _assert_batch(buffer.gather(np.array([0, 1])), [1 + 0.5 * 2, 2], [0.25, 0.5], [15, 15])
    _add_steps(buffer, [[1], [2], [3]])  # rows 2..4 hold t=0..2 of this call: obs 0, 10, 20
    _assert_batch(buffer.gather(np.array([1])), [2 + 0.5 * 1 + 0.25 * 2], [0.125], [15])


def test_ring_wraps_over_oldest_and_never_mixes_old_and_new():
    # capacity 4, 6 steps with reward t: rows now hold t = 4, 5, 2, 3 (rows 0 and 1 were overwritten).
    buffer = ReplayBuffer(4, (1,), np.float32, n_step=3, gamma=0.5)
    _add_steps(buffer, [[t] for t in range(6)])
    assert len(buffer) == 4
    batch = buffer.gather(np.arange(4))
    np.testing.assert_array_equal(batch.obs[:, 0], [40, 50, 20, 30])
    np.testing.assert_array_equal(batch.actions, [4, 5, 2, 3])
    expected = [
        (4 + 0.5 * 5, 0.25, 55),          # t4: stops at the newest row, does not wrap into t2
        (5, 0.5, 55),                     # t5: the newest row
        (2 + 0.5 * 3 + 0.25 * 4, 0.125, 45),  # t2: window wraps from the last row to row 0 (t3 -> t4)
        (3 + 0.5 * 4 + 0.25 * 5, 0.125, 55),
    ]
    _assert_batch(batch, *zip(*expected))
    assert set(buffer.sample(256).indices.tolist()) == {0, 1, 2, 3}


def test_n_step_one_is_the_plain_transition():
    rng = np.random.default_rng(1)
    buffer = ReplayBuffer(64, (1,), np.float32, num_envs=4, n_step=1, gamma=0.9)
    rewards = rng.standard_normal((12, 4))
    terminated, truncated = rng.random((12, 4)) < 0.3, rng.random((12, 4)) < 0.3
    _add_steps(buffer, rewards, terminated, truncated)
    batch = buffer.gather(np.arange(48))
    np.testing.assert_allclose(batch.returns, rewards.reshape(-1).astype(np.float32))
    np.testing.assert_allclose(batch.discounts, np.where(terminated.reshape(-1), 0.0, 0.9), rtol=1e-6)
    np.testing.assert_array_equal(batch.next_obs, batch.obs + 5)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_obs_keep_their_dtype_and_batch_shapes(dtype):
    buffer = ReplayBuffer(32, (3, 4), dtype, num_envs=2, n_step=2, seed=0)
    obs = np.arange(24).reshape(2, 3, 4)
    for _ in range(5):
        buffer.add(obs.astype(dtype), [1, 2], [0.5, 0.5], (obs + 1).astype(dtype), [False, True], [False, False])
    batch = buffer.sample(7)
    assert isinstance(batch, Batch)
    assert batch.obs.dtype == dtype and batch.next_obs.dtype == dtype
    assert batch.obs.shape == batch.next_obs.shape == (7, 3, 4)
    for field, want in [("actions", np.int64), ("returns", np.float32), ("discounts", np.float32),
                        ("indices", np.int64), ("weights", np.float32)]:
        assert getattr(batch, field).shape == (7,) and getattr(batch, field).dtype == want, field


def test_float64_obs_are_stored_as_float32_and_float_into_uint8_is_refused():
    buffer = ReplayBuffer(8, (2,), np.float32)
    buffer.add(np.ones((1, 2)), [0], [1.0], np.ones((1, 2)), [False], [False])
    assert buffer.sample(1).obs.dtype == np.float32
    frames = ReplayBuffer(8, (2,), np.uint8)
    with pytest.raises(ValueError, match="obs has dtype float"):
        frames.add(np.full((1, 2), 0.5), [0], [1.0], np.ones((1, 2), np.uint8), [False], [False])


def test_errors_name_the_argument_and_the_problem():
    buffer = ReplayBuffer(8, (4,), np.float32, num_envs=2)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(4)
    good = dict(obs=np.zeros((2, 4)), actions=[0, 1], rewards=[0.0, 0.0], next_obs=np.zeros((2, 4)),
                terminated=[False, False], truncated=[False, False])
    for name, bad in [("obs", np.zeros((2, 3))), ("next_obs", np.zeros((1, 4))), ("actions", [0]),
                      ("truncated", [False, False, False])]:
        with pytest.raises(ValueError, match=rf"^{name} has shape .* expected"):
            buffer.add(**{**good, name: bad})
    assert len(buffer) == 0
    buffer.add(**good)
    with pytest.raises(ValueError, match="batch_size"):
        buffer.sample(0)


def _filled_buffer(seed=3):
    buffer = ReplayBuffer(40, (2,), np.uint8, num_envs=2, n_step=3, gamma=0.9, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(27):  # more than 20 rows, so the ring has wrapped
        obs = rng.integers(0, 255, (2, 2), dtype=np.uint8)
        buffer.add(obs, rng.integers(0, 4, 2), rng.standard_normal(2), obs + 1, rng.random(2) < 0.2,
                   rng.random(2) < 0.1)
    buffer.sample(5)  # advance the RNG so its restored state matters
    return buffer


def _assert_same_batches(a, b):
    for field in Batch.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_state_dict_round_trip_gives_the_same_samples():
    buffer = _filled_buffer()
    state = buffer.state_dict()
    assert all(isinstance(v, (np.ndarray, int, float, str)) for v in state.values())
    restored = ReplayBuffer(40, (2,), np.uint8, num_envs=2, n_step=3, gamma=0.9, seed=99)
    restored.load_state_dict(state)
    assert len(restored) == len(buffer)
    _assert_same_batches(buffer.sample(64), restored.sample(64))
    for b in (buffer, restored):  # writing continues at the same place
        b.add(np.zeros((2, 2), np.uint8), [1, 1], [1.0, 1.0], np.ones((2, 2), np.uint8), [True, False], [False, True])
    _assert_same_batches(buffer.sample(64), restored.sample(64))


def test_save_load_round_trip_is_atomic_and_reproducible(tmp_path):
    buffer = _filled_buffer()
    path = tmp_path / "replay.npz"
    buffer.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["replay.npz"]  # no temp file left behind
    restored = ReplayBuffer(40, (2,), np.uint8, num_envs=2, n_step=3, gamma=0.9)
    restored.load(path)
    _assert_same_batches(buffer.sample(64), restored.sample(64))


def test_partly_filled_buffer_round_trips(tmp_path):
    buffer = ReplayBuffer(100, (1,), np.float32, n_step=2, seed=0)
    _add_steps(buffer, [[1], [2], [3]])
    buffer.save(tmp_path / "r.npz")
    restored = ReplayBuffer(100, (1,), np.float32, n_step=2, seed=1)
    restored.load(tmp_path / "r.npz")
    assert len(restored) == 3
    _assert_same_batches(buffer.sample(16), restored.sample(16))


def test_load_refuses_missing_corrupt_and_mismatched_files(tmp_path):
    buffer = _filled_buffer()
    with pytest.raises(CheckpointError, match="nope.npz not found"):
        buffer.load(tmp_path / "nope.npz")
    good = tmp_path / "good.npz"
    buffer.save(good)
    data = good.read_bytes()
    truncated, garbage = tmp_path / "truncated.npz", tmp_path / "garbage.npz"
    truncated.write_bytes(data[: len(data) // 2])
    garbage.write_bytes(b"not a replay file at all" * 10)
    for path in (truncated, garbage):
        with pytest.raises(CheckpointError, match=path.name):
            buffer.load(path)
    other = ReplayBuffer(40, (3,), np.uint8, num_envs=2)
    with pytest.raises(CheckpointError, match=r"good\.npz.*obs_shape"):
        other.load(good)
    with pytest.raises(CheckpointError, match="obs_dtype"):
        ReplayBuffer(40, (2,), np.float32, num_envs=2).load(good)


def test_failed_load_leaves_the_buffer_unchanged(tmp_path):
    buffer = _filled_buffer()
    state = dict(buffer.state_dict())
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    state["rewards"] = state["rewards"][:-1]
    with pytest.raises(CheckpointError, match="'rewards'"):
        buffer.load_state_dict(state)
    del state["rewards"]
    with pytest.raises(CheckpointError, match="missing key 'rewards'"):
        buffer.load_state_dict(state)
    after = buffer.state_dict()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


class _Planted:
    """Unpickling this creates a marker file: proof that loading executed code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_objects_are_refused_without_running_them(tmp_path):
    buffer = _filled_buffer()
    marker = tmp_path / "pwned"
    planted = tmp_path / "planted.npz"
    np.savez(planted, **buffer.state_dict(), extra=np.array([_Planted(marker)], dtype=object))
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps(_Planted(marker)))
    for path in (planted, raw):
        with pytest.raises(CheckpointError, match=path.name):
            buffer.load(path)
    assert not marker.exists()


def test_sampling_is_uniform_and_stays_in_stored_range():
    buffer = ReplayBuffer(200, (1,), np.float32, num_envs=2, n_step=3, seed=123)
    _add_steps(buffer, np.zeros((50, 2)))  # 100 of 200 slots used
    indices = np.concatenate([buffer.sample(1000).indices for _ in range(100)])
    counts = np.bincount(indices, minlength=200)
    assert counts[100:].sum() == 0
    expected = len(indices) / 100
    chi_square = ((counts[:100] - expected) ** 2 / expected).sum()
    assert chi_square < 99 + 6 * np.sqrt(2 * 99)  # 99 degrees of freedom; mean 99, sd ~14


def test_same_seed_same_samples():
    a, b = _filled_buffer(seed=5), _filled_buffer(seed=5)
    _assert_same_batches(a.sample(32), b.sample(32))


def test_add_reports_the_slots_it_filled():
    buffer = ReplayBuffer(6, (1,), np.float32, num_envs=2)
    for row in range(4):  # 3 rows: the 4th add overwrites row 0
        added, removed = buffer.add(np.zeros((2, 1)), [0, 0], [0.0, 0.0], np.zeros((2, 1)), [False, False],
                                    [False, False])
        assert added.tolist() == [2 * (row % 3), 2 * (row % 3) + 1] and removed.size == 0
    assert buffer.valid_slots().tolist() == list(range(6))
    assert not buffer.prioritized and buffer.nbytes == 6 * (4 + 4 + 8 + 4 + 1 + 1)


def test_n_step_returns_pure_function_hand_example():
    gamma_powers = np.float32(0.5) ** np.arange(4, dtype=np.float32)
    rewards = np.array([[1, 2, 4], [1, 2, 4], [1, 2, 4], [1, 2, 4]], np.float32)
    terminated = np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0]], bool)
    truncated = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]], bool)
    available = np.array([3, 3, 2, 3])
    returns, discounts, steps = n_step_returns(rewards, terminated, truncated, available, gamma_powers)
    np.testing.assert_allclose(returns, [1 + 1, 1 + 1, 1 + 1, 1])  # 1 + 0.5 * 2 in the first three
    np.testing.assert_allclose(discounts, [0.0, 0.25, 0.25, 0.0])  # terminated / truncated / write head / terminated
    np.testing.assert_array_equal(steps, [2, 2, 2, 1])
    one = n_step_returns(rewards[:, :1], terminated[:, :1], truncated[:, :1], available, gamma_powers[:2])
    np.testing.assert_allclose(one[0], [1, 1, 1, 1])
    np.testing.assert_allclose(one[1], [0.5, 0.5, 0.5, 0.0])


def test_n_step_returns_full_window_batches_match_a_plain_loop():
    """Batches where no window ends take a shortcut; both paths agree with a per-window loop."""
    rng = np.random.default_rng(0)
    gamma_powers = np.float32(0.9) ** np.arange(5, dtype=np.float32)
    for rate in (0.0, 0.05):  # no ends (the shortcut) and some ends (the general path)
        rewards = rng.normal(size=(64, 4)).astype(np.float32)
        terminated, truncated = rng.random((64, 4)) < rate, rng.random((64, 4)) < rate / 2
        available = rng.integers(4, 100, 64)
        returns, discounts, steps = n_step_returns(rewards, terminated, truncated, available, gamma_powers)
        for i in range(64):
            total, m = 0.0, 0
            for k in range(4):
                total += gamma_powers[k] * rewards[i, k]
                m = k + 1
                if terminated[i, k] or truncated[i, k]:
                    break
            assert steps[i] == m and returns[i] == pytest.approx(total, rel=1e-6)
            assert discounts[i] == (0.0 if terminated[i, m - 1] else gamma_powers[m])
        assert returns.dtype == discounts.dtype == np.float32 and steps.dtype == np.int64


def test_large_arrays_round_trip_through_the_streaming_reader(tmp_path):
    buffer = ReplayBuffer(4096, (64,), np.float32, num_envs=2, n_step=2, seed=0)  # obs arrays of 1 MiB each
    rng = np.random.default_rng(0)
    for _ in range(2048):
        obs = rng.standard_normal((2, 64)).astype(np.float32)
        buffer.add(obs, [1, 2], [0.5, 0.5], obs + 1, rng.random(2) < 0.05, [False, False])
    buffer.save(tmp_path / "big.npz")
    restored = ReplayBuffer(4096, (64,), np.float32, num_envs=2, n_step=2, seed=1)
    restored.load(tmp_path / "big.npz")
    _assert_same_batches(buffer.sample(64), restored.sample(64))


@pytest.mark.parametrize("chunks", [[3, 4, 2], [13], [2, 11]])  # 13 and 11 steps exceed the 5 rows: wrap in one call
def test_add_steps_equals_step_by_step_adds(chunks):
    one, bulk = (ReplayBuffer(10, (2,), np.float32, num_envs=2, n_step=3, gamma=0.9) for _ in range(2))
    rng = np.random.default_rng(0)
    for steps in chunks:
        obs, next_obs = rng.standard_normal((2, steps, 2, 2)).astype(np.float32)
        actions, rewards = rng.integers(0, 4, (steps, 2)), rng.standard_normal((steps, 2)).astype(np.float32)
        terminated, truncated = rng.random((steps, 2)) < 0.2, rng.random((steps, 2)) < 0.1
        added = [one.add(obs[t], actions[t], rewards[t], next_obs[t], terminated[t], truncated[t])[0]
                 for t in range(steps)]
        slots, sources = bulk.add_steps(obs, actions, rewards, next_obs, terminated, truncated)
        np.testing.assert_array_equal(slots, np.concatenate(added))  # nothing is removed: source k is step k
        np.testing.assert_array_equal(sources, np.arange(2 * steps))
    assert len(bulk) == len(one)
    everything = np.arange(len(one))
    for field in ("obs", "actions", "returns", "discounts", "next_obs"):
        np.testing.assert_array_equal(getattr(bulk.gather(everything), field), getattr(one.gather(everything), field))
    with pytest.raises(ValueError, match="rewards has shape"):
        bulk.add_steps(obs, actions, rewards[:, :1], next_obs, terminated, truncated)
