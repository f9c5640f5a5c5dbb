"""The trainer: CartPole learns, runs are reproducible, resume continues, faults stop cleanly."""

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlkit.training.checkpoint import load_checkpoint
from rlkit.config import load_config
from rlkit.errors import ConfigError, EnvError, RunDirError, TrainingError
from rlkit.training.evaluate import load_agent
from rlkit.run import resume, train

from helpers import CARTPOLE, fast_config


def _weights(checkpoint):
    return load_checkpoint(checkpoint)["agent"]["online"]


def test_cartpole_learns(tmp_path):
    config = load_config(CARTPOLE, [f"run_dir={tmp_path / 'run'}", "train.total_steps=25000", "train.eval_every=1000",
                                    "train.checkpoint_every=0", "train.eval_episodes=5", "train.target_return=195",
                                    "threads=1"])
    result = train(config, progress=False)
    assert result.stopped_early, f"greedy return {result.eval_mean} after {result.steps} steps"
    assert result.eval_mean >= 195 and result.steps <= 25000


def test_same_seed_same_run(tmp_path):
    first = train(fast_config(tmp_path / "a"), progress=False)
    second = train(fast_config(tmp_path / "b"), progress=False)
    other = train(fast_config(tmp_path / "c", "seed=1"), progress=False)
    a, b, c = _weights(first.checkpoint), _weights(second.checkpoint), _weights(other.checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert (first.episodes, first.eval_mean) == (second.episodes, second.eval_mean)


def test_resume_continues_counters_and_state(tmp_path):
    run_dir = tmp_path / "run"
    first = train(fast_config(run_dir, "replay.save_with_checkpoint=true"), progress=False)
    assert first.steps == 600
    before = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    second = resume(run_dir, ["train.total_steps=900"], progress=False)
    after = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert second.steps == 900
    assert after["trainer"]["updates"] == before["trainer"]["updates"] + 75  # 300 steps / train_freq 4: the buffer came back, no warm-up
    assert after["trainer"]["episodes"] > before["trainer"]["episodes"]
    assert after["agent"]["optimizer"]["state"][0]["step"] > before["agent"]["optimizer"]["state"][0]["step"]


def test_tensorboard_scalars(tmp_path):
    run_dir = tmp_path / "run"
    train(fast_config(run_dir), progress=False)
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ("charts/episodic_return", "charts/episodic_length", "train/loss", "train/mean_q", "charts/epsilon",
                "charts/steps_per_second", "eval/mean_return"):
        assert tag in tags, tag
    assert (run_dir / "config.yaml").is_file()


def test_progress_bar_shows_return_and_speed(tmp_path, capsys):
    train(fast_config(tmp_path / "run"), progress=True)
    err = capsys.readouterr().err
    assert "steps/s" in err and "return" in err


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    config = fast_config(run_dir, "env.id=toy_envs:Exploding-v0", "env.kwargs={explode_at: 450}",
                         "train.checkpoint_every=200")
    with pytest.raises(TrainingError, match="loss became"):
        train(config, progress=False)
    kept = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert kept["trainer"]["step"] == 400
    assert all(torch.isfinite(w).all() for w in kept["agent"]["online"].values())


def test_existing_run_directory_is_not_touched(tmp_path):
    run_dir = tmp_path / "run"
    train(fast_config(run_dir), progress=False)
    snapshot = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(RunDirError, match="already holds a run"):
        train(fast_config(run_dir), progress=False)
    with pytest.raises(ConfigError):
        resume(run_dir, ["agent.lr_rat=1"], progress=False)
    assert snapshot == {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_bad_env_or_unwritable_run_dir_leave_nothing(tmp_path):
    with pytest.raises(EnvError, match="did you mean 'CartPole-v1'"):
        train(fast_config(tmp_path / "run", "env.id=CartPol-v1"), progress=False)
    assert not (tmp_path / "run").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunDirError, match="not writable"):
        train(fast_config(blocker / "run"), progress=False)


def test_load_agent_acts_in_its_env(tmp_path):
    import gymnasium as gym

    result = train(fast_config(tmp_path / "run"), progress=False)
    agent = load_agent(result.checkpoint)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    action = agent.act(obs)
    assert action in (0, 1)
    assert agent.act(np.stack([obs, obs])).shape == (2,)


def test_evaluation_with_epsilon_does_not_change_training(tmp_path):
    """Evaluation explores with its own RNG: how often it runs cannot move the agent's exploration draws."""
    runs = [train(fast_config(tmp_path / f"run{every}", "exploration.eval_epsilon=0.2", f"train.eval_every={every}"),
                  progress=False) for every in (0, 150)]
    first, second = (_weights(run.checkpoint) for run in runs)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert runs[0].episodes == runs[1].episodes


def test_evaluation_with_epsilon_is_repeatable_and_explores():
    from rlkit.training.evaluate import run_episodes
    from rlkit.vec import make_env

    class Always0:
        rng = np.random.default_rng(0)

        def act(self, obs, epsilon=0.0):
            assert epsilon == 0.0  # exploration is drawn by the evaluation itself
            return 0

    env = make_env("CartPole-v1")
    greedy = run_episodes(Always0(), env, 3, 0.0, seed=5)
    noisy = [run_episodes(Always0(), env, 3, 0.5, seed=5) for _ in range(2)]
    assert np.array_equal(noisy[0][0], noisy[1][0]) and not np.array_equal(greedy[1], noisy[0][1])
    env.close()
