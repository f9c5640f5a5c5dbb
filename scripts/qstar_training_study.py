"""Cost-to-go training at equal CPU time: Bellman targets vs walk-bound targets vs both (and network sizes).

Each run trains a fresh Q* network on the cube (or another puzzle) for the same budget of CPU time (the
process's, so other work on the machine does not shorten a run; use ``--threads 1`` for that to mean one core's
time), then measures the cost per update and the solve rate by scramble depth, greedy (argmin-Q rollouts of 2 x
depth moves) and by beam search (``--beam-width``), on instances fixed by ``--seed``. A run is
``TARGETS:HIDDENxBLOCKS:BATCH`` (e.g. ``walk:512x2:10000``: puzzle.targets walk, resmlp hidden [512], 2 residual
blocks, 10,000 states per update); ``mixed`` runs take ``--bellman-every`` and ``--bellman-batch``.

    python scripts/qstar_training_study.py --seconds 300 --threads 1 \\
        --runs bellman:512x2:1000,walk:512x2:10000,mixed:512x2:10000 --out runs/qstar_training_study.json

Finished runs are kept in ``--out`` (keyed by the run, the budget, the threads and the seed) and reused, so an
interrupted study resumes where it stopped. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.agents.qstar import QStarAgent  # noqa: E402
from rlkit.config import config_from_dict  # noqa: E402
from rlkit.search import beam_search  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puzzle", default="cube3", choices=["cube3", "sliding_tile", "lights_out"])
    parser.add_argument("--size", type=int, default=4, help="board side for sliding_tile / lights_out")
    parser.add_argument("--runs", default="bellman:512x2:1000,walk:512x2:10000,mixed:512x2:10000")
    parser.add_argument("--seconds", type=float, default=300.0, help="training budget of each run (CPU seconds)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-scramble", type=int, default=30)
    parser.add_argument("--bellman-every", type=int, default=4)
    parser.add_argument("--bellman-batch", type=int, default=2000)
    parser.add_argument("--target-period", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--depths", default="4,8,12,16,20")
    parser.add_argument("--greedy-states", type=int, default=200)
    parser.add_argument("--beam-states", type=int, default=20)
    parser.add_argument("--beam-width", type=int, default=1000)
    parser.add_argument("--beam-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/qstar_training_study.json")
    return parser.parse_args(argv)


def build_agent(spec: str, args: argparse.Namespace) -> QStarAgent:
    targets, net, batch = spec.split(":")
    hidden, blocks = net.split("x")
    puzzle = {"name": args.puzzle, "targets": targets, "max_scramble": args.max_scramble, "batch_size": int(batch),
              "bellman_every": args.bellman_every, "bellman_batch_size": args.bellman_batch}
    if args.puzzle != "cube3":
        puzzle["size"] = args.size
    config = config_from_dict({"seed": args.seed, "agent": {
        "name": "qstar", "lr": args.lr, "max_grad_norm": 10.0, "target_period": args.target_period,
        "critic": {"type": "scalar", "loss": "mse"},
        "net": {"torso": "resmlp", "hidden": [int(w) for w in hidden.split("+")], "blocks": int(blocks)}},
        "puzzle": puzzle})
    from rlkit.agents.qstar import build_puzzle
    return QStarAgent(config, build_puzzle(config.puzzle))


def train_for(agent: QStarAgent, seconds: float, seed: int) -> dict:
    rng = np.random.default_rng(seed + 1)
    period = agent.config.target_period
    updates = states = bellman = 0
    # The budget is this process's CPU time, not wall time: runs stay comparable when other work shares the cores.
    started, wall = time.process_time(), time.perf_counter()
    while time.process_time() - started < seconds:
        metrics = agent.update(agent.training_batch(rng))
        loss = metrics["loss"].item()
        updates += 1
        states += metrics["states"]
        bellman += metrics["bellman"]
        if updates % period == 0:
            agent.update_target()
    elapsed = time.process_time() - started
    return {"updates": updates, "states": states, "bellman_updates": bellman, "seconds": elapsed,
            "wall_seconds": time.perf_counter() - wall, "loss": loss}


def evaluate(agent: QStarAgent, args: argparse.Namespace) -> dict:
    depths = [int(d) for d in args.depths.split(",")]
    rng = np.random.default_rng(args.seed + 1000)
    greedy = agent.solve_rate(depths, args.greedy_states, rng)
    beam = {}
    for depth in depths:
        starts = agent.puzzle.scramble(args.beam_states, depth, np.random.default_rng(args.seed + 2000 + depth))
        solved = [beam_search(agent.puzzle, s, agent.q_numpy, args.beam_width, max_depth=3 * depth,
                              max_seconds=args.beam_seconds).solved for s in starts]
        beam[depth] = float(np.mean(solved))
    return {"greedy": {str(k): v for k, v in greedy.items()}, "beam": {str(k): v for k, v in beam.items()}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    depths = args.depths.split(",")
    print("command: python scripts/qstar_training_study.py " + " ".join(sys.argv[1:] if argv is None else argv))
    for spec in args.runs.split(","):
        key = f"{args.puzzle}|{spec}|{args.seconds}|{args.threads}|{args.seed}|{args.max_scramble}"
        if key not in results:
            agent = build_agent(spec, args)
            row = train_for(agent, args.seconds, args.seed)
            row["params"] = sum(p.numel() for p in agent.online.parameters())
            row["precision"] = agent.precision
            row.update(evaluate(agent, args))
            results[key] = row
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(out)
            print(f"finished {spec}", flush=True)
    head = ["targets", "network", "batch", "params", "precision", "updates", "states seen", "s / update", "states / s"]
    head += [f"greedy d{d}" for d in depths] + [f"beam d{d}" for d in depths]
    print(f"\n{args.puzzle}, {args.seconds:.0f} CPU-seconds of training per run on {args.threads} thread(s); greedy: "
          f"{args.greedy_states} states per depth, {2}x depth moves; beam: width {args.beam_width}, "
          f"{args.beam_states} states per depth, {args.beam_seconds:.0f} s each\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for spec in args.runs.split(","):
        row = results[f"{args.puzzle}|{spec}|{args.seconds}|{args.threads}|{args.seed}|{args.max_scramble}"]
        targets, net, batch = spec.split(":")
        cells = [targets, f"resmlp {net}", batch, f"{row['params'] / 1e6:.2f}M",
                 row.get("precision", "fp32"), f"{row['updates']:,}",
                 f"{row['states']:,}", f"{row['seconds'] / row['updates']:.3f}",
                 f"{row['states'] / row['seconds']:,.0f}"]
        cells += [f"{100 * row['greedy'][d]:.0f}%" for d in depths] + [f"{100 * row['beam'][d]:.0f}%" for d in depths]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
