"""Path shortening after search: loops cut (any puzzle), cancelling cube turns merged, Lights Out presses reduced
to those made an odd number of times. Hand examples, then a replay property on random paths."""

import numpy as np
import pytest

from rlkit.envs.puzzles.cube3 import QUARTER_TURNS, Cube3
from rlkit.envs.puzzles.lights_out import LightsOut
from rlkit.envs.puzzles.sliding_tile import SlidingTile
from rlkit.search import SearchResult, beam_search, shortened

CUBE = Cube3()


def moves(text: str) -> list[int]:
    return [QUARTER_TURNS.index(token) for token in text.split()]


def names(actions: list[int]) -> str:
    return " ".join(QUARTER_TURNS[a] for a in actions)


def end_state(puzzle, start, actions):
    state = np.asarray(start)[None]
    for action in actions:
        state, _ = puzzle.next_states(state, np.asarray([action]))
    return state[0]


@pytest.mark.parametrize("found, short", [
    ("R R R", "R'"), ("R R R R", ""), ("R R", "R R"), ("U U'", ""), ("U D U'", "D"), ("R U U' R", "R R"),
    ("F B F B'", "F F"), ("L R L' R'", ""), ("U R U' R'", "U R U' R'"), ("U' U' U'", "U"),
    ("R U R' U' " * 6, ""),  # the sexy move has order 6: no two turns merge, the loop is cut
])
def test_cube_turns_merge_across_the_opposite_face(found, short):
    start = CUBE.scramble(1, 20, np.random.default_rng(0))[0]
    assert names(CUBE.shorten_path(start, moves(found))) == short


def test_lights_out_keeps_the_cells_pressed_an_odd_number_of_times():
    puzzle = LightsOut(3)
    start = np.zeros(9, np.uint8)
    assert puzzle.shorten_path(start, [3, 5, 3, 7, 5, 5]) == [5, 7]
    assert puzzle.shorten_path(start, [4, 4]) == []


def test_loops_are_cut_on_any_puzzle():
    tiles = SlidingTile(3)
    start = tiles.scramble(1, 30, np.random.default_rng(1))[0]
    # U D is a loop wherever U is legal; an illegal move (a no-op at cost 1) is a loop of one step
    blank_row = int(np.argmin(start)) // 3
    path = [0, 1] if blank_row > 0 else [1, 0]
    assert tiles.shorten_path(start, path) == []
    corner = tiles.goal  # blank bottom-right: D and R are illegal
    assert tiles.shorten_path(corner, [1, 3, 0]) == [0]


@pytest.mark.parametrize("puzzle", [Cube3(), LightsOut(4), SlidingTile(3), Cube3(meta_actions=True)],
                         ids=lambda p: p.name)
def test_shortened_paths_end_where_the_found_ones_do_and_are_never_longer(puzzle):
    rng = np.random.default_rng(2)
    for _ in range(20):
        start = puzzle.scramble(1, 10, rng)[0]
        found = rng.integers(puzzle.num_actions, size=int(rng.integers(0, 40))).tolist()
        if isinstance(puzzle, Cube3) and not puzzle.meta_actions:
            found += [found[-1]] * 3 if found else []  # a sure merge
        short = puzzle.shorten_path(start, found)
        assert np.array_equal(end_state(puzzle, start, short), end_state(puzzle, start, found))
        assert puzzle.action_costs[short].sum() <= puzzle.action_costs[found].sum()


def test_shortened_result_keeps_the_found_path_and_is_validated():
    puzzle = LightsOut(3)
    start = end_state(puzzle, puzzle.goal, [0, 4])
    found = SearchResult(True, [4, 2, 0, 2], 4.0, nodes_generated=5, iterations=4, network_calls=4, seconds=0.1)
    result = shortened(puzzle, start, found)
    assert result.actions == [4, 0] and result.cost == 2.0
    assert result.extra["found_actions"] == [4, 2, 0, 2] and result.extra["found_cost"] == 4.0
    assert result.states.shape == (3, 9) and puzzle.is_goal(result.states[-1:])[0]
    unsolved = SearchResult(False, [], float("inf"), 1, 1, 1, 0.1)
    assert shortened(puzzle, start, unsolved) is unsolved


def test_beam_paths_on_lights_out_shrink_to_the_pressed_set():
    puzzle = LightsOut(3)
    start = end_state(puzzle, puzzle.goal, [1, 5, 6])
    # an uninformative Q: beam search wanders, its path presses some cells more than once
    wander = beam_search(puzzle, start, lambda s: np.zeros((len(s), 9)), beam_width=3, max_depth=200)
    assert wander.solved
    result = shortened(puzzle, start, wander)
    assert sorted(result.actions) == sorted(set(a for a in wander.actions if wander.actions.count(a) % 2))
    assert sorted(result.actions) == [1, 5, 6]  # 3x3 presses are independent: the pressed set is unique
    assert result.cost <= wander.cost


def test_rlkit_solve_reports_the_shortened_path_and_the_found_cost(capsys):
    from rlkit.cli import main
    from rlkit.envs.puzzles import shipped

    if not (shipped.NETWORKS / shipped.SHIPPED["lights_out"]).is_file():
        pytest.skip("the Lights Out network is not shipped in this checkout")
    argv = ["solve", "--puzzle", "lights_out", "--scramble", "20", "--algo", "beam", "--beam-width", "1000",
            "--seed", "0", "--max-seconds", "30"]
    assert main(argv + ["--no-shorten"]) == 0
    found = capsys.readouterr().out
    assert main(argv) == 0
    short = capsys.readouterr().out
    found_moves = int(found.split("moves (")[1].split(")")[0])
    short_moves = int(short.split("moves (")[1].split(")")[0])
    assert short_moves < found_moves and f"(the search found {found_moves}; shortened)" in short
    assert "shortened" not in found
