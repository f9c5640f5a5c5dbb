"""Frame-stacked image keys inside keyed observations: deduplicated storage that gives back what full storage does."""

import numpy as np
import pytest

import toy_envs  # noqa: F401  (registers StackedDict-v0, RGB-v0, Image-v0)
from helpers import fast_config
from rlkit.errors import ConfigError
from rlkit.replay import (FrameReplayBuffer, KeyedFrameReplayBuffer, PrioritizedReplay, ReplayBuffer, build_replay,
                          saved_storage, stackable_keys)
from rlkit.run import resume, train
from rlkit.vec import make_env, make_vec_env
from test_frame_replay import FRAME, K, StackedEnvs, _assert_same

KEYED = np.dtype([("image", np.uint8, (K,) + FRAME), ("speed", np.float32, (K, 2)), ("cue", np.int64, ()),
                  ("action_mask", bool, (3,))])


class KeyedStream:
    """StackedEnvs' frame stacks as the "image" key of keyed observations whose other keys change every step
    ("speed" a stacked vector, stored whole; "cue"; "action_mask") and continue from next_obs to the next obs."""

    def __init__(self, num_envs, rng, padding="zeros"):
        self.frames, self.rng = StackedEnvs(num_envs, rng, padding), rng
        self.rest = self._rest(num_envs)

    def _rest(self, n):
        rest = np.zeros(n, KEYED)
        rest["speed"] = self.rng.standard_normal((n, K, 2))
        rest["cue"] = self.rng.integers(0, 100, n)
        rest["action_mask"] = self.rng.random((n, 3)) < 0.7
        return rest

    def step(self):
        obs_frames, actions, rewards, next_frames, terminated, truncated, _ = self.frames.step()
        n = len(actions)
        obs, next_obs = self.rest.copy(), self._rest(n)
        obs["image"], next_obs["image"] = obs_frames, next_frames
        self.rest = next_obs.copy()
        ended = np.flatnonzero(terminated | truncated)
        self.rest[ended] = self._rest(len(ended))  # the reset observation's other keys
        return obs, actions, rewards, next_obs, terminated, truncated


@pytest.mark.parametrize("n_step", [1, 3])
@pytest.mark.parametrize("padding", ["zeros", "repeat"])
def test_keyed_frames_give_back_what_full_storage_gives(n_step, padding):
    for trial in range(8):
        rng = np.random.default_rng(trial)
        num_envs, rows, steps = int(rng.integers(1, 4)), int(rng.integers(2 * K + 1, 20)), 100
        stream = KeyedStream(num_envs, rng, padding)
        frames = KeyedFrameReplayBuffer(rows * num_envs, (), KEYED, num_envs, n_step, 0.9, seed=trial,
                                        num_actions=6, stacked=("image",))
        full = ReplayBuffer(steps * num_envs, (), KEYED, num_envs, n_step, 0.9)  # never wraps
        full_slot = np.full(frames.capacity, -1)
        for step in range(steps):
            obs, actions, rewards, next_obs, terminated, truncated = stream.step()
            added, _ = frames.add(obs, actions, rewards, next_obs, terminated, truncated)
            full_added, _ = full.add(obs, actions, rewards, next_obs, terminated, truncated)
            full_slot[added] = full_added
            valid = frames.valid_slots()
            _assert_same(frames.gather(valid), full.gather(full_slot[valid]))
            sampled = frames.sample(32)
            _assert_same(sampled, full.gather(full_slot[sampled.indices]))
        assert frames._written.max() > 2 * rows  # the rings wrapped


def test_keyed_frames_store_one_frame_per_row():
    keyed = KeyedFrameReplayBuffer(1000, (), KEYED, stacked=("image",))
    full = ReplayBuffer(1000, (), KEYED)
    frame_bytes = int(np.prod(FRAME))
    other_bytes = KEYED.itemsize - K * frame_bytes
    assert keyed._flat_frames.dtype.itemsize == frame_bytes + other_bytes
    assert keyed.nbytes < full.nbytes / 3


