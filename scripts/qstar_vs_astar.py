"""Q* vs A* with the same trained network, batch size and weight: solved %, path cost, nodes generated, seconds.

A* pops B nodes per iteration and scores ALL their children with h(s) = min_a Q(s, a); Q* pops B edges, generates
only those B children and scores each child's edges with one Q pass (Agostinelli et al., 2021). Instance sets are
fixed and seeded: the 15-puzzle (or whatever sliding-tile size the checkpoint was trained on) scrambled
``--tile-depth`` moves, and the cube scrambled to each of ``--cube-depths``. A network trained on the 12 quarter
turns cannot score 1884 meta-actions, so the meta-action comparison takes a second checkpoint trained with
``puzzle.meta_actions=true``.

    rlkit train configs/sliding_tile_qstar.yaml        # -> runs/.../checkpoints/final.pt
    rlkit train configs/cube3_qstar.yaml && rlkit train configs/cube3_meta_qstar.yaml  # the 2nd learns from the 1st
    python scripts/qstar_vs_astar.py --tile-checkpoint runs/sliding_tile_qstar/checkpoints/final.pt \\
        --cube-checkpoint runs/cube3_qstar/checkpoints/final.pt \\
        --cube-meta-checkpoint runs/cube3_meta_qstar/checkpoints/final.pt \\
        --instances 10 --batch-size 100 --weight 0.6 --max-seconds 20

``--baselines`` adds beam search (``--beam-width``) and greedy search rows on the same instances; ``--korf`` runs
Korf's 100 15-puzzle instances (``envs/puzzles/data/korf100.txt``, published optimal lengths) with the tile
checkpoint: solved count, mean cost over optimal, nodes and seconds for Q*, A* (and the baselines):

    python scripts/qstar_vs_astar.py --cube-checkpoint shipped:cube3 --cube-depths 1000 --instances 10 \
        --batch-size 1000 --weight 0.6 --max-seconds 60 --baselines --beam-width 10000
    python scripts/qstar_vs_astar.py --tile-checkpoint shipped:sliding_tile --korf --max-seconds 10
    python scripts/qstar_vs_astar.py --lights-checkpoint shipped:lights_out --lights-depths 10,20,1000 --baselines

Lights Out boards have exact optimal lengths (``LightsOut.optimal_presses``, linear algebra over GF(2)), so a
``--lights-checkpoint`` run also prints each search's mean cost over optimal.

Checkpoints may be files or ``shipped:PUZZLE`` (the network rlkit ships). After the main table it prints the
A*/Q* ratios on the instances both searches solved, the meta-action vs
12-action ratios (when both cube checkpoints are given) and each network's Bellman consistency.

Every found path is shortened before it is scored (``rlkit.search.shortened``: loops cut, cube turns of one face
merged, Lights Out presses reduced to the cells pressed an odd number of times); the "as found" columns keep the
search's own path cost, and ``--no-shorten`` reports the paths as found throughout.

Budgets: every search stops after ``--max-seconds`` or ``--max-nodes`` (an unsolved instance counts as such). The
whole run costs at most instances x sets x 2 searches x max-seconds; the defaults fit in minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.agents.qstar import QStarAgent, load_qstar_agent  # noqa: E402
from rlkit.device import resolve_device  # noqa: E402
from rlkit.envs.puzzles.cube3 import Cube3  # noqa: E402
from rlkit.envs.puzzles.korf import korf100  # noqa: E402
from rlkit.envs.puzzles.shipped import resolve_checkpoint  # noqa: E402
from rlkit.errors import RlkitError  # noqa: E402
from rlkit.search import astar, beam_search, qstar, shortened  # noqa: E402

COLUMNS = ["puzzle", "actions", "scramble", "search", "solved %", "mean cost (solved)", "as found",
           "nodes generated", "network calls", "s / instance", "bytes / node"]
PAIRED_COLUMNS = ["puzzle", "actions", "scramble", "both solved", "A* nodes", "Q* nodes", "A*/Q* nodes",
                  "A*/Q* seconds"]
ACTION_SET_COLUMNS = ["puzzle", "scramble", "search", "both solved", "meta nodes", "12-action nodes",
                      "meta/12 nodes", "meta/12 seconds"]
KORF_COLUMNS = ["search", "solved", "mean cost / optimal (solved)", "optimal %", "mean cost (solved)",
                "mean optimal (solved)", "nodes generated", "s / instance", "bytes / node"]
OPTIMAL_COLUMNS = ["puzzle", "scramble", "search", "solved", "mean cost / optimal (solved)", "as found",
                   "optimal %", "mean optimal (all)"]
GAP_COLUMNS = ["puzzle", "actions", "scramble", "mean |Q(s,a) - c - h(s')|", "median", "lookahead agrees %"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print("command: python scripts/qstar_vs_astar.py " + " ".join(sys.argv[1:] if argv is None else argv))
    print(f"B = {args.batch_size}, lambda = {args.weight}, {args.instances} instances per set, budget "
          f"{args.max_seconds} s / {args.max_nodes:,} nodes per search, device {device}\n")
    rows: list[list[str]] = []
    korf_rows: list[list[str]] = []
    paired: list[list[str]] = []
    cube_results: list[dict] = []
    gaps: list[list[str]] = []
    optimal_rows: list[list[str]] = []
    try:
        sets = []  # (agent, label, depths)
        if args.tile_checkpoint:
            agent = load_qstar_agent(resolve_checkpoint(args.tile_checkpoint), device)
            if args.korf:
                korf_rows = korf(agent, args)
            if not args.no_tile_set:
                sets.append((agent, f"{agent.puzzle.size}x{agent.puzzle.size} tile", [args.tile_depth]))
        for checkpoint in (args.cube_checkpoint, args.cube_meta_checkpoint):
            if checkpoint:
                agent = load_qstar_agent(resolve_checkpoint(checkpoint), device)
                gaps += consistency(agent, "cube3", args.cube_depths, args)
                sets.append((agent, "cube3", args.cube_depths))
        if args.lights_checkpoint:
            agent = load_qstar_agent(resolve_checkpoint(args.lights_checkpoint), device)
            sets.append((agent, f"lights out {agent.puzzle.size}x{agent.puzzle.size}", args.lights_depths))
        for agent, label, depths in sets:
            table, results = compare(agent, label, depths, args)
            rows += table
            if hasattr(agent.puzzle, "optimal_presses"):
                optimal_rows += optimality(agent, label, results, args)
            # A search stopped by its budget reports the budget, not what solving costs: also compare the two
            # searches on the instances both solved.
            paired += [[label, str(agent.puzzle.num_actions), str(depth),
                        *paired_ratios(results[(depth, "A*")], results[(depth, "Q*")])]
                       for depth in depths if (depth, "A*") in results and (depth, "Q*") in results]
            if label == "cube3":
                cube_results.append(results)
    except RlkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if rows:
        print_table(COLUMNS, rows)
    if paired:
        print("\nOn the instances both searches solved (geometric means of the per-instance ratios A* / Q*):")
        print_table(PAIRED_COLUMNS, paired)
    if len(cube_results) == 2:  # 12 quarter turns vs meta-actions, the same instances (both scrambled by turns)
        quarter, meta = cube_results
        print("\nThe cube's meta-action network vs its 12-action one, on the instances both solved "
              "(ratios meta / 12):")
        print_table(ACTION_SET_COLUMNS, [["cube3", str(depth), name,
                                          *paired_ratios(meta[(depth, name)], quarter[(depth, name)])]
                                         for depth in args.cube_depths for name in ("Q*", "A*")
                                         if (depth, name) in meta])
    if korf_rows:
        print(f"\nKorf's 100 15-puzzle instances (Korf, 1985), {args.korf_seconds or args.max_seconds:g} s per search:")
        print_table(KORF_COLUMNS, korf_rows)
    if optimal_rows:
        print("\nAgainst the exact optimal lengths (LightsOut.optimal_presses):")
        print_table(OPTIMAL_COLUMNS, optimal_rows)
    if gaps:
        print("\nConsistency of the cube networks (20 states per scramble depth):")
        print_table(GAP_COLUMNS, gaps)
    return 0


def searches(agent: QStarAgent, args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(name, start -> SearchResult) for Q*, A* and, with --baselines, beam and greedy search, all under the same
    budgets (beam and greedy: the time and node budgets; --batch-size and --weight are Q*'s and A*'s)."""
    puzzle, seconds = agent.puzzle, args.max_seconds
    budget = dict(max_nodes=args.max_nodes, max_seconds=seconds)
    best_first = dict(batch_size=args.batch_size, weight=args.weight, **budget)
    runs = [("A*", lambda start: astar(puzzle, start, agent.heuristic, **best_first)),
            ("Q*", lambda start: qstar(puzzle, start, agent.q_numpy, **best_first))]
    if args.baselines:
        runs += [(f"beam W={args.beam_width}", lambda start: beam_search(puzzle, start, agent.q_numpy,
                                                                         args.beam_width, **budget)),
                 ("greedy", lambda start: beam_search(puzzle, start, agent.q_numpy, 1, max_depth=args.greedy_depth,
                                                      **budget))]
    if args.only:
        runs = [(name, run) for name, run in runs if name.split()[0].lower().replace("*", "star") in args.only]
    if args.shorten:
        runs = [(name, lambda start, run=run: shortened(puzzle, start, run(start))) for name, run in runs]
    return runs


