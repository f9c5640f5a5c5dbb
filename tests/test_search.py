"""A* and Q* against exact 8-puzzle distances (breadth-first search over all 181,440 states)."""

import numpy as np
import pytest

from rlkit.envs.cube3 import Cube3
from rlkit.envs.sliding_tile import SlidingTile
from rlkit.search import SearchError, astar, qstar, validate_path
from rlkit.search.qstar import EdgeRanks

PUZZLE = SlidingTile(3)


class ExactDistances:
    """Vectorised BFS from the goal with the puzzle's own expand/hash; h*(states) by binary search on the keys."""

    def __init__(self, puzzle):
        self.puzzle = puzzle
        frontier = puzzle.goal_states(1)
        seen = puzzle.hash(frontier)
        keys, depths, states = [seen], [np.zeros(1, np.int64)], [frontier]
        depth = 0
        while len(frontier):
            depth += 1
            children, _ = puzzle.expand(frontier)
            child_keys, first = np.unique(puzzle.hash(children), return_index=True)
            new = ~np.isin(child_keys, seen, assume_unique=True)
            frontier, new_keys = children[first[new]], child_keys[new]
            seen = np.union1d(seen, new_keys)
            keys.append(new_keys), depths.append(np.full(len(new_keys), depth)), states.append(frontier)
        keys, depths, self.states = np.concatenate(keys), np.concatenate(depths), np.concatenate(states)
        order = np.argsort(keys)
        self.keys, self.depths, self.states = keys[order], depths[order], self.states[order]

    def h(self, states):
        """(N, 9) -> (N,) exact distances."""
        index = np.searchsorted(self.keys, self.puzzle.hash(states))
        assert (self.keys[index] == self.puzzle.hash(states)).all()
        return self.depths[index].astype(np.float64)

    def q(self, states):
        """Exact Q = c(s, a) + h*(child). (N, 9) -> (N, 4)."""
        children, costs = self.puzzle.expand(states)
        return costs + self.h(children).reshape(costs.shape)


@pytest.fixture(scope="module")
def exact():
    return ExactDistances(PUZZLE)


