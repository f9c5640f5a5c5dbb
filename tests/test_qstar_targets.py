"""Cost-to-go targets that need no child evaluations: walks with their lengths, walk bounds, mixed schedules,
and the agent's precision choice."""

import numpy as np
import pytest
import torch

from rlkit.agents import qstar as qstar_module
from rlkit.envs.puzzles.cube3 import Cube3
from rlkit.envs.puzzles.korf import korf100, korf_to_rlkit
from rlkit.envs.puzzles.lights_out import LightsOut
from rlkit.envs.puzzles.protocol import Walks
from rlkit.envs.puzzles.sliding_tile import SlidingTile
from rlkit.errors import ConfigError

from helpers import small_qstar_agent


def make_agent(*overrides, name="sliding_tile", size=3, max_scramble=6):
    return small_qstar_agent("puzzle.batch_size=120", *overrides, name=name, size=size, max_scramble=max_scramble)[0]


@pytest.mark.parametrize("puzzle", [SlidingTile(3), Cube3(), LightsOut(3)], ids=lambda p: p.name)
def test_walks_replay_to_their_states_and_never_backtrack(puzzle):
    longest, walkers = 7, 5
    walks = puzzle.walks(walkers * longest, longest, np.random.default_rng(0))
    assert np.array_equal(np.sort(walks.lengths), np.repeat(np.arange(1, longest + 1), walkers))
    states = walks.states.reshape(walkers, longest, -1)  # walk-major: each walk's prefixes in order
    last = walks.last.reshape(walkers, longest)
    previous = puzzle.goal_states(walkers)
    for t in range(longest):
        moved, _ = puzzle.next_states(previous, last[:, t])
        assert np.array_equal(moved, states[:, t])  # each prefix is the previous one plus its last move
        if t:
            assert (last[:, t] != puzzle.inverse_actions[last[:, t - 1]]).all()
        previous = states[:, t]


def test_walk_lengths_bound_the_true_distance():
    from test_search import ExactDistances

    puzzle = SlidingTile(3)
    exact = ExactDistances(puzzle)
    walks = puzzle.walks(3000, 30, np.random.default_rng(1))
    assert (exact.h(walks.states) <= walks.lengths).all()
    backtracking = puzzle.walks(3000, 30, np.random.default_rng(1), non_backtracking=False)
    # undoing moves wastes walk steps: without them a walk of the same length ends farther away
    assert exact.h(walks.states).mean() > exact.h(backtracking.states).mean() + 2


def test_walk_target_by_hand_on_the_cube():
    agent = make_agent(name="cube3", max_scramble=2)
    cube = agent.puzzle
    u, r_inv = 0, 7  # U and R'
    one = cube.next_states(cube.goal_states(1), np.array([u]))[0]
    two = cube.next_states(one, np.array([r_inv]))[0]
    walks = Walks(np.concatenate([one, two]), np.array([1, 2]), np.array([u, r_inv]))
    target = agent.walk_target(walks).numpy()
    expected = np.array([[3.0] * 12, [4.0] * 12])
    expected[0, 1] = 1.0  # U' from a one-turn walk reaches the goal: cost 1, nothing after it
    expected[1, 6] = 2.0  # R undoes R': one turn to the one-turn state
    np.testing.assert_array_equal(target, expected)
    np.testing.assert_array_equal(agent.walk_target(walks, np.array([[1, 0], [6, 6]])).numpy(),
                                  [[1.0, 3.0], [2.0, 2.0]])


def test_walk_bounds_are_valid_upper_bounds_of_q_star():
    from test_search import ExactDistances

    agent = make_agent(max_scramble=20)
    exact = ExactDistances(agent.puzzle)
    walks = agent.puzzle.walks(2000, 20, np.random.default_rng(2))
    assert (exact.q(walks.states) <= agent.walk_target(walks).numpy() + 1e-6).all()