def found_cost(result) -> float:
    """The path's cost as the search found it (before shortening)."""
    return result.extra.get("found_cost", result.cost)


def korf(agent: QStarAgent, args: argparse.Namespace) -> list[list[str]]:
    """Every search on Korf's instances (the first --korf-instances of the 100) -> table rows."""
    if agent.puzzle.size != 4:
        raise RlkitError(f"--korf needs a 15-puzzle (size 4) checkpoint; this one is size {agent.puzzle.size}")
    states, optimal = korf100()
    states, optimal = states[: args.korf_instances], optimal[: args.korf_instances]
    korf_args = argparse.Namespace(**{**vars(args), "max_seconds": args.korf_seconds or args.max_seconds})
    rows = []
    for name, run in searches(agent, korf_args):
        results = [run(start) for start in states]
        solved = [i for i, r in enumerate(results) if r.solved]
        cost = np.array([results[i].cost for i in solved])
        best = optimal[solved].astype(float)
        rows.append([name, f"{len(solved)} of {len(results)}",
                     f"{np.mean(cost / best):.3f}" if solved else "-",
                     f"{100 * np.mean(cost == best):.0f}" if solved else "-",
                     f"{cost.mean():.2f}" if solved else "-", f"{best.mean():.2f}" if solved else "-",
                     f"{statistics.mean(r.nodes_generated for r in results):,.0f}",
                     f"{statistics.mean(r.seconds for r in results):.2f}", bytes_per_node(results)])
        print(" | ".join(rows[-1]), flush=True)
    return rows


