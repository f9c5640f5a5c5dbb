"""Tests for rlkit.frame_replay: frame-deduplicated storage must give back exactly what the naive buffer gives back."""

import numpy as np
import pytest
import torch

from rlkit.errors import CheckpointError
from rlkit.replay import Batch, FrameReplayBuffer, ReplayBuffer, build_replay

K, FRAME = 4, (6, 6)


class StackedEnvs:
    """A random stream of N envs with K-frame stacks whose episodes terminate and truncate at random.

    padding="zeros": an episode's first stack is [0, .., 0, f0] (ale-py's AtariVectorEnv); "repeat": [f0, .., f0]
    (Gymnasium's FrameStackObservation default). Also records each transition's stack depth (frames of its episode
    before its newest one, at most K-1), which decides how long the frame buffer can keep it.
    """

    def __init__(self, num_envs, rng, padding="zeros", end_probability=0.15, frame=FRAME):
        self.num_envs, self.rng, self.padding, self.end_probability = num_envs, rng, padding, end_probability
        self.frame = frame
        self.obs = np.stack([self._first_stack() for _ in range(num_envs)])
        self.episode_step = np.zeros(num_envs, np.int64)

    def _frame(self):
        low = 1 if self.padding == "repeat" else 0  # repeat padding: non-zero frames, so padding is visible
        return self.rng.integers(low, 256, self.frame, dtype=np.uint8)

    def _first_stack(self):
        frame = self._frame()
        stack = np.repeat(frame[None], K, axis=0) if self.padding == "repeat" else np.zeros((K,) + self.frame, np.uint8)
        stack[-1] = frame
        return stack

    def step(self):
        """One vector step: (obs, actions, rewards, next_obs, terminated, truncated, depths)."""
        n = self.num_envs
        obs = self.obs
        next_obs = np.concatenate([obs[:, 1:], np.stack([self._frame() for _ in range(n)])[:, None]], axis=1)
        terminated = self.rng.random(n) < self.end_probability
        truncated = self.rng.random(n) < self.end_probability / 2
        actions = self.rng.integers(0, 6, n)
        rewards = self.rng.standard_normal(n).astype(np.float32)
        depths = np.full(n, K - 1) if self.padding == "repeat" else np.minimum(self.episode_step, K - 1)
        ended = terminated | truncated
        self.obs = next_obs.copy()
        for env in np.flatnonzero(ended):
            self.obs[env] = self._first_stack()
        self.episode_step = np.where(ended, 0, self.episode_step + 1)
        return obs, actions, rewards, next_obs, terminated, truncated, depths


def _assert_same(frames_batch, naive_batch):
    for field in ("obs", "next_obs", "actions", "returns", "discounts"):
        np.testing.assert_array_equal(getattr(frames_batch, field), getattr(naive_batch, field), err_msg=field)


