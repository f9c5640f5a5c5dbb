"""The Q* agent: cost-to-go targets, learning, greedy solving, state round trips, checkpoints, search with it."""

import io

import numpy as np
import pytest
import torch

from rlkit.agents.qstar import QStarAgent, build_puzzle, load_qstar_agent
from rlkit.training.checkpoint import save_checkpoint
from rlkit.config import config_to_dict, load_config
from rlkit.errors import CheckpointError, ConfigError
from rlkit.search import astar, qstar

from helpers import small_qstar_agent

make_agent = small_qstar_agent


def train(agent, updates, target_period, seed=0):
    rng = np.random.default_rng(seed)
    for step in range(1, updates + 1):
        agent.update(agent.training_states(rng))
        if step % target_period == 0:
            agent.update_target()


def test_td_target_charges_goal_children_their_cost_only():
    agent, _ = make_agent()
    puzzle = agent.puzzle
    with torch.no_grad():
        for parameter in agent.target.parameters():
            parameter.add_(1.0)  # a target net far from zero, so a bootstrapped value would show
    one_away = puzzle.next_states(puzzle.goal_states(1), np.array([0]))[0]  # blank moved up; Down solves it
    target = agent.td_target(one_away)
    assert target.shape == (1, 4) and target[0, 1].item() == 1.0
    assert (target[0, [0, 2, 3]] != 1.0).all()


def test_loss_goes_down_on_the_8_puzzle():
    agent, _ = make_agent()
    rng = np.random.default_rng(0)
    fixed = agent.training_states(rng)

    def loss_on_fixed():
        target = agent.td_target(fixed)
        with torch.no_grad():
            return torch.nn.functional.mse_loss(agent.q_values(fixed), target).item()

    before = loss_on_fixed()
    losses = [agent.update(agent.training_states(rng))["loss"].item() for _ in range(200)]  # target held fixed
    assert loss_on_fixed() < 0.5 * before
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])


def test_sampled_action_targets_match_full_targets_and_learn():
    agent, _ = make_agent("puzzle.target_actions=2")
    puzzle, rng = agent.puzzle, np.random.default_rng(3)
    states = agent.training_states(rng)
    actions = rng.integers(4, size=(len(states), 2))
    full = agent.td_target(states)
    assert torch.equal(agent.td_target(states, actions), full.gather(1, torch.as_tensor(actions)))
    fixed = puzzle.scramble(100, 4, rng)
    before = torch.nn.functional.mse_loss(agent.q_values(fixed), agent.td_target(fixed)).item()
    train(agent, 200, target_period=10_000)  # target held fixed: 2 of 4 actions per state still fit all 4
    after = torch.nn.functional.mse_loss(agent.q_values(fixed), agent.td_target(fixed)).item()
    assert after < 0.5 * before


def test_solve_rate_at_depth_one_reaches_one_on_lights_out():
    agent, _ = make_agent(name="lights_out", size=3, max_scramble=4)
    rng = np.random.default_rng(1)
    before = agent.solve_rate([1], 100, rng)[1]
    train(agent, 300, target_period=25)
    rates = agent.solve_rate([1, 2], 100, rng)
    assert rates[1] >= 0.97 and rates[1] > before
    assert set(rates) == {1, 2}


def test_inference_is_eval_mode_and_shapes():
    agent, _ = make_agent()
    puzzle = agent.puzzle
    states = puzzle.scramble(5, 4, np.random.default_rng(0))
    q = agent.q_values(states)
    assert q.shape == (5, 4) and not agent.online.training
    assert np.allclose(agent.q_values(states[:1]).numpy(), q[:1].numpy(), atol=1e-5)  # batch-1 == batched
    assert agent.q_numpy(states).shape == (5, 4) and agent.heuristic(states).shape == (5,)
    assert agent.heuristic(puzzle.goal_states(2)).tolist() == [0.0, 0.0]
    obs = puzzle.encode(states).numpy()
    actions = agent.act(obs)
    assert actions.shape == (5,) and actions.tolist() == q.argmin(1).tolist()
    assert isinstance(agent.act(obs[0]), int)
    assert set(agent.act(np.repeat(obs[:1], 200, 0), epsilon=1.0).tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros((2, 3), np.float32))


def test_state_dict_round_trip_is_weights_only_safe():
    agent, config = make_agent()
    train(agent, 20, target_period=10)
    buffer = io.BytesIO()
    torch.save(agent.state_dict(), buffer)
    buffer.seek(0)
    restored = QStarAgent(config, build_puzzle(config.puzzle), device="cpu", seed=123)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    states = agent.puzzle.scramble(8, 5, np.random.default_rng(2))
    assert torch.equal(agent.q_values(states), restored.q_values(states))
    assert torch.equal(agent.td_target(states), restored.td_target(states))
    assert agent.rng.random() == restored.rng.random()


def test_load_qstar_agent_from_checkpoint(tmp_path):
    agent, config = make_agent()
    train(agent, 10, target_period=5)
    path = save_checkpoint(tmp_path / "q.pt", {
        "config": config_to_dict(config), "agent": agent.state_dict(),
        "spaces": {"obs_shape": [agent.puzzle.encoded_size], "obs_dtype": "float32", "num_actions": 4},
    })
    loaded = load_qstar_agent(path)
    states = agent.puzzle.scramble(4, 5, np.random.default_rng(0))
    assert torch.equal(loaded.q_values(states), agent.q_values(states))
    plain = load_config(None, [])
    bad = save_checkpoint(tmp_path / "dqn.pt", {"config": config_to_dict(plain), "agent": {}, "spaces": {}})
    with pytest.raises(CheckpointError, match="puzzle"):
        load_qstar_agent(bad)


def test_build_puzzle_and_config_errors():
    assert build_puzzle(load_config(None, ["puzzle.name=cube3", "puzzle.meta_actions=true"]).puzzle).num_actions \
        == 1884
    with pytest.raises(ConfigError, match="puzzle.name"):
        build_puzzle(load_config(None, []).puzzle)
    with pytest.raises(ConfigError, match="scalar"):
        make_agent("agent.critic.type=c51")


def test_trained_agent_drives_astar_and_qstar():
    agent, _ = make_agent(max_scramble=8)
    train(agent, 300, target_period=30)
    rng = np.random.default_rng(5)
    for start in agent.puzzle.scramble(5, 8, rng):
        for result in (astar(agent.puzzle, start, agent.heuristic, batch_size=8, max_nodes=20_000),
                       qstar(agent.puzzle, start, agent.q_numpy, batch_size=8, max_nodes=20_000)):
            assert result.solved and result.cost <= 8
