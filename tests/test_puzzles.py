"""The puzzles: group properties, vectorised moves against naive references, exact hashing, scrambles, Gym envs."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401  (registers the rlkit/ ids)
from rlkit.envs.puzzles.cube3 import Cube3
from rlkit.envs.puzzles.lights_out import LightsOut
from rlkit.envs.puzzles.protocol import Puzzle, PuzzleStateError, pack_keys
from rlkit.envs.puzzles.sliding_tile import SlidingTile

PUZZLES = [SlidingTile(3), SlidingTile(4), SlidingTile(5), Cube3(), LightsOut(3), LightsOut(7)]


@pytest.mark.parametrize("puzzle", PUZZLES, ids=lambda p: p.name)
def test_protocol_shapes_and_expand(puzzle):
    assert isinstance(puzzle, Puzzle)
    rng = np.random.default_rng(0)
    states = puzzle.scramble(7, rng.integers(0, 20, size=7), rng)
    assert states.shape == (7, puzzle.state_size) and states.dtype == np.uint8
    encoded = puzzle.encode(states)
    assert encoded.shape == (7, puzzle.encoded_size) and str(encoded.dtype) == "torch.float32"
    children, costs = puzzle.expand(states)
    assert children.shape == (7 * puzzle.num_actions, puzzle.state_size) and costs.shape == (7, puzzle.num_actions)
    for action in range(puzzle.num_actions):
        moved, cost = puzzle.next_states(states, np.full(7, action))
        assert np.array_equal(children[action::puzzle.num_actions], moved)
        assert np.array_equal(costs[:, action], cost)
    assert len(puzzle.action_names) == puzzle.num_actions
    assert puzzle.is_goal(puzzle.goal_states(3)).all()


@pytest.mark.parametrize("puzzle", PUZZLES, ids=lambda p: p.name)
def test_hash_is_exact(puzzle):
    rng = np.random.default_rng(1)
    states = puzzle.scramble(300, rng.integers(0, 30, size=300), rng)
    keys = puzzle.hash(states).tolist()
    distinct = {row.tobytes() for row in states}
    assert len(set(keys)) == len(distinct)  # equal states share a key, different states never do
    assert puzzle.hash(states[:5]).tolist() == keys[:5]


def test_pack_keys_int64_and_bytes_widths():
    states = np.array([[15] * 16, [0] * 15 + [1]], dtype=np.uint8)
    keys = pack_keys(states, 4)  # 64 bits: still an exact int64
    assert keys.dtype == np.int64 and len(set(keys.tolist())) == 2
    wide = pack_keys(np.array([[1, 0, 0], [1, 0, 0], [0, 0, 1]], dtype=np.uint8), 30)
    assert wide.tolist()[0] == wide.tolist()[1] != wide.tolist()[2]


def test_scramble_per_state_lengths_and_zero():
    puzzle = SlidingTile(3)
    rng = np.random.default_rng(0)
    states = puzzle.scramble(4, np.array([0, 1, 0, 3]), rng)
    assert puzzle.is_goal(states).tolist() == [True, False, True, False]  # odd walks of legal moves change the parity
    with pytest.raises(ValueError, match="steps"):
        puzzle.scramble(2, -1, rng)


# -- sliding tile ---------------------------------------------------------------------------------------------------
def naive_tile_move(state, action, size):
    board = state.reshape(size, size).copy()
    (r,), (c,) = np.nonzero(board == 0)
    dr, dc = [(-1, 0), (1, 0), (0, -1), (0, 1)][action]
    if 0 <= r + dr < size and 0 <= c + dc < size:
        board[r, c], board[r + dr, c + dc] = board[r + dr, c + dc], 0
    return board.ravel()


@pytest.mark.parametrize("size", [3, 4, 5])
def test_sliding_tile_matches_naive_reference(size):
    puzzle = SlidingTile(size)
    rng = np.random.default_rng(size)
    states = puzzle.scramble(200, 100, rng)
    actions = rng.integers(4, size=200)
    moved, costs = puzzle.next_states(states, actions)
    expected = np.stack([naive_tile_move(s, a, size) for s, a in zip(states, actions)])
    assert np.array_equal(moved, expected) and (costs == 1).all()
    assert all(puzzle.solvable(s.tolist()) for s in states[:20])


def test_sliding_tile_illegal_move_is_a_costly_noop_and_parse():
    puzzle = SlidingTile(3)
    goal = puzzle.goal_states(1)  # blank bottom-right: Down and Right are illegal
    for action in (1, 3):
        moved, cost = puzzle.next_states(goal, np.array([action]))
        assert np.array_equal(moved, goal) and cost[0] == 1
    assert puzzle.parse_state("1 2 3 4 5 6 7 0 8").tolist() == [[1, 2, 3, 4, 5, 6, 7, 0, 8]]
    with pytest.raises(PuzzleStateError, match="unsolvable"):
        puzzle.parse_state("2 1 3 4 5 6 7 8 0")
    with pytest.raises(PuzzleStateError, match="exactly once"):
        puzzle.parse_state("1 1 3 4 5 6 7 8 0")


# -- cube -----------------------------------------------------------------------------------------------------------
def test_cube_quarter_turn_group_properties():
    cube = Cube3()
    identity = np.arange(54)
    centres = identity[4::9]
    for move in range(12):
        perm = cube.perms[move]
        power = identity
        for _ in range(4):
            power = power[perm]
        assert np.array_equal(power, identity)  # order 4
        assert not np.array_equal(perm, identity) and (perm != identity).sum() == 20
        assert np.array_equal(perm[centres], centres)
    for face in range(6):
        assert np.array_equal(cube.perms[2 * face][cube.perms[2 * face + 1]], identity)  # X then X'
    solved = cube.goal_states(1)
    assert cube.is_goal(cube.apply_moves(solved, "R U R' U' " * 6))[0]
    assert not cube.is_goal(cube.apply_moves(solved, "R U R' U' " * 3))[0]
    assert cube.is_goal(cube.apply_moves(solved, "F " * 4 + "L D' D L'"))[0]


def test_cube_meta_actions_compose_quarter_turns():
    meta = Cube3(meta_actions=True)
    assert meta.num_actions == 12 + 144 + 1728
    assert meta.action_costs.tolist() == [1.0] * 12 + [2.0] * 144 + [3.0] * 1728
    rng = np.random.default_rng(0)
    states = Cube3().scramble(4, 20, rng)
    for action in rng.integers(meta.num_actions, size=30):
        moved, cost = meta.next_states(states, np.full(4, action))
        expected = meta.apply_moves(states, meta.action_names[action])
        assert np.array_equal(moved, expected) and cost[0] == len(meta.action_names[action].split())
    assert meta.action_names[12] == "U U" and meta.action_names[13] == "U U'"
    assert meta.is_goal(meta.next_states(meta.goal_states(1), np.array([13]))[0])[0]  # U U' = identity
    # scrambles walk quarter turns in both action sets: the same seed gives the same states
    same_walks = (cube.scramble(6, 7, np.random.default_rng(4)) for cube in (meta, Cube3()))
    assert np.array_equal(*same_walks)


def test_cube_parse_state():
    cube = Cube3()
    scrambled = cube.parse_state("R U R' U'")
    letters = "".join("UDLRFB"[c] for c in scrambled[0])
    assert np.array_equal(cube.parse_state(letters), scrambled)
    with pytest.raises(PuzzleStateError):
        cube.parse_state("UUU")
    with pytest.raises(PuzzleStateError, match="9 stickers"):
        cube.parse_state("U" * 54)


# -- lights out -----------------------------------------------------------------------------------------------------
def test_lights_out_involution_commutation_and_reference():
    puzzle = LightsOut(7)
    rng = np.random.default_rng(0)
    states = puzzle.scramble(50, 20, rng)
    actions, others = rng.integers(49, size=50), rng.integers(49, size=50)
    once, _ = puzzle.next_states(states, actions)
    twice, _ = puzzle.next_states(once, actions)
    assert np.array_equal(twice, states)  # every press is its own inverse
    ab, _ = puzzle.next_states(once, others)
    ba, _ = puzzle.next_states(puzzle.next_states(states, others)[0], actions)
    assert np.array_equal(ab, ba)
    for state, action, moved in zip(states, actions, once):
        board = state.reshape(7, 7).copy()
        r, c = divmod(int(action), 7)
        for rr, cc in [(r, c), (r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]:
            if 0 <= rr < 7 and 0 <= cc < 7:
                board[rr, cc] ^= 1
        assert np.array_equal(board.ravel(), moved)


def test_lights_out_parse_checks_solvability():
    five = LightsOut(5)  # the 5x5 toggle matrix has rank 23: a quarter of the boards cannot be cleared
    with pytest.raises(PuzzleStateError, match="cannot be switched off"):
        five.parse_state("1" + "0" * 24)  # one lit corner is not orthogonal to a quiet pattern
    pressed = five.next_states(five.goal_states(1), np.array([12]))[0]
    assert np.array_equal(five.parse_state("".join(map(str, pressed[0]))), pressed)
    with pytest.raises(PuzzleStateError, match="25 digits"):
        five.parse_state("0102")


# -- Gymnasium ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id, kwargs", [
    ("rlkit/SlidingTile-v0", {"size": 3}), ("rlkit/Cube3-v0", {}), ("rlkit/LightsOut-v0", {"size": 3}),
])
def test_gym_envs_pass_env_checker_and_solve(env_id, kwargs):
    env = gym.make(env_id, scramble_depth=1, **kwargs)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    puzzle = env.unwrapped.puzzle
    children, _ = puzzle.expand(env.unwrapped.state)
    solving = int(np.flatnonzero(puzzle.is_goal(children))[0])  # one move from the goal
    _, reward, terminated, truncated, _ = env.step(solving)
    assert terminated and not truncated and reward == -1.0
