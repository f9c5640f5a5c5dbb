"""Every critic composes with every DQN option: double, dueling, n-step, vector envs, MLP and CNN torsos."""

import pytest
import torch

from rlkit.training.checkpoint import load_checkpoint
from rlkit.training.evaluate import load_agent
from rlkit.run import train

from helpers import fast_config

CRITICS = [
    ["agent.critic.type=scalar", "agent.critic.loss=mse"],
    ["agent.critic.type=hl_gauss", "agent.critic.bins=21", "agent.critic.v_min=0", "agent.critic.v_max=100"],
    ["agent.critic.type=two_hot", "agent.critic.bins=21", "agent.critic.v_min=0", "agent.critic.v_max=100"],
    ["agent.critic.type=c51", "agent.critic.bins=21", "agent.critic.v_min=0", "agent.critic.v_max=100"],
]
OPTIONS = [
    ["agent.name=double_dueling_dqn", "agent.n_step=3", "env.num_envs=2"],
    ["agent.name=dqn", "agent.tau=0.05", "agent.target_period=4"],
]


@pytest.mark.parametrize("critic", CRITICS, ids=lambda c: c[0].split("=")[1])
@pytest.mark.parametrize("options", OPTIONS, ids=["double-dueling-nstep-2envs", "soft-target"])
def test_critic_with_options_trains_and_reloads(tmp_path, critic, options):
    result = train(fast_config(tmp_path / "run", *critic, *options, "train.total_steps=400"), progress=False)
    payload = load_checkpoint(result.checkpoint)
    assert all(torch.isfinite(w).all() for w in payload["agent"]["online"].values())
    agent = load_agent(result.checkpoint)
    bins = 1 if critic[0].endswith("scalar") else 21
    assert agent.online.head.bins == bins


@pytest.mark.parametrize("torso", ["nature_cnn", "impala"])
def test_cnn_torsos_with_distributional_critic(tmp_path, torso):
    result = train(fast_config(tmp_path / "run", "env.id=toy_envs:Image-v0", f"agent.net.torso={torso}",
                               "agent.name=double_dueling_dqn", *CRITICS[1], "train.total_steps=200",
                               "train.learning_starts=64", "train.eval_episodes=1"), progress=False)
    agent = load_agent(result.checkpoint)
    assert agent.online.torso.__class__.__name__ in ("NatureCNN", "ImpalaCNN")


@pytest.mark.parametrize("critic", CRITICS, ids=lambda c: c[0].split("=")[1])
def test_prioritized_replay_with_every_critic(tmp_path, critic):
    result = train(fast_config(tmp_path / "run", *critic, "replay.prioritized=true", "agent.n_step=3",
                               "env.num_envs=2", "train.total_steps=400"), progress=False)
    assert result.updates > 0


def test_prioritized_frames_with_cnn_resume(tmp_path):
    overrides = ["env.id=toy_envs:Image-v0", "agent.net.torso=nature_cnn", "replay.prioritized=true",
                 "replay.save_with_checkpoint=true", "agent.n_step=3", "train.total_steps=200",
                 "train.learning_starts=64", "train.eval_episodes=1", "replay.capacity=1000"]
    from rlkit.run import resume

    first = train(fast_config(tmp_path / "run", *overrides), progress=False)
    second = resume(tmp_path / "run", ["train.total_steps=260"], progress=False)
    assert second.updates == first.updates + 15  # the buffer and its priorities came back: no warm-up
