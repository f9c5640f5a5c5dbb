"""The ``rlkit`` command.

    rlkit train CONFIG [key=value ...]            train a new run from a YAML preset with dotted overrides
    rlkit train --resume RUN_DIR [key=value ...]  continue a run from its latest checkpoint
    rlkit eval CKPT [--env ID] [--episodes N] [--envs K] [--video DIR] [--seed S] [--epsilon E]
    rlkit plot RUN_DIR... [--out PNG] [--title T]   learning curves (mean and spread over seeds)
    rlkit solve [--checkpoint CKPT] [--puzzle P] (--scramble N | --state S) [--batch B] [--weight W] [--algo A]
    rlkit export CKPT --format onnx [--quantize int8|ternary] [--out PATH]   a torch-free policy + parity check
    rlkit import-sb3 MODEL.zip [--out PATH] [--env ID]   a Stable-Baselines3 DQN as an rlkit checkpoint
    rlkit tune CONFIG [key=value ...] --trials N [--study NAME] [--storage URL] [--space FILE] [--jobs K] [--out DIR]

A user error (bad config, unknown env, missing or corrupt checkpoint, ...) prints one line to stderr and exits
with status 2; nothing in an existing run directory is touched.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from rlkit.errors import Interrupted, RlkitError


class _Parser(argparse.ArgumentParser):
    """argparse prints usage plus an error; we print one line, like every other rlkit error, and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"rlkit: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse type: ``kind`` (int or float) in [low, high] (or (low, high] with ``low_open``); argparse turns
    the ArgumentTypeError into rlkit's one line naming the option."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if kind is float and value != value:  # NaN
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}")
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            left = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be in {left}{low if low is not None else '-inf'}, "
                                             f"{high if high is not None else 'inf'}], got {text}")
        return value

    return parse


def _device(text: str) -> str:
    """An argparse type for --device: cpu, cuda or cuda:N, with CUDA present on this machine."""
    if text == "cpu":
        return text
    if text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        import torch

        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"'{text}' requested but this machine has no CUDA device; use cpu")
        return text
    raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")