@pytest.mark.parametrize("size", [3, 4])
def test_lights_out_walks_press_distinct_cells_and_every_press_steps_back(size):
    from test_search import ExactDistances

    agent = make_agent("puzzle.targets=walk", name="lights_out", size=size, max_scramble=size * size)
    puzzle = agent.puzzle
    exact = ExactDistances(puzzle)
    walks = puzzle.walks(600, size * size, np.random.default_rng(3))
    assert (walks.back.sum(axis=1) == walks.lengths).all()  # k distinct cells pressed after k presses
    assert walks.back[np.arange(len(walks)), walks.last].all()
    q_star, target = exact.q(walks.states), agent.walk_target(walks).numpy()
    assert (q_star <= target + 1e-6).all()
    if size == 3:  # 3 x 3's toggles are independent over GF(2): k distinct presses are exactly k away
        assert np.array_equal(exact.h(walks.states), walks.lengths)
        np.testing.assert_array_equal(target, q_star)


def test_walk_target_steps_back_through_every_press_of_a_lights_out_walk():
    agent = make_agent(name="lights_out", size=3, max_scramble=2)
    puzzle = agent.puzzle
    one, _ = puzzle.next_states(puzzle.goal_states(1), np.array([0]))
    two, _ = puzzle.next_states(one, np.array([4]))
    back = np.zeros((1, 9), dtype=bool)
    back[0, [0, 4]] = True
    target = agent.walk_target(Walks(two, np.array([2]), np.array([4]), back)).numpy()
    expected = np.full((1, 9), 4.0)  # a press off the walk: 1 + at most 3
    expected[0, [0, 4]] = 2.0  # pressing either cell again leaves one press: 1 + 1, whichever came last
    np.testing.assert_array_equal(target, expected)
    only_last = agent.walk_target(Walks(two, np.array([2]), np.array([4]))).numpy()
    assert only_last[0, 0] == 4.0 and only_last[0, 4] == 2.0  # without ``back`` only the last move is known


@pytest.mark.parametrize("size", [3, 4])
def test_lights_out_optimal_presses_match_breadth_first_search(size):
    from test_search import ExactDistances

    puzzle = LightsOut(size)
    exact = ExactDistances(puzzle)  # every reachable board: 512 on 3 x 3, 4,096 on 4 x 4 (a 4-dim null space)
    np.testing.assert_array_equal(puzzle.optimal_presses(exact.states), exact.h(exact.states))
    boards = np.random.default_rng(0).integers(0, 2, size=(300, size * size), dtype=np.uint8)
    solvable = np.isin(puzzle.hash(boards), exact.keys)  # the boards breadth-first search reaches from the goal
    assert ((puzzle.optimal_presses(boards) >= 0) == solvable).all()
    assert [puzzle.solvable(board) for board in boards] == solvable.tolist()
    assert solvable.all() == (size == 3)  # 4 x 4: most random boards cannot be switched off


def test_seven_by_seven_walks_end_exactly_their_length_away():
    puzzle = LightsOut(7)
    walks = puzzle.walks(49 * 20, 49, np.random.default_rng(4))
    np.testing.assert_array_equal(puzzle.optimal_presses(walks.states), walks.lengths)


def test_lights_out_walks_longer_than_the_board_are_refused():
    with pytest.raises(ConfigError, match=r"puzzle.max_scramble<=9 or puzzle.non_backtracking=false"):
        make_agent("puzzle.targets=walk", name="lights_out", size=3, max_scramble=10)
    make_agent("puzzle.targets=walk", "puzzle.non_backtracking=false", name="lights_out", size=3, max_scramble=10)
    make_agent(name="lights_out", size=3, max_scramble=10)  # Bellman targets scramble, they do not walk


