"""PQN: lambda-returns on a hand example with termination and truncation, the preset's checks, its loop's
checkpoints and resume, and (slow) the CartPole preset learning."""

import numpy as np
import pytest
import torch

from rlkit.agents.pqn import PQNAgent, lambda_returns
from rlkit.agents.registry import build_agent, resolve_preset
from rlkit.config import ConfigError, load_config
from rlkit.nets import MLP

from helpers import ROOT

PQN = ROOT / "configs" / "cartpole_pqn.yaml"
TINY = ["env.num_envs=4", "pqn.rollout_steps=16", "pqn.minibatches=4", "pqn.epochs=1", "agent.net.hidden=[16]",
        "train.total_steps=640", "train.eval_every=320", "train.eval_episodes=1", "train.checkpoint_every=320",
        "train.log_every=64", "threads=1"]


def test_lambda_returns_hand_example():
    # gamma 0.5, lambda 0.5. env 0 runs on: G2 = 1 + .5*30 = 16; G1 = 1 + .5*(.5*20 + .5*16) = 10;
    # G0 = 1 + .5*(.5*10 + .5*10) = 6. env 1 terminates at t=0 (G0 = r = 1) and is truncated at t=1, which
    # bootstraps from its own final observation without reaching into the next episode: G1 = 2 + .5*20 = 12.
    rewards = np.array([[1, 1], [1, 2], [1, 3]], np.float32)
    terminated = np.array([[False, True], [False, False], [False, False]])
    truncated = np.array([[False, False], [False, True], [False, False]])
    values = np.array([[10, 10], [20, 20], [30, 30]], np.float32)
    returns = lambda_returns(rewards, terminated, truncated, values, gamma=0.5, lam=0.5)
    assert returns.tolist() == [[6.0, 1.0], [10.0, 12.0], [16.0, 18.0]]
    # lambda 0: one-step targets r + gamma v (0 after termination); lambda 1: discounted sums bootstrapped at the end
    one_step = lambda_returns(rewards, terminated, truncated, values, gamma=0.5, lam=0.0)
    assert one_step[:, 0].tolist() == [6.0, 11.0, 16.0] and one_step[0, 1] == 1.0
    monte_carlo = lambda_returns(rewards, terminated, truncated, values, gamma=0.5, lam=1.0)
    assert monte_carlo[:, 0].tolist() == [5.5, 9.0, 16.0]


def test_pqn_preset_defaults_and_refusals():
    config = resolve_preset(load_config(None, ["agent.name=pqn"]))
    assert config.env.num_envs == 128 and config.agent.net.norm == "layer"
    assert resolve_preset(load_config(PQN)).env.num_envs == 32  # a config's own value wins over the default
    for override in ("agent.double=true", "replay.prioritized=true", "agent.n_step=3", "agent.munchausen={}"):
        with pytest.raises(ConfigError, match="agent 'pqn' does not use it"):
            resolve_preset(load_config(None, ["agent.name=pqn", override]))
    with pytest.raises(ConfigError, match="critic.type"):
        build_agent(load_config(None, ["agent.name=pqn", "agent.critic.type=qr"]), (4,), "float32", 2,
                    torch.device("cpu"))
    with pytest.raises(ConfigError, match="pqn.minibatches"):
        resolve_preset(load_config(None, ["agent.name=pqn", "env.num_envs=2", "pqn.rollout_steps=4",
                                          "pqn.minibatches=16"]))
    # the check counts the preset's 128 envs, not the unresolved default of 1: 64 x 128 transitions hold 100 batches
    assert resolve_preset(load_config(None, ["agent.name=pqn", "pqn.minibatches=100"])).pqn.minibatches == 100


def test_pqn_agent_has_no_target_network_and_layer_norm():
    config = load_config(None, ["agent.name=pqn", "agent.net.hidden=[8]", "agent.lr=0.01"])
    agent = build_agent(config, (4,), "float32", 2, torch.device("cpu"))
    assert isinstance(agent, PQNAgent) and agent.target is agent.online
    assert isinstance(agent.online.torso, MLP)
    assert any(isinstance(m, torch.nn.LayerNorm) for m in agent.online.modules())
    assert "target" not in agent.state_dict()
    # learning moves Q(s, a) towards the given return
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    actions, returns = np.zeros(64, np.int64), np.full(64, 3.0, np.float32)
    for _ in range(200):
        agent.learn(obs, actions, returns)
    assert float(agent.q_values(obs)[:, 0].mean()) == pytest.approx(3.0, abs=0.3)
    with pytest.raises(TypeError, match="rollouts"):
        agent.update(None)


def test_pqn_loop_checkpoints_and_resumes(tmp_path):
    from rlkit.run import resume, train
    from rlkit.training.checkpoint import load_checkpoint
    from rlkit.training.evaluate import load_agent

    run_dir = tmp_path / "run"
    result = train(load_config(PQN, [*TINY, f"run_dir={run_dir}", "train.total_steps=320"]), progress=False)
    assert result.steps == 320 and result.updates == 5 * 1 * 4  # 5 phases of 4 x 16 steps, 1 epoch of 4
    resumed = resume(run_dir, ["train.total_steps=640"], progress=False)
    assert resumed.start_step == 320 and resumed.steps == 640 and resumed.updates == 40
    payload = load_checkpoint(run_dir / "checkpoints" / "final.pt")
    assert "pqn_rng" in payload["trainer"] and payload["trainer"]["step"] == 640
    agent = load_agent(run_dir / "checkpoints" / "final.pt")
    assert agent.act(np.zeros(4, np.float32)) in (0, 1)


def test_pqn_with_a_histogram_critic_runs(tmp_path):
    from rlkit.run import train

    config = load_config(PQN, [*TINY, f"run_dir={tmp_path / 'run'}", "train.total_steps=128",
                               "agent.critic.type=hl_gauss", "agent.critic.bins=11", "agent.critic.v_min=0",
                               "agent.critic.v_max=10"])
    assert train(config, progress=False).updates == 8


@pytest.mark.slow
def test_cartpole_pqn_preset_learns(tmp_path):
    """configs/cartpole_pqn.yaml reaches a greedy return of 475 (seed 0: 500 at 81,920 env steps, ~40 s)."""
    from rlkit.run import train

    config = load_config(PQN, [f"run_dir={tmp_path / 'run'}", "train.target_return=475", "threads=1"])
    result = train(config, progress=False)
    assert result.stopped_early and result.eval_mean >= 475, result