def test_keyed_frames_save_load_and_priorities(tmp_path):
    stream = KeyedStream(2, np.random.default_rng(0))
    replay = PrioritizedReplay(KeyedFrameReplayBuffer(60, (), KEYED, 2, 3, 0.9, seed=0, stacked=("image",)))
    for _ in range(50):
        replay.add(*stream.step())
    replay.save(tmp_path / "replay.npz", step=50)
    again = PrioritizedReplay(KeyedFrameReplayBuffer(60, (), KEYED, 2, 3, 0.9, seed=1, stacked=("image",)))
    again.load(tmp_path / "replay.npz")
    valid = replay.storage.valid_slots()
    _assert_same(again.storage.gather(valid), replay.storage.gather(valid))
    _assert_same(again.sample(16), replay.sample(16))  # the sampling RNG came back too
    obs, *rest = stream.step()
    again.add(obs, *rest)  # the stored stream continues: no spurious episode cut
    assert not again.storage._truncated.any() or replay.storage._truncated.any()


def test_keyed_frames_refuse_keys_that_are_not_stacks():
    stream = KeyedStream(1, np.random.default_rng(0))
    buffer = KeyedFrameReplayBuffer(100, (), KEYED, stacked=("image",))
    obs, actions, rewards, next_obs, terminated, truncated = stream.step()
    next_obs["image"][0, 0] += 1  # no longer obs shifted by one frame
    with pytest.raises(ValueError, match=r"next_obs\[0\]\['image'\] is not obs\[0\]\['image'\] shifted"):
        buffer.add(obs, actions, rewards, next_obs, terminated, truncated)
    with pytest.raises(ValueError, match="subset of the observation's keys"):
        KeyedFrameReplayBuffer(100, (), KEYED, stacked=("frames",))


def test_build_replay_picks_keyed_frames_for_reported_stacks():
    assert stackable_keys(KEYED) == ("image",) and stackable_keys(KEYED, 3) == ()
    assert isinstance(build_replay(1000, (), KEYED, frame_stack=K), KeyedFrameReplayBuffer)
    assert type(build_replay(1000, (), KEYED)) is ReplayBuffer  # the env did not say it stacks frames
    assert isinstance(build_replay(1000, (), KEYED, storage="frames"), KeyedFrameReplayBuffer)
    no_image = np.dtype([("speed", np.float32, (K, 2)), ("cue", np.int64, ())])
    assert type(build_replay(1000, (), no_image, frame_stack=K)) is ReplayBuffer
    with pytest.raises(ConfigError, match="replay.storage.*frames needs a uint8 image key"):
        build_replay(1000, (), no_image, storage="frames")


def test_envs_report_their_frame_stack():
    assert make_vec_env("toy_envs:StackedDict-v0").frame_stack == 4  # Gymnasium's FrameStackObservation
    assert make_vec_env("toy_envs:Image-v0").frame_stack == 4  # stacks its own frames and says so
    assert make_vec_env("toy_envs:RGB-v0").frame_stack == 1
    assert make_env("toy_envs:StackedDict-v0").rlkit_frame_stack == 4


@pytest.mark.parametrize("env_id", ["toy_envs:StackedDict-v0", "toy_envs:StackedDictReset-v0"])
def test_a_frame_stacked_dict_env_trains_and_resumes_on_keyed_frames(tmp_path, env_id):
    overrides = [f"env.id={env_id}", "env.num_envs=2", "agent.n_step=3", "replay.prioritized=true",
                 "replay.save_with_checkpoint=true", "train.total_steps=200", "train.learning_starts=64",
                 "train.eval_episodes=1", "replay.capacity=1000"]
    first = train(fast_config(tmp_path / "run", *overrides), progress=False)
    second = resume(tmp_path / "run", ["train.total_steps=260"], progress=False)
    assert second.updates == first.updates + 15  # the keyed frame replay came back whole: no warm-up


def test_auto_storage_on_resume_keeps_the_storage_the_run_saved(tmp_path, monkeypatch):
    # A run saved while auto storage chose "full" for this env (as before envs reported frame stacks) resumes on the
    # storage its replay file holds, rather than refusing the file.
    overrides = ["env.id=toy_envs:StackedDict-v0", "replay.save_with_checkpoint=true", "train.total_steps=200",
                 "train.learning_starts=64", "train.eval_episodes=1", "replay.capacity=1000"]
    with monkeypatch.context() as patch:
        patch.setattr("rlkit.vec.frame_stack_of", lambda env: 1)
        first = train(fast_config(tmp_path / "run", *overrides), progress=False)
    assert saved_storage(tmp_path / "run" / "checkpoints" / "replay.npz") == "full"
    second = resume(tmp_path / "run", ["train.total_steps=260"], progress=False)
    assert second.updates == first.updates + 15