def test_mixed_targets_schedule_bellman_updates_and_cap_them_by_the_walk_bound(monkeypatch):
    agent = make_agent("puzzle.targets=mixed", "puzzle.bellman_every=3", "puzzle.bellman_batch_size=40")
    rng = np.random.default_rng(0)
    flags = [agent.update(agent.training_batch(rng)) for _ in range(6)]
    assert [f["bellman"] for f in flags] == [False, False, True, False, False, True]
    assert [f["states"] for f in flags] == [120, 120, 40, 120, 120, 40]

    # a Bellman target above the walk bound is cut down to it: with an absurd bootstrap the mixed update's
    # loss equals the pure walk update's on the same states and weights
    capped = make_agent("puzzle.targets=mixed", "puzzle.bellman_every=1")
    walk_only = make_agent("puzzle.targets=walk")
    monkeypatch.setattr(capped, "td_target", lambda states, actions=None: torch.full((len(states), 4), 1e6))
    batch = capped.training_batch(np.random.default_rng(5))
    assert capped.update(batch)["loss"].item() == pytest.approx(walk_only.update(batch)["loss"].item(), rel=1e-6)


def test_walk_targets_learn_the_8_puzzle():
    agent = make_agent("puzzle.targets=walk", "puzzle.batch_size=500", max_scramble=12)
    rng = np.random.default_rng(0)
    before = agent.solve_rate([4], 200, np.random.default_rng(9))[4]
    for _ in range(300):
        agent.update(agent.training_batch(rng))
    after = agent.solve_rate([4], 200, np.random.default_rng(9))[4]
    assert after >= 0.8 and after > before


def test_update_count_round_trips_through_the_state():
    agent = make_agent("puzzle.targets=mixed", "puzzle.bellman_every=2")
    rng = np.random.default_rng(0)
    for _ in range(3):
        agent.update(agent.training_batch(rng))
    restored = make_agent("puzzle.targets=mixed", "puzzle.bellman_every=2")
    restored.load_state_dict(agent.state_dict())
    assert restored.updates == 3
    batch = agent.training_batch(rng)
    assert agent.update(batch)["bellman"] and restored.update(batch)["bellman"]
    legacy = {key: value for key, value in agent.state_dict().items() if key != "updates"}
    restored.load_state_dict(legacy)  # a checkpoint from before the count starts from 0
    assert restored.updates == 0


def test_precision_is_bf16_only_on_bf16_hardware(monkeypatch):
    monkeypatch.setattr(qstar_module, "bf16_native", lambda device: False)
    assert make_agent().precision == "fp32"
    monkeypatch.setattr(qstar_module, "bf16_native", lambda device: True)
    agent = make_agent("puzzle.targets=mixed", "puzzle.bellman_every=1")
    assert agent.precision == "bf16"
    metrics = agent.update(agent.training_batch(np.random.default_rng(0)))  # emulated on this CPU, still correct
    assert np.isfinite(metrics["loss"].item())
    assert agent.q_numpy(agent.puzzle.goal_states(2)).dtype == np.float32
    assert make_agent("agent.precision=fp32").precision == "fp32"


def test_explicit_bf16_without_the_hardware_is_refused(monkeypatch):
    from rlkit.agents import update_paths

    monkeypatch.setattr(update_paths, "bf16_native", lambda device: False)
    with pytest.raises(ConfigError, match="agent.precision=bf16 needs bf16 hardware"):
        make_agent("agent.precision=bf16")


def test_korf_instances_map_onto_rlkit_goal_keeping_distances():
    states, optimal = korf100()
    puzzle = SlidingTile(4)
    assert states.shape == (100, 16) and optimal.mean() == pytest.approx(53.05)
    assert all(puzzle.solvable([int(v) for v in state]) for state in states)
    korf_goal = np.arange(16, dtype=np.uint8)
    assert np.array_equal(korf_to_rlkit(korf_goal), puzzle.goal)
    # the mapping is an involution that sends the children of a state to the children of its image
    for state in states[:5]:
        assert np.array_equal(korf_to_rlkit(korf_to_rlkit(state)), state)
        children, _ = puzzle.expand(state[None])
        korf_children, _ = puzzle.expand(korf_to_rlkit(state)[None])
        assert set(map(bytes, korf_to_rlkit(children))) == set(map(bytes, korf_children))
