"""A* and Q* against exact 8-puzzle distances (breadth-first search over all 181,440 states)."""

import numpy as np
import pytest

from rlkit.envs.puzzles.cube3 import Cube3
from rlkit.envs.puzzles.sliding_tile import SlidingTile
from rlkit.search import SearchError, astar, beam_search, greedy_search, qstar, validate_path
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


@pytest.mark.parametrize("ranked_edges", [1, 3])
def test_qstar_refills_ranked_edges_and_stays_optimal(exact, ranked_edges):
    for start in instances(exact, 10, 6, 10, seed=ranked_edges):
        optimal = exact.h(start[None])[0]
        for q_fn in (exact.q, zero_q):  # batch 1 keeps K = max(ranked_edges, 2) below the 4 actions: refills
            result = qstar(PUZZLE, start, q_fn, batch_size=1, ranked_edges=ranked_edges)
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
    lights = __import__("rlkit.envs.puzzles.lights_out", fromlist=["LightsOut"]).LightsOut(2)
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


def _plain_qstar_trace(puzzle, start, q_fn, batch_size, weight, max_iterations):
    """Reference batched Q*: every edge of every new node goes on the heap as (priority, node, rank in the node's
    stable Q order); returns the popped (parents, actions) of each iteration."""
    import heapq
    import math

    from rlkit.search.common import goal_reached
    from rlkit.search.tree import SearchTree

    tree, heap, order, trace, best = SearchTree(puzzle, start), [], {}, [], math.inf

    def push(nodes):
        q = np.asarray(q_fn(tree.states[nodes]), np.float64)
        for node, row in zip(nodes.tolist(), q):
            order[node] = np.argsort(row, kind="stable")
            for rank, action in enumerate(order[node].tolist()):
                heapq.heappush(heap, (weight * float(tree.g[node]) + float(row[action]), node, rank))

    push(np.zeros(1, np.int64))
    for _ in range(max_iterations):
        parents, actions = [], []
        while heap and len(parents) < batch_size:
            priority, node, rank = heap[0]
            if goal_reached(weight, best, priority):
                break
            heapq.heappop(heap)
            if tree.is_stale(node):
                continue
            parents.append(node), actions.append(int(order[node][rank]))
        if not parents:
            break
        parents, actions = np.asarray(parents, np.int64), np.asarray(actions, np.int64)
        trace.append((parents, actions))
        children, costs = puzzle.next_states(tree.states[parents], actions)
        g = tree.g[parents] + costs
        goal = puzzle.is_goal(children)
        ids = tree.add(children, g, parents, actions)
        found = np.flatnonzero((ids >= 0) & goal)
        if len(found):
            best = min(best, float(g[found].min()))
        fresh = ids[(ids >= 0) & ~goal]
        if len(fresh):
            push(fresh)
    return trace


def _lights_out_q(puzzle):
    def q(states):  # deterministic, inconsistent: lit cells of the child plus noise per (state, action)
        children, costs = puzzle.expand(states)
        lit = children.reshape(len(states), puzzle.num_actions, -1).sum(-1)
        keys = puzzle.hash(states).astype(np.uint64)[:, None]
        actions = np.arange(puzzle.num_actions, dtype=np.uint64)
        noise = (keys * np.uint64(2654435761) + actions * np.uint64(40503)) % np.uint64(997)
        return costs + lit / 3.0 + noise.astype(np.float64) / 997
    return q


def _noisy_8_puzzle_q(exact):
    def q(states):
        keys = PUZZLE.hash(states).astype(np.uint64)[:, None]
        noise = (keys * np.uint64(2654435761) + np.arange(4, dtype=np.uint64) * np.uint64(40503)) % np.uint64(997)
        return exact.q(states) + noise.astype(np.float64) / 997 * 3.0
    return q


@pytest.mark.parametrize("case", ["8-puzzle B=8 K=2", "8-puzzle B=3 K=1", "8-puzzle B=1 K=1",
                                  "lights-out-4 B=3 K=2", "lights-out-4 B=5 K=4"])
def test_lazy_qstar_pops_what_plain_qstar_pops(exact, case):
    """Differential: lazy ranked edges with refills pop the same edges, iteration by iteration, as a Q* that pushes
    every edge (noisy, inconsistent Q, so refills, duplicates and reopenings happen)."""
    name, batch, ranked = case.split()
    batch_size, ranked = int(batch[2:]), int(ranked[2:])
    if name == "8-puzzle":
        puzzle, q_fn = PUZZLE, _noisy_8_puzzle_q(exact)
        starts = instances(exact, 10, 12, 22, seed=5)
    else:
        from rlkit.envs.puzzles.lights_out import LightsOut

        puzzle = LightsOut(4)
        q_fn = _lights_out_q(puzzle)
        starts = puzzle.scramble(10, 8, np.random.default_rng(3))
    seen, repeats = set(), [0]

    def counting_q(states):  # a state scored twice was refilled (its Q recomputed)
        for key in puzzle.hash(states).tolist():
            repeats[0] += key in seen
            seen.add(key)
        return q_fn(states)

    for start in starts:
        lazy = []
        qstar(puzzle, start, counting_q, batch_size=batch_size, weight=0.8, ranked_edges=ranked,
              max_iterations=60, trace=lazy)
        plain = _plain_qstar_trace(puzzle, start, q_fn, batch_size, 0.8, 60)
        assert len(lazy) == len(plain)
        for iteration, ((lazy_p, lazy_a), (plain_p, plain_a)) in enumerate(zip(lazy, plain)):
            assert lazy_p.tolist() == plain_p.tolist() and lazy_a.tolist() == plain_a.tolist(), iteration
    if min(ranked, puzzle.num_actions) < puzzle.num_actions and max(ranked, 2 * batch_size) < puzzle.num_actions:
        assert repeats[0] > 0  # the case exercised refills