@pytest.fixture(params=[1, 2], ids=["np.take", "index_select"])
def torch_threads(request):
    """Both frame gathers: one torch thread takes np.take's path, more take index_select's (conftest sets one)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(previous)


@pytest.mark.parametrize("n_step", [1, 3])
@pytest.mark.parametrize("padding", ["zeros", "repeat"])
def test_property_same_transitions_as_the_naive_buffer(n_step, padding, torch_threads):
    """Random interleaved streams, rings that wrap many times: every sampleable slot gives exactly the naive
    buffer's transition, and exactly the transitions whose frames are all still in the ring are sampleable."""
    for trial in range(12):
        rng = np.random.default_rng(trial)
        num_envs, rows, steps = int(rng.integers(2, 4)), int(rng.integers(2 * K + 1, 20)), 120
        envs = StackedEnvs(num_envs, rng, padding)
        frames = FrameReplayBuffer(rows * num_envs, (K,) + FRAME, np.uint8, num_envs, n_step, 0.9, seed=trial,
                                   num_actions=6)
        naive = ReplayBuffer(steps * num_envs, (K,) + FRAME, np.uint8, num_envs, n_step, 0.9)  # never wraps
        # Per frame-buffer slot: the naive slot, env position (unwrapped row) and stack depth of its transition.
        naive_slot = np.full(frames.capacity, -1)
        position, depth = np.zeros(frames.capacity, np.int64), np.zeros(frames.capacity, np.int64)
        last_row, last_position = np.full(num_envs, -1), np.zeros(num_envs, np.int64)
        for step in range(steps):
            obs, actions, rewards, next_obs, terminated, truncated, depths = envs.step()
            added, removed = frames.add(obs, actions, rewards, next_obs, terminated, truncated)
            naive_added, _ = naive.add(obs, actions, rewards, next_obs, terminated, truncated)
            assert not set(added.tolist()) & set(removed.tolist())
            row, env = np.divmod(added, num_envs)
            np.testing.assert_array_equal(env, np.arange(num_envs))
            advance = np.where(last_row < 0, row, (row - last_row) % rows)
            last_position += advance
            last_row = row
            naive_slot[added], position[added], depth[added] = naive_added, last_position, depths

            # Exactly the transitions whose stack rows are still in the ring are sampleable (the head row, one past
            # the newest transition, holds the pre-written next frame).
            slot_env = np.arange(frames.capacity) % num_envs
            age = last_position[slot_env] + 1 - position
            expected = (naive_slot >= 0) & (age + depth <= rows - 1)
            np.testing.assert_array_equal(frames.valid_slots(), np.flatnonzero(expected), err_msg=f"step {step}")
            assert len(frames) == expected.sum()
            valid = frames.valid_slots()
            _assert_same(frames.gather(valid), naive.gather(naive_slot[valid]))
            if step % 10 == 9:
                for slot in valid[::7]:  # one slot at a time: obs and next_obs as views of one window
                    _assert_same(frames.gather(np.array([slot])), naive.gather(naive_slot[[slot]]))
                sampled = frames.sample(64)
                assert np.isin(sampled.indices, valid).all()
                _assert_same(sampled, naive.gather(naive_slot[sampled.indices]))
        assert frames._written.max() > 2 * rows  # the rings wrapped


def test_stacks_never_cross_episode_boundaries():
    # Every frame is filled with its (env, episode) tag: a stack's non-zero frames all carry the newest one's tag.
    buffer = FrameReplayBuffer(60, (K, 2, 2), np.uint8, num_envs=3, n_step=3, seed=0)
    rng = np.random.default_rng(0)
    episode, stacks = np.arange(3), np.zeros((3, K, 2, 2), np.uint8)
    stacks[:, -1] = (episode + 1)[:, None, None]
    for _ in range(200):
        ended = rng.random(3) < 0.3
        next_obs = np.concatenate([stacks[:, 1:], stacks[:, -1:]], axis=1)
        buffer.add(stacks, [0, 0, 0], [0.0] * 3, next_obs, ended, [False] * 3)
        episode = np.where(ended, episode + 3, episode)  # a new tag per episode
        stacks = next_obs.copy()
        for env in np.flatnonzero(ended):
            stacks[env] = 0
            stacks[env, -1] = episode[env] % 250 + 1
    batch = buffer.sample(500)
    for stack in np.concatenate([batch.obs, batch.next_obs]):
        tags = stack[:, 0, 0]
        assert set(tags[tags > 0].tolist()) == {tags[-1]}, tags


def _frame(value):
    return np.full((1,) + FRAME, value, np.uint8)


def _step(buffer, frames, action=0, reward=1.0, terminated=False, truncated=False):
    """Add obs = stack of `frames[:-1]`, next_obs = stack of `frames[1:]` (lists of K+1 frame values, 0 = padding)."""
    obs = np.concatenate([_frame(v) for v in frames[:-1]])[None]
    next_obs = np.concatenate([_frame(v) for v in frames[1:]])[None]
    return buffer.add(obs, [action], [reward], next_obs, [terminated], [truncated])


