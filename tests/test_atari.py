"""Atari through ale-py: native vector env, preprocessing, raw scores, and a training smoke test."""

import numpy as np
import pytest

pytest.importorskip("ale_py")

from rlkit.atari import game_name  # noqa: E402
from rlkit.config import AtariConfig  # noqa: E402
from rlkit.errors import EnvError  # noqa: E402
from rlkit.training.evaluate import evaluate_checkpoint  # noqa: E402
from rlkit.run import train  # noqa: E402
from rlkit.vec import make_env, make_vec_env  # noqa: E402

from helpers import fast_config  # noqa: E402


def test_game_names():
    assert game_name("ALE/Pong-v5") == "pong"
    assert game_name("ALE/MontezumaRevenge-v5") == "montezuma_revenge"
    with pytest.raises(EnvError, match="did you mean 'ALE/Pong-v5'"):
        make_vec_env("ALE/Pongg-v5", 1)


def test_native_vector_env_preprocessing_and_clipping():
    env = make_vec_env("ALE/Pong-v5", 2, seed=0, atari=AtariConfig(sticky_actions=0.0))
    assert env.obs_shape == (4, 84, 84) and env.obs_dtype == np.uint8 and env.num_actions == 6
    obs = env.reset(seed=0)
    assert (obs[:, :3] == 0).all() and obs[:, 3].any()  # the reset stack is zero-padded
    rng = np.random.default_rng(0)
    rewards, episodes = [], []
    for _ in range(1200):
        step = env.step(rng.integers(6, size=2))
        rewards.append(step.rewards)
        episodes += step.episodes
    env.close()
    assert set(np.unique(np.concatenate(rewards))) <= {-1.0, 0.0, 1.0}
    assert episodes and all(-21 <= score <= 21 and length > 100 for score, length in episodes)


def test_native_split_step_equals_step():
    """send/recv (what the trainer overlaps with its updates) gives the same transitions as step."""
    options = AtariConfig(sticky_actions=0.0, noop_max=0)
    whole, split = (make_vec_env("ALE/Pong-v5", 2, seed=0, atari=options) for _ in range(2))
    whole.reset(seed=0)
    split.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(50):
        actions = rng.integers(6, size=2)
        expected = whole.step(actions)
        split.step_async(actions)
        got = split.step_wait()
        np.testing.assert_array_equal(got.next_obs, expected.next_obs)
        np.testing.assert_array_equal(got.rewards, expected.rewards)
    whole.close()
    split.close()


def test_single_env_for_evaluation_has_matching_spaces():
    env = make_env("ALE/Breakout-v5")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.action_space.n == 4
    env.close()


def test_atari_training_smoke(tmp_path):
    config = fast_config(tmp_path / "run", "env.id=ALE/Pong-v5", "env.num_envs=2", "agent.net.torso=nature_cnn",
                         "agent.name=double_dueling_dqn", "agent.n_step=3", "replay.capacity=2000",
                         "train.total_steps=400", "train.learning_starts=200", "train.eval_every=0",
                         "train.checkpoint_every=0", "env.atari.max_episode_frames=800", "threads=1")
    result = train(config, progress=False)
    assert result.steps == 400 and result.updates > 0
    evaluation = evaluate_checkpoint(result.checkpoint, episodes=1)  # the trainer left torch at 1 thread
    assert evaluation.lengths[0] > 0 and -21 <= evaluation.mean <= 21
    # games played side by side (each stepping in its own ale-py thread) are the games played one after another
    one = evaluate_checkpoint(result.checkpoint, episodes=3, epsilon=0.2, seed=1)
    three = evaluate_checkpoint(result.checkpoint, episodes=3, epsilon=0.2, seed=1, envs=2)
    assert np.array_equal(one.returns, three.returns) and np.array_equal(one.lengths, three.lengths)
    assert len(set(one.returns)) > 1