def optimality(agent: QStarAgent, label: str, results: dict[tuple[int, str], list],
               args: argparse.Namespace) -> list[list[str]]:
    """Each search's solved count and mean cost over the exact optimum on the instance sets of a puzzle that
    knows its optimal lengths -> table rows."""
    rows = []
    optimal_by_depth = {depth: agent.puzzle.optimal_presses(instance_set(agent.puzzle, depth, args.instances,
                                                                         args.seed))
                        for depth, _ in results}
    for (depth, name), runs in results.items():
        optimal = optimal_by_depth[depth]
        solved = [i for i, r in enumerate(runs) if r.solved]
        cost = np.array([runs[i].cost for i in solved])
        best = optimal[solved].astype(float)
        found = np.array([found_cost(runs[i]) for i in solved])
        rows.append([label, str(depth), name, f"{len(solved)} of {len(runs)}",
                     f"{np.mean(cost / best):.3f}" if solved else "-",
                     f"{np.mean(found / best):.3f}" if solved else "-",
                     f"{100 * np.mean(cost == best):.0f}" if solved else "-", f"{optimal.mean():.2f}"])
    return rows


def bytes_per_node(results: list) -> str:
    """Mean bytes per node the best-first searches held ('-' for beam and greedy, which keep no tree)."""
    values = [r.extra["bytes_per_node"] for r in results if "bytes_per_node" in r.extra]
    return f"{statistics.mean(values):.0f}" if values else "-"