def test_layout_of_the_docstring_example():
    buffer = FrameReplayBuffer(40, (K,) + FRAME, np.uint8, n_step=1, gamma=0.5)
    for t, frames in enumerate([[0, 0, 0, 1, 2], [0, 0, 1, 2, 3], [0, 1, 2, 3, 4]]):
        added, _ = _step(buffer, frames, action=t, terminated=t == 2)
        assert added.tolist() == [t]
    added, _ = _step(buffer, [0, 0, 0, 9, 8])
    assert added.tolist() == [4]  # row 3 is the filler holding the final frame 4
    assert buffer.valid_slots().tolist() == [0, 1, 2, 4] and len(buffer) == 4
    batch = buffer.gather(np.array([2, 4]))
    np.testing.assert_array_equal(batch.obs[:, :, 0, 0], [[0, 1, 2, 3], [0, 0, 0, 9]])
    np.testing.assert_array_equal(batch.next_obs[:, :, 0, 0], [[1, 2, 3, 4], [0, 0, 9, 8]])
    np.testing.assert_array_equal(batch.discounts, [0.0, 0.5])


def test_obs_that_does_not_continue_cuts_the_episode_as_truncated():
    # After a resumed run resets its envs, the new obs does not continue the stored episode.
    buffer = FrameReplayBuffer(40, (K,) + FRAME, np.uint8, n_step=3, gamma=0.5)
    _step(buffer, [0, 0, 0, 1, 2], reward=1.0)
    _step(buffer, [0, 0, 1, 2, 3], reward=2.0)
    added, _ = _step(buffer, [0, 0, 0, 7, 8], reward=4.0)  # not [0, 1, 2, 3]: a new episode
    assert added.tolist() == [3]
    batch = buffer.gather(np.array([0, 1, 3]))
    np.testing.assert_allclose(batch.returns, [1 + 0.5 * 2, 2, 4])
    np.testing.assert_allclose(batch.discounts, [0.25, 0.5, 0.5])  # truncated: still bootstraps
    np.testing.assert_array_equal(batch.next_obs[:, :, 0, 0], [[0, 1, 2, 3], [0, 1, 2, 3], [0, 0, 7, 8]])


def test_bad_input_is_refused_before_anything_is_stored():
    buffer = FrameReplayBuffer(40, (K,) + FRAME, np.uint8, num_actions=4)
    _step(buffer, [0, 0, 0, 1, 2])
    with pytest.raises(ValueError, match=r"next_obs\[0\] is not obs\[0\] shifted by one frame"):
        buffer.add(_frame(1).repeat(K, 0)[None], [0], [0.0], _frame(2).repeat(K, 0)[None], [False], [False])
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 4\)"):
        _step(buffer, [0, 0, 0, 5, 6], action=4)
    assert len(buffer) == 1
    with pytest.raises(ValueError, match="at least 9"):
        FrameReplayBuffer(16, (K,) + FRAME, np.uint8, num_envs=2)
    with pytest.raises(ValueError, match="frame stacks of shape"):
        FrameReplayBuffer(100, (4,), np.uint8)


def test_bytes_per_transition_at_atari_size():
    buffer = FrameReplayBuffer(100_000, (4, 84, 84), np.uint8, num_envs=8, num_actions=18)  # lazily zeroed pages
    per_transition = buffer.nbytes / buffer.capacity
    assert per_transition <= 7_500, per_transition
    assert buffer._actions.dtype == np.uint8
    assert FrameReplayBuffer(1_000, (4, 84, 84), np.uint8)._actions.dtype == np.int16


def test_build_replay_picks_storage():
    assert isinstance(build_replay(1000, (4, 84, 84), np.uint8, frame_stack=4), FrameReplayBuffer)
    assert isinstance(build_replay(1000, (4, 84, 84, 3), np.uint8, frame_stack=4), FrameReplayBuffer)  # RGB stacks
    assert type(build_replay(1000, (3, 84, 84), np.float32)) is ReplayBuffer
    assert type(build_replay(1000, (4,), np.uint8)) is ReplayBuffer
    assert type(build_replay(1000, (4, 84, 84), np.uint8, storage="full")) is ReplayBuffer
    with pytest.raises(ValueError, match="unknown replay storage 'disk'"):
        build_replay(1000, (4,), np.float32, storage="disk")