def test_breakout_eval_records_an_mp4(tmp_path, capsys):
    """`rlkit eval CKPT --env ALE/Breakout-v5 --video DIR` writes a playable mp4 of the first episode."""
    from rlkit.cli import main

    config = fast_config(tmp_path / "run", "env.id=ALE/Breakout-v5", "env.num_envs=2", "agent.net.torso=nature_cnn",
                         "replay.capacity=1000", "train.total_steps=200", "train.learning_starts=100",
                         "train.eval_every=0", "train.checkpoint_every=0", "env.atari.max_episode_frames=1200",
                         "threads=1")
    checkpoint = train(config, progress=False).checkpoint
    capsys.readouterr()
    video_dir = tmp_path / "video"
    assert main(["eval", str(checkpoint), "--env", "ALE/Breakout-v5", "--episodes", "1", "--video",
                 str(video_dir)]) == 0
    videos = list(video_dir.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
    assert videos[0].read_bytes()[4:8] == b"ftyp"  # an MP4 container
    assert "ALE/Breakout-v5: mean return" in capsys.readouterr().out


def test_evaluation_presses_fire_after_a_life_loss_when_training_did():
    """An agent trained with episodic life never pressed FIRE to start a life (every training episode began with
    one), so its evaluation env must start each new life as training did; otherwise Breakout waits, ball-less,
    until the 108k-frame cap. A NOOP-only policy must lose all five lives within a few thousand steps."""
    options = AtariConfig(episodic_life=True)
    env = make_env("ALE/Breakout-v5", atari=options)
    env.reset(seed=0)
    lives_seen, steps, done = set(), 0, False
    while not done and steps < 3000:
        _, _, terminated, truncated, info = env.step(0)  # NOOP
        lives_seen.add(info["lives"])
        done, steps = terminated or truncated, steps + 1
    env.close()
    assert done and terminated and not truncated, f"episode still running after {steps} NOOP steps"
    assert lives_seen >= {1, 2, 3, 4}


def test_evaluation_leaves_fire_to_the_agent_when_training_did_not_use_episodic_life():
    env = make_env("ALE/Breakout-v5", atari=AtariConfig(episodic_life=False))
    env.reset(seed=0)
    for _ in range(1000):
        _, _, terminated, truncated, info = env.step(0)
        assert not (terminated or truncated)
    assert info["lives"] == 4  # the first ball was lost and nothing relaunched the next
    env.close()


def test_evaluation_sees_the_frames_training_sees():
    """The evaluation env preprocesses frames exactly as the training env (ale-py's native vector env) does: an
    agent is judged on the observations it learnt from. Same seed, no no-ops or sticky actions, same actions."""
    options = AtariConfig(sticky_actions=0.0, noop_max=0)
    training = make_vec_env("ALE/Breakout-v5", 1, seed=0, atari=options)
    evaluation = make_env("ALE/Breakout-v5", atari=options)
    train_obs = training.reset(seed=0)[0]
    eval_obs, _ = evaluation.reset(seed=0)
    rng = np.random.default_rng(0)
    for step in range(60):
        np.testing.assert_array_equal(eval_obs, train_obs, err_msg=f"frames differ at step {step}")
        action = int(rng.integers(4))
        train_obs = training.step(np.asarray([action])).obs[0]
        eval_obs, *_ = evaluation.step(action)
    training.close()
    evaluation.close()


def test_terminal_on_life_loss_signals_the_end_of_a_life_and_the_game_goes_on():
    """Dopamine's Atari 100k protocol: a lost life is terminal for the learner but the game continues (the next
    life starts where the last one ended, with one life fewer), unlike episodic_life, which restarts the game."""
    def noop_steps(options, steps=200):
        vec = make_vec_env("ALE/Breakout-v5", 1, seed=0, atari=options)
        obs = vec.reset(seed=0)
        terminal, games, successors = 0, 0, []
        for _ in range(steps):  # NOOP: only a reset serves a ball
            step = vec.step(np.asarray([0]))
            if step.terminated[0]:
                terminal += 1
                successors.append(np.array_equal(step.next_obs[0][:-1], obs[0][1:]))
            games += len(step.episodes)
            obs = step.obs
        vec.close()
        return terminal, games, successors

    # the game goes on, nothing serves the next ball: one life lost in 200 steps, no game over, and the
    # terminal transition's next_obs is the true successor (the frame stack shifted by one)
    terminal, games, successors = noop_steps(AtariConfig(terminal_on_life_loss=True, sticky_actions=0.0))
    assert (terminal, games, successors) == (1, 0, [True])
    # a restarted game serves a new ball each time (FIRE at reset): a life, and a game, lost every ~20 steps
    terminal, games, _ = noop_steps(AtariConfig(episodic_life=True, sticky_actions=0.0))
    assert terminal >= 8 and games == terminal


def test_terminal_on_life_loss_needs_the_native_env_and_excludes_episodic_life():
    from rlkit.errors import ConfigError

    with pytest.raises((ConfigError, ValueError), match="terminal_on_life_loss"):
        AtariConfig(terminal_on_life_loss=True, episodic_life=True)
    with pytest.raises((ConfigError, ValueError), match="terminal_on_life_loss"):
        AtariConfig(terminal_on_life_loss=True, native=False)