def compare(agent: QStarAgent, label: str, depths: list[int],
            args: argparse.Namespace) -> tuple[list[list[str]], dict[tuple[int, str], list]]:
    """A* and Q* on each scramble depth's fixed instance set -> (table rows, every search's results under
    (depth, "A*" or "Q*"), in instance order, for the paired comparisons)."""
    puzzle = agent.puzzle
    rows, by_search = [], {}
    for depth in depths:
        starts = instance_set(puzzle, depth, args.instances, args.seed)
        for name, run in searches(agent, args):
            results = by_search[(depth, name)] = [run(start) for start in starts]
            solved = [r for r in results if r.solved]
            rows.append([
                label, str(puzzle.num_actions), str(depth), name,
                f"{100 * len(solved) / len(results):.0f}",
                f"{statistics.mean(r.cost for r in solved):.2f}" if solved else "-",
                f"{statistics.mean(found_cost(r) for r in solved):.2f}" if solved else "-",
                f"{statistics.mean(r.nodes_generated for r in results):,.0f}",
                f"{statistics.mean(r.network_calls for r in results):,.0f}",
                f"{statistics.mean(r.seconds for r in results):.2f}",
                bytes_per_node(results),
            ])
            print(" | ".join(rows[-1]), flush=True)  # progress: a long run shows each row as it lands
    return rows, by_search


def paired_ratios(first: list, second: list) -> list[str]:
    """Cells comparing two searches' results on the same instances, over those both solved: count, mean nodes
    of each, and the geometric means of the per-instance ratios first / second of nodes generated and seconds."""
    both = [(a, b) for a, b in zip(first, second) if a.solved and b.solved]
    if not both:
        return [f"0 of {len(first)}", "-", "-", "-", "-"]

    def ratio(field: str) -> float:
        return math.exp(statistics.mean(math.log(max(getattr(a, field), 1e-9) / max(getattr(b, field), 1e-9))
                                        for a, b in both))

    return [f"{len(both)} of {len(first)}", f"{statistics.mean(a.nodes_generated for a, _ in both):,.0f}",
            f"{statistics.mean(b.nodes_generated for _, b in both):,.0f}", f"{ratio('nodes_generated'):.1f}x",
            f"{ratio('seconds'):.1f}x"]


def consistency(agent: QStarAgent, label: str, depths: list[int], args: argparse.Namespace) -> list[list[str]]:
    """How far Q is from satisfying its own Bellman equation on 20 states of each scramble depth.

    gap = |Q(s, a) - (c(s, a) + h(s'))| with h(s') = min_a' Q(s', a') (0 at goals), averaged over every action of
    every state; "lookahead agrees" is the fraction of states whose argmin_a Q(s, a) is also an argmin of
    c(s, a) + h(s'). Q* ranks edges by Q(s, a) where A* ranks the same children by c + h(s'): with a consistent Q
    (gap 0) the two searches pop the same states in the same order, so the gap is what costs Q* iterations.
    """
    puzzle, rows = agent.puzzle, []
    for depth in depths:
        states = instance_set(puzzle, depth, 20, args.seed)
        q = agent.q_numpy(states)  # (S, A)
        children, costs = puzzle.expand(states)
        lookahead = costs + agent.heuristic(children).reshape(costs.shape)  # heuristic() is 0 at goals
        gap = np.abs(q - lookahead)
        agrees = lookahead[np.arange(len(states)), q.argmin(axis=1)] <= lookahead.min(axis=1) + 1e-6
        rows.append([label, str(puzzle.num_actions), str(depth), f"{gap.mean():.3f}", f"{np.median(gap):.3f}",
                     f"{100 * agrees.mean():.0f}"])
    return rows