def test_auto_storage_dedups_only_what_the_env_reports_as_a_frame_stack():
    # A uint8 image whose first axis happens to be > 1 is not a frame stack: frame storage would refuse its first
    # add (the next observation is not this one shifted by a frame).
    for shape in ((3, 84, 84), (84, 84, 3), (4, 84, 84)):
        assert type(build_replay(1000, shape, np.uint8)) is ReplayBuffer, shape
    assert type(build_replay(1000, (3, 84, 84), np.uint8, frame_stack=4)) is ReplayBuffer  # not (4, ...): not one
    assert isinstance(build_replay(1000, (4, 84, 84), np.uint8, storage="frames"), FrameReplayBuffer)  # asked for


def _filled(seed=0, capacity=48, frame=FRAME, steps=60, num_envs=2):
    rng = np.random.default_rng(seed)
    envs = StackedEnvs(num_envs, rng, frame=frame)
    buffer = FrameReplayBuffer(capacity, (K,) + frame, np.uint8, num_envs, n_step=3, gamma=0.9, seed=seed)
    for _ in range(steps):
        buffer.add(*envs.step()[:6])
    return buffer, envs


def _assert_same_batches(a, b):
    for field in Batch.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_save_load_round_trip_continues_identically(tmp_path):
    buffer, envs = _filled()
    buffer.sample(3)
    buffer.save(tmp_path / "frames.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["frames.npz"]
    restored = FrameReplayBuffer(48, (K,) + FRAME, np.uint8, 2, n_step=3, gamma=0.9, seed=7)
    restored.load(tmp_path / "frames.npz")
    assert len(restored) == len(buffer)
    _assert_same_batches(buffer.sample(64), restored.sample(64))
    for _ in range(20):  # the episodes in flight continue seamlessly in both
        step = envs.step()[:6]
        assert [a.tolist() for a in buffer.add(*step)] == [a.tolist() for a in restored.add(*step)]
    _assert_same_batches(buffer.sample(64), restored.sample(64))


def test_large_arrays_stream_into_place_and_corruption_empties_the_buffer(tmp_path):
    frame = (32, 32)  # 1,200 rows of 1 KiB frames: over the 1 MiB above which arrays are streamed
    buffer, _ = _filled(capacity=1200, frame=frame, steps=700)
    path = tmp_path / "big.npz"
    buffer.save(path)
    restored = FrameReplayBuffer(1200, (K,) + frame, np.uint8, 2, n_step=3, gamma=0.9)
    restored.load(path)
    _assert_same_batches(buffer.sample(32), restored.sample(32))
    data = bytearray(path.read_bytes())
    middle = data.find(b"frames.npy") + 600_000  # inside the frame data: the zip's CRC check fails part-way
    data[middle:middle + 10] = b"\x00\x01" * 5
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="big.npz is corrupt .* left empty"):
        restored.load(path)
    assert len(restored) == 0


def test_load_refuses_mismatched_and_foreign_files(tmp_path):
    buffer, _ = _filled()
    buffer.save(tmp_path / "frames.npz")
    with pytest.raises(CheckpointError, match="capacity"):
        FrameReplayBuffer(60, (K,) + FRAME, np.uint8, 2).load(tmp_path / "frames.npz")
    with pytest.raises(CheckpointError, match="'actions' is int16"):
        FrameReplayBuffer(48, (K,) + FRAME, np.uint8, 2, num_actions=6).load(tmp_path / "frames.npz")
    with pytest.raises(CheckpointError, match="format 'rlkit.frame_replay/1', expected 'rlkit.replay/1'"):
        ReplayBuffer(48, (K,) + FRAME, np.uint8, 2).load(tmp_path / "frames.npz")
    state = dict(_filled(steps=10)[0].state_dict())  # 10 of 24 rows per env used
    state["written"] = state["written"] + 1000
    with pytest.raises(CheckpointError, match="write heads"):
        buffer.load_state_dict(state)