SEED_MAX = 2**31 - 1  # the largest seed every Gymnasium env accepts (episode k uses seed + k)
COUNT_MAX = 10_000_000


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rlkit`` console script."""
    parser = _Parser(prog="rlkit", description="Value-based deep RL: train, evaluate and export DQN-family agents.")
    parser.add_argument("--version", action="version", version=f"rlkit {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train an agent from a YAML config",
                                description="Train from a YAML preset; key=value pairs override config fields.")
    train.add_argument("config", nargs="?", help="YAML preset, e.g. configs/cartpole_dqn.yaml")
    train.add_argument("overrides", nargs="*", help="dotted overrides, e.g. agent.lr=0.001 train.total_steps=20000")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from checkpoints/latest.pt (or a checkpoint "
                       "file, or shipped:PUZZLE, in a new run_dir)")
    train.add_argument("--no-progress", action="store_true", help="print a line per evaluation instead of a bar")

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint greedily",
                                   description="Greedy evaluation of a checkpoint; prints mean ± std return.")
    evaluate.add_argument("checkpoint", help="checkpoint .pt file or run directory")
    evaluate.add_argument("--env", help="env id (or module:EnvId) with matching spaces; default: the training env")
    evaluate.add_argument("--episodes", type=_number(int, 1, COUNT_MAX), default=10, help="episodes to play (default 10)")
    evaluate.add_argument("--video", metavar="DIR", help="record the first episode as an mp4 in DIR")
    evaluate.add_argument("--seed", type=_number(int, 0, SEED_MAX), default=0, help="episode k is reset with seed+k (default 0)")
    evaluate.add_argument("--epsilon", type=_number(float, 0.0, 1.0), default=0.0, help="random-action probability (default 0)")
    evaluate.add_argument("--device", type=_device, default="cpu", help="torch device (default cpu)")
    evaluate.add_argument("--envs", type=_number(int, 1, COUNT_MAX), default=1,
                          help="env copies playing the episodes side by side, one batched forward per step; "
                               "the same returns (default 1)")

    plot = commands.add_parser("plot", help="draw learning curves from run directories",
                               description="Greedy evaluation return vs env steps; runs named NAME-seedN share a "
                                           "curve (mean ± std over seeds).")
    plot.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (with tb/ logs)")
    plot.add_argument("--out", default="curves.png", help="output PNG (default curves.png)")
    plot.add_argument("--title", help="figure title")

    solve = commands.add_parser("solve", help="solve a puzzle with a trained Q* network",
                                description="Batched weighted Q* or A*, beam or greedy search with a cost-to-go "
                                            "checkpoint (default: the network rlkit ships for --puzzle).")
    solve.add_argument("--checkpoint", help="checkpoint of a qstar run (default: the shipped network of --puzzle)")
    solve.add_argument("--puzzle", choices=["sliding_tile", "cube3", "lights_out"],
                       help="the puzzle (must match the checkpoint's; default: the checkpoint's)")
    solve.add_argument("--scramble", type=_number(int, 0, COUNT_MAX), help="solve a seeded random instance scrambled N moves")
    solve.add_argument("--state", help="solve this state (tiles: 16 numbers, 0 the blank; cube3: a move sequence "
                                       "such as \"R U R' U'\" or 54 stickers; lights_out: a 0/1 string)")
    solve.add_argument("--batch", type=_number(int, 1, COUNT_MAX), default=100, help="nodes (A*) or edges (Q*) popped per iteration")
    solve.add_argument("--weight", type=_number(float, 0.0, 1e6), default=0.6, help="lambda in f = lambda*g + h (default 0.6)")
    solve.add_argument("--algo", default="qstar", help="qstar (default), astar, beam or greedy")
    solve.add_argument("--beam-width", type=_number(int, 1, COUNT_MAX), default=10_000,
                       help="states kept per layer by --algo beam (default 10000)")
    solve.add_argument("--max-memory", type=_number(float, 0.0, 1e9, low_open=True),
                       help="qstar/astar: stop when the search tree and closed table would pass this many MB")
    solve.add_argument("--no-shorten", dest="shorten", action="store_false",
                       help="report the path as the search found it (default: loops cut, cancelling moves removed)")
    solve.add_argument("--seed", type=_number(int, 0, SEED_MAX), default=0, help="seed of the --scramble instance")
    solve.add_argument("--max-nodes", type=_number(int, 1, 10**12), help="stop after generating this many nodes")
    solve.add_argument("--max-seconds", type=_number(float, 0.0, 1e9, low_open=True), default=600.0, help="stop after this long (default 600)")
    solve.add_argument("--device", type=_device, default="cpu", help="torch device (default cpu)")

    export = commands.add_parser("export", help="export a checkpoint to ONNX (fp32, int8 or ternary)",
                                 description="Write an .onnx policy and its .json metadata, then check parity with "
                                             "the torch agent on recorded observations.")
    export.add_argument("checkpoint", help="checkpoint .pt file or run directory")
    export.add_argument("--format", default="onnx", choices=["onnx"], help="export format (onnx)")
    export.add_argument("--quantize", choices=["int8", "ternary"], help="int8: static PTQ (or a QAT checkpoint's "
                                                                        "scales); ternary: a ternary-trained checkpoint")
    export.add_argument("--out", help="output .onnx path (default: beside the checkpoint)")
    export.add_argument("--observations", type=_number(int, 1, COUNT_MAX), default=1000, help="parity (and calibration) observations")
    export.add_argument("--force", action="store_true", help="replace an existing .onnx/.json at the output path")
    export.add_argument("--keep-fp32", default="", metavar="LAYERS",
                        help="int8 post-training: layers left in fp32, 'first' and/or 'head' (comma-separated)")

    tuner = commands.add_parser("tune", help="search hyperparameters with Optuna (a study in a database)",
                                description="Optuna study over a config: TPE sampler, median pruner fed by the "
                                            "greedy evaluations; each trial a run directory under --out.")
    tuner.add_argument("config", help="YAML preset the trials start from")
    tuner.add_argument("overrides", nargs="*", help="dotted overrides applied to every trial")
    tuner.add_argument("--trials", type=_number(int, 1, COUNT_MAX), required=True,
                       help="finished trials the study should hold (earlier invocations' count)")
    tuner.add_argument("--study", help="study name (default: the config's file name)")
    tuner.add_argument("--storage", help="SQLAlchemy URL of the study database (default: sqlite file OUT/study.db)")
    tuner.add_argument("--space", help="search space YAML (default: lr, n_step, target_period, exploration)")
    tuner.add_argument("--jobs", type=_number(int, 1, 256), default=1, help="trials at a time in this process")
    tuner.add_argument("--out", help="output directory (default runs/tune/STUDY)")

    importer = commands.add_parser("import-sb3", help="turn a Stable-Baselines3 DQN .zip into an rlkit checkpoint",
                                   description="Convert an SB3 DQN (MlpPolicy) model without unpickling it.")
    importer.add_argument("model", help="SB3 model .zip")
    importer.add_argument("--out", help="output checkpoint (default: MODEL.pt beside the zip)")
    importer.add_argument("--force", action="store_true", help="replace an existing file at the output path")
    importer.add_argument("--env", required=True,
                          help="env id the model was trained on (SB3 zips do not record it; checked against the "
                               "model's spaces)")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rlkit")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    try:  # argparse exits for --help, --version and bad arguments (one line, status 2): return that status
        args, extra = parser.parse_known_args(argv)
        if extra:
            # `rlkit train CONFIG --no-progress agent.lr=1e-3`: overrides may follow the flags
            if args.command in ("train", "tune") and all("=" in item and not item.startswith("-") for item in extra):
                args.overrides = [*args.overrides, *extra]
            else:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "solve":
            return _solve(args)
        if args.command == "export":
            return _export(args)
        if args.command == "import-sb3":
            return _import_sb3(args)
        if args.command == "tune":
            return _tune(args)
        if args.command == "plot":
            from rlkit.plot import plot_runs

            print(f"wrote {plot_runs(args.runs, args.out, args.title)}")
            return 0
    except Interrupted as stop:
        sys.stderr.write(f"rlkit: interrupted: {stop}\n")
        return stop.exit_status
    except RlkitError as error:
        sys.stderr.write(f"rlkit: error: {error}\n")
        return 2
    except BrokenPipeError:  # `rlkit ... | head`: the reader left; say nothing more
        sys.stdout = open(os.devnull, "w")
        return 141
    except KeyboardInterrupt:
        sys.stderr.write("rlkit: interrupted (a second Ctrl-C: no checkpoint of this step); a run continues from its "
                         "last checkpoint with `rlkit train --resume RUN_DIR`\n")
        return 130
    return 0


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlkit.config import load_config
    from rlkit.run import resume, train

    progress = False if args.no_progress else None
    if args.resume:
        # With --resume every positional is an override: `rlkit train --resume RUN k=v` parses k=v as config.
        overrides = ([args.config] if args.config else []) + list(args.overrides)
        result = resume(args.resume, overrides, progress=progress)
    else:
        if not args.config:
            raise RlkitError("rlkit train needs a CONFIG file (e.g. configs/cartpole_dqn.yaml) or --resume RUN_DIR")
        if "=" in args.config and not Path(args.config).exists():
            raise RlkitError(f"'{args.config}' looks like an override; put the CONFIG file first")
        config = load_config(args.config, args.overrides)
        run_dir = config.run_dir or str(Path("runs") / Path(args.config).stem)
        result = train(config, run_dir, progress=progress)
    stop = " (reached train.target_return)" if result.stopped_early else ""
    if result.episodes == 0 and result.warmup_steps == 0 and result.steps == result.updates:  # a puzzle run
        print(f"trained {result.updates:,} updates in {result.seconds:.1f} s{stop}; mean greedy solve rate over "
              f"the evaluation depths {result.eval_mean:.2f}")
    else:
        span = f" (steps {result.start_step:,} to {result.steps:,})" if result.start_step else ""
        print(f"trained {result.steps - result.start_step:,} env steps{span} in {result.seconds:.1f} s{stop}; "
              f"final greedy return {result.eval_mean:.2f} ± {result.eval_std:.2f}")
    print(f"checkpoint: {result.checkpoint}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlkit.run import train
    from rlkit.tune import tune

    if "=" in args.config and not Path(args.config).exists():
        raise RlkitError(f"'{args.config}' looks like an override; put the CONFIG file first")
    report = tune(args.config, args.overrides, args.trials, train, args.study, args.storage, args.space, args.jobs,
                  args.out)
    print(report.table)
    print(f"study '{report.study}' ({report.storage}): {report.finished} finished trials, {report.pruned} pruned; "
          f"best greedy return {report.best_value:.2f} with {report.best_params}")
    print(f"best config: {report.best_config}  (train it with: rlkit train {report.best_config})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlkit import edge

    source = Path(args.checkpoint)
    suffix = f"-{args.quantize}" if args.quantize else ""
    stem = source.parent.parent.name if source.is_file() and source.parent.name == "checkpoints" else source.stem
    default = (source if source.is_dir() else source.parent) / f"{stem}{suffix}.onnx"
    keep = tuple(name.strip() for name in args.keep_fp32.split(",") if name.strip())
    out = Path(args.out) if args.out else default
    if out.is_dir():  # --out DIR: the default file name inside it
        out = out / default.name
    report = edge.export_onnx(args.checkpoint, out, quantize=args.quantize, count=args.observations,
                              keep_fp32=keep, force=args.force)
    print(report.summary())
    advice = report.advice()
    if advice:
        print(advice)
    print(f"metadata: {report.metadata_path}")
    return 0


def _import_sb3(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlkit.interop.sb3 import import_sb3

    out = args.out or str(Path(args.model).with_suffix(".pt"))
    path = import_sb3(args.model, out, env_id=args.env, force=args.force)
    print(f"wrote {path}; evaluate it with: rlkit eval {path}")
    return 0


def _solve(args: argparse.Namespace) -> int:
    from rlkit.solve import solve_puzzle

    report = solve_puzzle(args.checkpoint, args.puzzle, args.scramble, args.state, args.batch, args.weight,
                          args.algo, args.seed, args.max_nodes, args.max_seconds, args.device,
                          beam_width=args.beam_width, max_memory_mb=args.max_memory, shorten=args.shorten)
    status = "solved" if report.solved else f"not solved ({report.stop_reason})"
    print(f"{report.puzzle} with {report.algorithm}: {status}")
    if report.solved:
        print(f"moves ({len(report.moves)}): {' '.join(report.moves) or '(already solved)'}")
        found = f" (the search found {report.found_cost:g}; shortened)" if report.found_cost > report.cost else ""
        print(f"cost: {report.cost:g}{found}")
    memory = f"  bytes/node: {report.bytes_per_node:.0f}" if report.bytes_per_node else ""
    print(f"nodes generated: {report.nodes_generated:,}  iterations: {report.iterations:,}  "
          f"seconds: {report.seconds:.2f}{memory}")
    return 0 if report.solved else 1


def _eval(args: argparse.Namespace) -> int:
    from rlkit.training.evaluate import evaluate_checkpoint, puzzle_solve_rates

    rates = puzzle_solve_rates(args.checkpoint, args.episodes, args.seed)
    if rates is not None:
        shown = "  ".join(f"depth {depth}: {rate:.2f}" for depth, rate in rates.items())
        print(f"greedy solve rate over {args.episodes} scrambles per depth: {shown}")
        return 0

    result = evaluate_checkpoint(args.checkpoint, args.env, args.episodes, args.video, args.seed, args.epsilon,
                                 args.device, args.envs)
    print(f"{result.env_id}: mean return {result.mean:.2f} ± {result.std:.2f} over {len(result.returns)} episodes "
          f"(min {result.returns.min():.1f}, max {result.returns.max():.1f})")
    if result.video_dir:
        print(f"video: {result.video_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