def instance_set(puzzle, depth: int, count: int, seed: int) -> np.ndarray:
    """``count`` states scrambled ``depth`` moves, the same for every run with the same seed. -> (count, D).

    Cube scrambles are drawn with the 12 quarter turns even for a meta-action puzzle, so both cube networks face
    the same instances and "depth" means quarter turns for both.
    """
    rng = np.random.default_rng([seed, depth])
    scrambler = Cube3() if isinstance(puzzle, Cube3) else puzzle
    states = scrambler.scramble(count, depth, rng)
    for _ in range(100):  # a walk may end where it began; such a start is trivial: draw it again
        trivial = np.flatnonzero(puzzle.is_goal(states))
        if not len(trivial):
            break
        states[trivial] = scrambler.scramble(len(trivial), depth, rng)
    return states


def print_table(columns: list[str], rows: list[list[str]]) -> None:
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tile-checkpoint", help="Q* checkpoint trained on sliding_tile (size 4: 15-puzzle)")
    parser.add_argument("--cube-checkpoint", help="Q* checkpoint trained on cube3 with the 12 quarter turns")
    parser.add_argument("--cube-meta-checkpoint", help="Q* checkpoint trained on cube3 with meta_actions=true")
    parser.add_argument("--lights-checkpoint", help="Q* checkpoint trained on lights_out")
    parser.add_argument("--lights-depths", type=lambda text: [int(d) for d in text.split(",")], default=[10, 20, 1000],
                        help="comma-separated random-press counts of the Lights Out instance sets")
    parser.add_argument("--instances", type=int, default=10, help="instances per (puzzle, depth) set")
    parser.add_argument("--tile-depth", type=int, default=1000, help="scramble moves of the tile instances")
    parser.add_argument("--cube-depths", type=lambda text: [int(d) for d in text.split(",")],
                        default=[10, 15, 20, 25, 30, 1000], help="comma-separated cube scramble depths")
    parser.add_argument("--batch-size", type=int, default=100, help="B: nodes (A*) or edges (Q*) per iteration")
    parser.add_argument("--weight", type=float, default=0.6, help="lambda, the weight on g")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time budget per search")
    parser.add_argument("--max-nodes", type=int, default=2_000_000, help="nodes-generated budget per search")
    parser.add_argument("--seed", type=int, default=0, help="seed of the instance sets")
    parser.add_argument("--baselines", action="store_true", help="also run beam search and greedy search")
    parser.add_argument("--beam-width", type=int, default=10_000, help="beam search's width W (default 10000)")
    parser.add_argument("--only", type=lambda text: text.split(","), help="run only these searches (comma-separated "
                        "of astar, qstar, beam, greedy; default all; paired tables need astar and qstar)")
    parser.add_argument("--no-shorten", dest="shorten", action="store_false",
                        help="score the paths as the searches found them (default: shortened first)")
    parser.add_argument("--greedy-depth", type=int, default=200, help="greedy search gives up after this many moves")
    parser.add_argument("--korf", action="store_true", help="run Korf's 100 instances with --tile-checkpoint")
    parser.add_argument("--korf-instances", type=int, default=100, help="the first N of Korf's instances")
    parser.add_argument("--korf-seconds", type=float, help="time budget per Korf search (default --max-seconds)")
    parser.add_argument("--no-tile-set", action="store_true", help="with --korf: skip the scrambled tile set")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if not (args.tile_checkpoint or args.cube_checkpoint or args.cube_meta_checkpoint or args.lights_checkpoint):
        parser.error("pass at least one of --tile-checkpoint, --cube-checkpoint, --cube-meta-checkpoint, "
                     "--lights-checkpoint")
    if args.korf and not args.tile_checkpoint:
        parser.error("--korf needs --tile-checkpoint (a 15-puzzle network)")
    return args


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    print(f"\n{time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    sys.exit(status)
