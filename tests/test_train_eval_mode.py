"""The DQN agent acts and computes targets in eval mode and trains only in the gradient step, so BatchNorm torsos
(agent.net.torso=resmlp) act on one observation, give batch-independent Q-values and follow into the target net."""

import numpy as np
import torch

from rlkit.agents.registry import build_agent
from rlkit.cli import main
from rlkit.config import load_config
from rlkit.replay import Batch

from helpers import CARTPOLE, fast_overrides


def _agent(*overrides):
    config = load_config(None, ["agent.net.torso=resmlp", "agent.net.hidden=[16]", "agent.net.blocks=1",
                                "agent.name=double_dqn", *overrides])
    return build_agent(config, (4,), "float32", 3, torch.device("cpu"))


def _batch(rng, size=32):
    return Batch(obs=rng.normal(size=(size, 4)).astype(np.float32), actions=rng.integers(3, size=size),
                 returns=rng.normal(size=size).astype(np.float32), discounts=np.full(size, 0.9, np.float32),
                 next_obs=rng.normal(size=(size, 4)).astype(np.float32), indices=np.arange(size),
                 weights=np.ones(size, np.float32))


def test_batchnorm_agent_acts_on_one_observation_and_q_values_do_not_depend_on_the_batch():
    agent = _agent()
    rng = np.random.default_rng(0)
    for _ in range(5):  # some training, so the running statistics are not the initial ones
        agent.update(_batch(rng))
    fixed = rng.normal(size=(4, 4)).astype(np.float32)
    others = rng.normal(loc=5.0, scale=3.0, size=(60, 4)).astype(np.float32)
    alone = agent.q_values(fixed)
    mixed = agent.q_values(np.concatenate([fixed, others]))[:4]
    assert torch.allclose(alone, mixed, atol=1e-5)
    assert isinstance(agent.act(fixed[0], 0.0), int)  # one observation: no "more than 1 value per channel"
    assert int(agent.act(fixed[0], 0.0)) == int(alone[0].argmax())


def test_acting_and_targets_leave_batchnorm_statistics_alone_and_the_target_follows():
    agent = _agent()
    rng = np.random.default_rng(1)
    agent.update(_batch(rng))
    running = {name: buffer.clone() for name, buffer in agent.online.named_buffers()}
    agent.act(rng.normal(size=(64, 4)).astype(np.float32), 0.0)
    agent.td_target(torch.randn(64, 4), torch.zeros(64), torch.ones(64))
    agent.priorities(_batch(rng))
    for name, buffer in agent.online.named_buffers():
        assert torch.equal(buffer, running[name]), name
    agent.update(_batch(rng))  # only the gradient step moves the statistics
    assert any(not torch.equal(buffer, running[name]) for name, buffer in agent.online.named_buffers()
               if "running_mean" in name)
    agent.update_target()
    for (name, online), target in zip(agent.online.named_buffers(), agent.target.buffers()):
        assert torch.equal(online, target), name
    assert not agent.target.training


def test_cli_trains_and_evaluates_a_resmlp_cartpole_agent(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(CARTPOLE), *fast_overrides(run), "agent.net.torso=resmlp", "agent.net.blocks=1",
                 "--no-progress"]) == 0
    assert main(["eval", str(run / "checkpoints" / "final.pt"), "--episodes", "2"]) == 0
    assert "Traceback" not in capsys.readouterr().err