def instances(exact, count, low, high, seed):
    """``count`` seeded random states whose exact distance is in [low, high]."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero((exact.depths >= low) & (exact.depths <= high))
    return exact.states[rng.choice(pool, size=count, replace=False)]


def zero_h(states):
    return np.zeros(len(states))


def zero_q(states):
    return np.zeros((len(states), PUZZLE.num_actions))


def test_bfs_covers_the_8_puzzle(exact):
    assert len(exact.keys) == 181_440 and exact.depths.max() == 31
    assert np.bincount(exact.depths)[:4].tolist() == [1, 2, 4, 8]


@pytest.mark.parametrize("batch_size", [1, 16])
def test_exact_heuristic_gives_shortest_paths(exact, batch_size):
    for start in instances(exact, 20, 10, 31, seed=batch_size):
        optimal = exact.h(start[None])[0]
        for result in (astar(PUZZLE, start, exact.h, batch_size=batch_size),
                       qstar(PUZZLE, start, exact.q, batch_size=batch_size)):
            assert result.solved and result.stop_reason == "proved"
            assert result.cost == optimal == len(result.actions)
            validate_path(PUZZLE, start, result.actions, result.cost)
            assert result.states.shape == (len(result.actions) + 1, 9)
    # with a perfect Q, Q* generates one child per popped edge and pops almost nothing off the optimal path
    assert result.nodes_generated <= 1 + batch_size * (optimal + 2)


def test_zero_heuristic_is_uniform_cost_search(exact):
    hits = 0
    for start in instances(exact, 20, 4, 12, seed=7):
        optimal = exact.h(start[None])[0]
        a = astar(PUZZLE, start, zero_h, batch_size=8)
        q = qstar(PUZZLE, start, zero_q, batch_size=8)
        assert a.solved and q.solved and a.cost == q.cost == optimal
        assert a.network_calls == a.iterations + 1 and q.network_calls <= q.iterations + 1
        hits += a.closed_hits + q.closed_hits
    assert hits > 0  # duplicates (and illegal no-op moves) were met and dropped


@pytest.mark.parametrize("ranked_edges", [1, 2])
def test_qstar_refills_ranked_edges_and_stays_optimal(exact, ranked_edges):
    for start in instances(exact, 10, 6, 10, seed=ranked_edges):
        optimal = exact.h(start[None])[0]
        for q_fn in (exact.q, zero_q):
            result = qstar(PUZZLE, start, q_fn, batch_size=4, ranked_edges=ranked_edges)
            assert result.solved and result.cost == optimal


def test_inconsistent_noisy_heuristic_still_gives_valid_paths(exact):
    rng = np.random.default_rng(0)
    noisy_h = lambda states: exact.h(states) * rng.uniform(0.0, 1.5, len(states))  # noqa: E731
    noisy_q = lambda states: exact.q(states) + rng.normal(0.0, 3.0, (len(states), 4))  # noqa: E731
    reopened = 0
    for start in instances(exact, 10, 10, 22, seed=3):
        optimal = exact.h(start[None])[0]
        for result in (astar(PUZZLE, start, noisy_h, batch_size=4), qstar(PUZZLE, start, noisy_q, batch_size=4)):
            assert result.solved and result.cost >= optimal
            validate_path(PUZZLE, start, result.actions, result.cost)
            reopened += result.reopened
    assert reopened > 0  # an inconsistent heuristic finds better paths to known states: they are reopened


def test_weighted_search_and_budgets(exact):
    start = instances(exact, 1, 20, 22, seed=5)[0]
    optimal = exact.h(start[None])[0]
    greedy = astar(PUZZLE, start, lambda s: 3 * exact.h(s), batch_size=4, weight=0.5)
    assert greedy.solved and greedy.cost >= optimal
    tiny = qstar(PUZZLE, start, zero_q, batch_size=1, max_nodes=50)
    assert not tiny.solved and tiny.stop_reason == "max_nodes" and tiny.actions == []
    assert astar(PUZZLE, start, zero_h, max_iterations=3).stop_reason == "max_iterations"
    done = astar(PUZZLE, PUZZLE.goal_states(1)[0], zero_h)
    assert done.solved and done.cost == 0 and done.actions == []
    with pytest.raises(ValueError, match="batch_size"):
        qstar(PUZZLE, start, zero_q, batch_size=0)


def test_unsolvable_start_exhausts_the_open_list():
    lights = __import__("rlkit.envs.lights_out", fromlist=["LightsOut"]).LightsOut(2)
    # 2x2 Lights Out: all 16 boards are solvable, so use a fake goal nobody reaches
    lights.goal = np.full(4, 2, dtype=np.uint8)
    result = astar(lights, np.zeros(4, np.uint8), lambda s: np.zeros(len(s)), batch_size=4)
    assert not result.solved and result.stop_reason == "exhausted" and result.nodes_generated == 1 + 16 * 4


def test_validate_path_rejects_wrong_paths():
    start = PUZZLE.next_states(PUZZLE.goal_states(1), np.array([0]))[0][0]  # blank moved up
    validate_path(PUZZLE, start, [1], 1.0)
    with pytest.raises(SearchError, match="does not reach"):
        validate_path(PUZZLE, start, [0], 1.0)
    with pytest.raises(SearchError, match="costs"):
        validate_path(PUZZLE, start, [1], 2.0)


def test_edge_ranks_visit_every_action_once_in_q_order():
    ranks = EdgeRanks(num_actions=7, kept=3)
    q = np.array([[5.0, 1.0, 4.0, 1.0, 0.5, 9.0, 2.0]])
    ranks.store(np.array([2]), q)
    first = [ranks.action(2, r) for r in range(3)]
    assert first == [4, 1, 3] and ranks.q(2, 3) is None
    ranks.refill(np.array([2]), q + 1e-7)  # a recomputation may differ in the last bits
    order = first + [ranks.action(2, r) for r in range(3, 7)]
    assert sorted(order) == list(range(7)) and order[3:] == [6, 2, 0, 5]
    assert [ranks.q(2, r) for r in range(7)] == sorted(ranks.q(2, r) for r in range(7))


def test_qstar_with_cube_meta_actions():
    meta = Cube3(meta_actions=True)
    start = Cube3().apply_moves(meta.goal_states(1), "R U' F")[0]
    cost_only = lambda states: np.broadcast_to(meta.action_costs, (len(states), meta.num_actions))  # noqa: E731
    result = qstar(meta, start, cost_only, batch_size=64)
    assert result.solved and result.cost == 3 and len(result.actions) == 1  # one meta-action: F' U R'
    assert meta.action_names[result.actions[0]] == "F' U R'"