def test_search_tree_keeps_only_the_cheapest_copy_within_a_batch():
    from rlkit.search.tree import SearchTree

    tree = SearchTree(PUZZLE, PUZZLE.goal_states(1)[0])
    state = PUZZLE.scramble(1, 5, np.random.default_rng(0))
    other = PUZZLE.scramble(1, 9, np.random.default_rng(1))
    batch = np.concatenate([state, other, state, state])
    ids = tree.add(batch, np.array([5.0, 4.0, 3.0, 3.0]), np.zeros(4, np.int64), np.zeros(4, np.int64))
    assert (ids >= 0).tolist() == [False, True, True, False]  # the g = 3 copy, once; never the g = 5 one
    assert tree.reopened == 0 and tree.closed_hits == 2 and tree.size == 3


# -- beam and greedy search ------------------------------------------------------------------------------------------


def test_greedy_search_with_exact_q_follows_a_shortest_path(exact):
    for start in instances(exact, 10, 5, 20, seed=11):
        result = greedy_search(PUZZLE, start, exact.q)
        assert result.solved and result.stop_reason == "found"
        assert result.cost == exact.h(start[None])[0]  # each argmin step is one move closer
        assert result.network_calls == result.cost  # one call per layer, the last layer's goal found on generation


def test_wide_beam_with_uninformed_q_is_breadth_first(exact):
    # With Q = 0 and a beam wider than any layer, every new state of each layer is kept: the first goal found
    # is at the smallest depth, and the duplicate checks must keep the layers disjoint for that to hold.
    for start in instances(exact, 5, 3, 9, seed=12):
        result = beam_search(PUZZLE, start, zero_q, beam_width=100_000)
        assert result.solved and result.cost == exact.h(start[None])[0]


def test_beam_width_trades_layers_for_solves(exact):
    starts = instances(exact, 10, 18, 22, seed=13)
    rng = np.random.default_rng(0)

    def noisy_q(states):
        return exact.q(states) + rng.normal(0, 1.5, (len(states), PUZZLE.num_actions))

    narrow = [beam_search(PUZZLE, s, noisy_q, beam_width=1, max_depth=60).solved for s in starts]
    wide = [beam_search(PUZZLE, s, noisy_q, beam_width=200, max_depth=60) for s in starts]
    assert all(r.solved for r in wide) and sum(narrow) < len(starts)
    for start, result in zip(starts, wide):
        validate_path(PUZZLE, start, result.actions, result.cost)


def test_beam_budgets_goal_start_and_bad_q():
    start = PUZZLE.scramble(1, 20, np.random.default_rng(3))[0]
    depth_cut = beam_search(PUZZLE, start, zero_q, beam_width=2, max_depth=3)
    assert not depth_cut.solved and depth_cut.stop_reason == "max_depth" and depth_cut.iterations == 3
    assert beam_search(PUZZLE, start, zero_q, max_seconds=0.0).stop_reason == "max_seconds"
    assert beam_search(PUZZLE, start, zero_q, max_nodes=10).stop_reason == "max_nodes"
    at_goal = beam_search(PUZZLE, PUZZLE.goal, zero_q)
    assert at_goal.solved and at_goal.cost == 0 and at_goal.actions == []
    with pytest.raises(ValueError, match="q_fn must return shape"):
        beam_search(PUZZLE, start, lambda s: np.zeros((len(s), 3)))
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(PUZZLE, start, zero_q, beam_width=0)


def test_beam_forgets_old_layers_beyond_max_seen(exact):
    start = instances(exact, 1, 12, 12, seed=14)[0]
    bounded = beam_search(PUZZLE, start, exact.q, beam_width=50, max_seen=120)
    assert bounded.solved and bounded.extra["seen"] <= 120 + 50 * PUZZLE.num_actions


# -- memory-bounded closed table -----------------------------------------------------------------------------------
@pytest.mark.parametrize("search, score", [(astar, "h"), (qstar, "q")])
def test_memory_bound_is_honoured_and_bytes_per_node_reported(exact, search, score):
    start = instances(exact, 1, 20, 22, seed=5)[0]
    fn = zero_h if score == "h" else (lambda states: np.zeros((len(states), 4)))  # uninformed: the tree grows
    free = search(PUZZLE, start, fn, batch_size=50, max_nodes=20_000)
    per_node = free.extra["bytes_per_node"]
    assert 50 < per_node < 2000  # a state row, g, parent, action, a key, a table slot, an open entry or two
    bound = 0.5  # MB: a few thousand nodes' worth
    bounded = search(PUZZLE, start, fn, batch_size=50, max_memory_mb=bound)
    assert not bounded.solved and bounded.stop_reason == "max_memory"
    # the bound stops it where the unbounded search (which goes on to 20,000 nodes) was still growing
    assert bounded.nodes_generated < free.nodes_generated
    assert bounded.nodes_generated * 50 < bound * 2**20 + 200 * 2000  # not far past: checked before each batch
