"""Anti-jamming study after Ali, Naser & Muhaidat (arXiv 2307.06796): five DQN variants x four jammers x seeds,
then the best agent made small (int8, ternary, a distilled student) and costed for an edge device.

    python scripts/jamming_study.py                                  # defaults: about 25 min on 2 free cores
    python scripts/jamming_study.py --steps 4000 --seeds 1 --jammers constant,sweeping --no-cartpole   # a look

Prints ONE markdown table: return per jammer type (greedy, mean +- std over seeds), training episodes to reach 95%
of the best variant's return, parameters, weight bytes, MACs, batch-1 onnxruntime latency and the arithmetic
energy estimate per decision (rlkit.edge.cost_model); then the edge targets, checked. Draws the Pareto plot (return
vs weight bytes and vs energy) into docs/jamming_pareto.png. Runs finished earlier under --out are reused.

Variant rows: each agent is trained and evaluated on one jammer type. Edge rows: the best variant trained on the
dynamic jammer (a type drawn per episode), evaluated on every type; its int8 (post-training, and QAT) and ternary
(QAT) versions and a distilled student. CartPole-v1 rows repeat the fp32 / int8 / ternary check on a second env,
with int8 and ternary students distilled from the fp32 agent (QAT on its outputs) beside int8 and ternary QAT by TD
learning from scratch, each the mean +- std over ``--cartpole-seeds`` seeds. Every CartPole run stops once it is solved
(a greedy evaluation averaging 475), so fp32 and quantised rows compare solved policies.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import io
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "configs" / "jamming_dqn.yaml"
CARTPOLE = ROOT / "configs" / "cartpole_dqn.yaml"
JAMMERS = ("constant", "sweeping", "random", "dynamic")
EVAL_SEED = 5_000_000  # evaluation episodes: far from training and export seeds
VARIANTS = {  # the paper's five agents, as overrides of configs/jamming_dqn.yaml
    "DQN": ["agent.name=dqn", "agent.target_period=1"],  # no fixed target: the target is the online net
    "DQN + fixed Q-targets": ["agent.name=dqn"],
    "Double DQN": ["agent.name=double_dqn"],
    "Dueling Double DQN": ["agent.name=double_dueling_dqn"],
    # Prioritised replay (Schaul et al., 2016) is rlkit.prioritized via replay.prioritized (built by the lead).
    "Double DQN + PER": ["agent.name=double_dqn", "replay.prioritized=true"],
}


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    jammers = args.jammers.split(",")
    wanted = {name.strip().lower() for name in args.variants.split(",")}
    variants = [v for v in VARIANTS if args.variants == "all" or v.lower() in wanted]
    if not variants:
        sys.exit(f"--variants: none of {args.variants!r} is one of {', '.join(VARIANTS)}")
    jobs = [("jamming", variant, VARIANTS[variant], jammer, seed)
            for variant in variants for jammer in jammers for seed in range(args.seeds)]
    runs = run_parallel(jobs, args)
    best_return = {j: max((np.mean([runs[(v, j, s)]["return"] for s in range(args.seeds)]) for v in variants
                           if all("return" in runs[(v, j, s)] for s in range(args.seeds))), default=np.nan)
                   for j in jammers}
    rows = [variant_row(v, jammers, args.seeds, runs, best_return) for v in variants]
    best = max((r for r in rows if np.isfinite(r["score"])), key=lambda r: r["score"])
    edge_jammer = "dynamic" if "dynamic" in jammers else jammers[0]
    rows += edge_rows(best["name"], edge_jammer, jammers, runs, args)
    if args.cartpole:
        rows += cartpole_rows(args)
    print_table(rows, jammers, args)
    check_targets(rows)
    draw_pareto(rows, Path(args.docs) / "jamming_pareto.png")
    print(f"\n{len(jobs)} training runs, {time.perf_counter() - started:.0f} s in all", file=sys.stderr)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per training run (100 per episode)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jammers", default=",".join(JAMMERS))
    parser.add_argument("--variants", default="all", help="comma-separated variant names, or all")
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="training processes (one torch thread each)")
    parser.add_argument("--student-hidden", default="[32]", help="hidden widths of the distilled student")
    parser.add_argument("--cartpole", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--cartpole-steps", type=int, default=30_000)
    parser.add_argument("--cartpole-seeds", type=int, default=3, help="seeds of every CartPole row (mean +- std)")
    parser.add_argument("--latency-runs", type=int, default=2000)
    parser.add_argument("--out", default=str(ROOT / "runs" / "jamming_study"))
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    return parser.parse_args()


# -- training runs (in worker processes) --------------------------------------------------------------------------
def run_parallel(jobs: list[tuple], args: argparse.Namespace) -> dict[tuple, dict]:
    context = multiprocessing.get_context("spawn")
    results = {}
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        futures = {pool.submit(train_run, job, args.steps if job[0] == "jamming" else args.cartpole_steps,
                               args.out, args.eval_episodes): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            kind, variant, _, jammer, seed = futures[future]
            result = future.result()
            results[(variant, jammer, seed)] = result
            shown = f"return {result['return']:.1f}" if "return" in result else f"FAILED: {result['error']}"
            print(f"[{len(results)}/{len(jobs)}] {variant} / {jammer} / seed {seed}: {shown} "
                  f"({result['seconds']:.0f} s)", file=sys.stderr, flush=True)
    return results


def train_run(job: tuple, steps: int, out: str, episodes: int) -> dict:
    """Train (or reuse) one run and evaluate its final checkpoint greedily. Runs in a worker process."""
    import torch

    from rlkit.config import ReplayConfig, load_config
    from rlkit.training.evaluate import load_agent
    from rlkit.run import train

    torch.set_num_threads(1)
    kind, variant, overrides, jammer, seed = job
    started = time.perf_counter()
    if any(o.startswith("replay.prioritized") for o in overrides) and "prioritized" not in ReplayConfig.model_fields:
        return {"error": "replay.prioritized is not available in this rlkit", "seconds": 0.0}
    slug = variant.lower().replace(" ", "_").replace("+", "plus")
    run_dir = Path(out) / kind / slug / jammer / f"seed{seed}"
    if kind == "jamming":
        preset, schedule = PRESET, [f"env.kwargs.jammer={jammer}", "train.eval_every=0"]
    else:
        # DQN on CartPole can end a run on a dip (README, "Distributed learning"): every CartPole run, fp32 or
        # quantised, stops once a greedy evaluation averages CartPole's "solved" 475, so the rows compare solved
        # policies (a run that never gets there ends at total_steps).
        preset, schedule = CARTPOLE, ["train.eval_every=2500", "train.eval_episodes=10", "train.target_return=475"]
    config = load_config(preset, [*overrides, *schedule, f"seed={seed}", f"train.total_steps={steps}",
                                  "train.checkpoint_every=0", f"run_dir={run_dir}"])
    checkpoint = run_dir / "checkpoints" / "final.pt"
    try:
        if not checkpoint.is_file():
            with contextlib.redirect_stdout(io.StringIO()):  # the trainer's log lines would break up the table
                train(config, progress=False)
        agent = load_agent(checkpoint)
        score = evaluate(agent, config.env.id, config.env.kwargs, episodes)
    except Exception as error:  # one failed variant (e.g. a replay option still being built) must not sink the study
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:120]}",
                "seconds": time.perf_counter() - started}
    return {"return": score, "curve": episode_returns(run_dir), "checkpoint": str(checkpoint),
            "seconds": time.perf_counter() - started}


def evaluate(actor, env_id: str, env_kwargs: dict, episodes: int) -> float:
    """Mean greedy return of an agent or an ONNX Policy (both have act(obs, epsilon))."""
    from rlkit.training.evaluate import run_episodes
    from rlkit.vec import make_env

    env = make_env(env_id, env_kwargs=env_kwargs)
    try:
        returns, _ = run_episodes(actor, env, episodes, seed=EVAL_SEED)
    finally:
        env.close()
    return float(returns.mean())


def episode_returns(run_dir: Path) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return [event.value for event in events.Scalars("charts/episodic_return")]


def episodes_to_reach(curve: list[float], level: float, window: int = 10) -> int | None:
    """First training episode at which the moving average of `window` episodic returns reaches `level`."""
    if len(curve) < window:
        return None
    average = np.convolve(curve, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(average >= level)
    return int(hits[0]) + window if len(hits) else None


# -- table rows ---------------------------------------------------------------------------------------------------
def variant_row(variant: str, jammers: list[str], seeds: int, runs: dict, best_return: dict) -> dict:
    from rlkit.edge import cost

    returns, reach = {}, {}
    for jammer in jammers:
        done = [runs[(variant, jammer, s)] for s in range(seeds) if "return" in runs[(variant, jammer, s)]]
        if not done:
            returns[jammer] = reach[jammer] = None
            continue
        returns[jammer] = (np.mean([r["return"] for r in done]), np.std([r["return"] for r in done]))
        hits = [episodes_to_reach(r["curve"], 0.95 * best_return[jammer]) for r in done]
        reached = [h for h in hits if h is not None]
        reach[jammer] = f"{np.mean(reached):.0f}{'+' if len(reached) < len(hits) else ''}" if reached else "never"
    row = {"name": variant, "returns": returns, "reach": reach, "kind": "variant"}
    finished = [runs[(variant, j, 0)] for j in jammers if "checkpoint" in runs[(variant, j, 0)]]
    if finished:
        row["cost"] = cost(finished[-1]["checkpoint"], latency_runs=200)
    valid = [m for m, _ in filter(None, returns.values())]
    row["score"] = float(np.mean(valid)) if len(valid) == len(jammers) else float("nan")
    row["plot"] = returns["dynamic"][0] if returns.get("dynamic") else row["score"]
    return row


def edge_rows(variant: str, train_jammer: str, jammers: list[str], runs: dict, args) -> list[dict]:
    """fp32 / int8 PTQ / int8 QAT / ternary QAT / distilled student of `variant` trained on `train_jammer`."""
    from rlkit.edge import cost, export_onnx, load_policy

    seed = max(range(args.seeds), key=lambda s: runs[(variant, train_jammer, s)].get("return", -np.inf))
    base = runs[(variant, train_jammer, seed)]
    qat_jobs = [("jamming", f"{variant} {mode}", [*VARIANTS[variant], f"agent.net.quant={mode}"], train_jammer, seed)
                for mode in ("int8", "ternary")]
    qat = run_parallel(qat_jobs, args)
    out = Path(args.out) / "edge"
    student_path, config = distill_checkpoint(base["checkpoint"], f"agent.net.hidden={args.student_hidden}",
                                              [(20_000, 0.1, 1)], out / "student.pt", loss="kl", temperature=0.01)
    exports = [
        (f"{variant} fp32", base["checkpoint"], None),
        (f"{variant} int8 (post-training)", base["checkpoint"], "int8"),
        (f"{variant} int8 (QAT)", qat[(f"{variant} int8", train_jammer, seed)].get("checkpoint"), "int8"),
        (f"{variant} ternary (QAT)", qat[(f"{variant} ternary", train_jammer, seed)].get("checkpoint"), "ternary"),
        (f"student {args.student_hidden} fp32 (distilled)", student_path, None),
        (f"student {args.student_hidden} int8 (distilled)", student_path, "int8"),
    ]
    rows = []
    for index, (name, checkpoint, quantize) in enumerate(exports):
        if checkpoint is None:
            continue
        onnx_path = out / f"policy{index}.onnx"
        report = export_onnx(checkpoint, onnx_path, quantize=quantize, force=True)
        policy = load_policy(onnx_path)
        returns = {j: (evaluate(policy, config.env.id, {**config.env.kwargs, "jammer": j}, args.eval_episodes), 0.0)
                   for j in jammers}
        score = float(np.mean([m for m, _ in returns.values()]))
        rows.append({"name": name, "variant": variant, "returns": returns, "reach": {}, "kind": "edge",
                     "agreement": report.agreement,
                     "cost": cost(onnx_path, latency_runs=args.latency_runs), "score": score,
                     "plot": returns["dynamic"][0] if "dynamic" in returns else score})
    rows[0]["torch_latency_us"] = torch_eager_latency(base["checkpoint"], args.latency_runs)
    return rows


def cartpole_rows(args) -> list[dict]:
    """fp32 / int8 PTQ / int8 and ternary QAT from scratch, and int8 and ternary students distilled from fp32.

    Each row is the mean +- std over ``--cartpole-seeds`` seeds (a CartPole agent's greedy return swings from seed
    to seed, and a quantised copy inherits its teacher's near-tied action values); the kept-return targets compare
    seed means; greedy agreement is the seed mean too. Costs are the first seed's (all seeds share the architecture).
    """
    from rlkit.edge import cost, export_onnx, load_policy

    seeds = range(args.cartpole_seeds)
    jobs = [("cartpole", f"CartPole {name}", [f"agent.net.quant={name}"] if name != "fp32" else [], "CartPole-v1",
             seed) for name in ("fp32", "int8", "ternary") for seed in seeds]
    runs = run_parallel(jobs, args)
    out = Path(args.out) / "edge"
    # per row, in table order: the return and greedy agreement of each seed's export, and the first seed's cost
    measured: dict[str, dict] = {name: {"returns": [], "agreements": [], "cost": None} for name in (
        "CartPole fp32", "CartPole int8 (post-training)", "CartPole int8 (QAT)", "CartPole ternary (QAT)",
        "CartPole int8 (QAT, distilled)", "CartPole ternary (QAT, distilled)")}
    for seed in seeds:
        fp32 = runs[("CartPole fp32", "CartPole-v1", seed)].get("checkpoint")
        exports = [("CartPole fp32", fp32, None), ("CartPole int8 (post-training)", fp32, "int8"),
                   ("CartPole int8 (QAT)", runs[("CartPole int8", "CartPole-v1", seed)].get("checkpoint"), "int8"),
                   ("CartPole ternary (QAT)", runs[("CartPole ternary", "CartPole-v1", seed)].get("checkpoint"),
                    "ternary")]
        if fp32 is not None:
            # QAT by distillation on 30,000 teacher observations (greedy, epsilon 0.1 and 0.3, so off-policy states
            # are covered): supervised targets sidestep what makes TD-learned ternary QAT hard on CartPole, a rounded
            # network that starts far from any good policy re-learning near-tied action values from its own bootstrap.
            # The int8 student regresses the teacher's Q-values; the ternary one matches its policy,
            # softmax(Q / 0.01) (Rusu et al., 2016): CartPole's action gaps (median 0.14 at Q ~ 95) are finer than
            # what ternary weights keep of the values (regressing them kept 62% of the return, matching the policy
            # 100%), while int8 keeps the values well enough and regressing them did better there (500 vs 492).
            rollouts = [(10_000, epsilon, 100 * (i + 1) + 7 * seed) for i, epsilon in enumerate((0.0, 0.1, 0.3))]
            for mode, loss in (("int8", "mse"), ("ternary", "kl")):
                student = distill_checkpoint(fp32, f"agent.net.quant={mode}", rollouts,
                                             out / f"cartpole_{mode}_distilled_seed{seed}.pt", loss=loss,
                                             temperature=0.01)[0]
                exports.append((f"CartPole {mode} (QAT, distilled)", student, mode))
        for index, (name, checkpoint, quantize) in enumerate(exports):
            if checkpoint is None:
                continue
            onnx_path = out / f"cartpole{index}_seed{seed}.onnx"
            report = export_onnx(checkpoint, onnx_path, quantize=quantize, force=True)
            record = measured[name]
            record["returns"].append(evaluate(load_policy(onnx_path), "CartPole-v1", {}, args.eval_episodes))
            record["agreements"].append(report.agreement)
            print(f"{name} / seed {seed}: return {record['returns'][-1]:.1f}, greedy agreement "
                  f"{report.agreement:.1%}", file=sys.stderr, flush=True)
            if record["cost"] is None:
                record["cost"], record["checkpoint"] = cost(onnx_path, latency_runs=args.latency_runs), checkpoint
    rows = []
    for name, record in measured.items():
        values = record["returns"]
        if not values:
            continue
        rows.append({"name": name, "returns": {}, "cartpole": (float(np.mean(values)), float(np.std(values))),
                     "reach": {}, "kind": "cartpole", "agreement": float(np.mean(record["agreements"])),
                     "cost": record["cost"], "score": float(np.mean(values)), "seeds": len(values)})
    if rows and rows[0]["name"] == "CartPole fp32":
        # the checkpoint whose ONNX export gave the row's cost (seed 0's unless that run failed)
        rows[0]["torch_latency_us"] = torch_eager_latency(measured["CartPole fp32"]["checkpoint"], args.latency_runs)
    return rows


def distill_checkpoint(teacher_checkpoint: str, override: str, rollouts: list[tuple[int, float, int]],
                       path: Path, loss: str = "mse", temperature: float = 1.0) -> tuple[Path, object]:
    """Distil the agent at ``teacher_checkpoint`` into a student whose config is the teacher's with ``override``
    (a smaller network, or ``agent.net.quant=...`` for QAT by distillation) on the teacher's own observations: one
    rollout set per (count, epsilon, seed). ``loss``: 'mse' regresses the teacher's Q-values, 'kl' matches its
    softmax(Q / temperature) policy (``rlkit.edge.distill``). Returns (the student's checkpoint path, the
    teacher's preset-resolved config, as trained)."""
    from rlkit.agents.common import save_agent_checkpoint
    from rlkit.edge.distill import distill
    from rlkit.training.checkpoint import load_checkpoint
    from rlkit.config import apply_overrides, config_from_dict
    from rlkit.edge import record_observations
    from rlkit.training.evaluate import load_agent
    from rlkit.vec import make_env

    teacher = load_agent(teacher_checkpoint)
    config = config_from_dict(load_checkpoint(teacher_checkpoint)["config"])
    env = make_env(config.env.id, env_kwargs=config.env.kwargs)
    observations = np.concatenate([record_observations(teacher, env, count, epsilon=epsilon, seed=seed)
                                   for count, epsilon, seed in rollouts])
    env.close()
    student_config = apply_overrides(config, [override])
    student = distill(teacher, student_config, observations, epochs=30, loss=loss, temperature=temperature)
    return save_agent_checkpoint(student, student_config, path), config


def torch_eager_latency(checkpoint: str, runs: int) -> float:
    from rlkit.edge import torch_latency_us
    from rlkit.training.evaluate import load_agent

    agent = load_agent(checkpoint)
    return torch_latency_us(agent.online.eval(), agent.obs_shape, runs=runs)


# -- output -------------------------------------------------------------------------------------------------------
def print_table(rows: list[dict], jammers: list[str], args) -> None:
    def cell(value) -> str:
        return "—" if value is None else f"{value[0]:.1f} ± {value[1]:.1f}" if value[1] else f"{value[0]:.1f}"

    header = ["agent", *[f"return: {j}" for j in jammers], "return: CartPole", "episodes to 95% (" +
              "/".join(j[0] for j in jammers) + ")", "params", "weight bytes", "MACs", "latency (us)",
              "energy (nJ)"]
    print(f"\nJamming-v0 study: {args.steps:,} steps per run, {args.seeds} seeds, {args.eval_episodes} greedy "
          "evaluation episodes; cost per decision at batch 1 (energy: arithmetic estimate, Horowitz 45 nm)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        c = row.get("cost")
        costs = ["—"] * 5 if c is None else [f"{c.parameters:,}", f"{c.weight_bytes:,}", f"{c.macs:,}",
                                            f"{c.latency_us:.1f}", f"{c.energy_pj / 1000:.1f}"]
        reach = "/".join(str(row["reach"].get(j) or "—") for j in jammers) if row["reach"] else "—"
        cartpole = cell(row["cartpole"]) if "cartpole" in row else "—"
        print("| " + " | ".join([row["name"], *[cell(row["returns"].get(j)) for j in jammers], cartpole, reach,
                                 *costs]) + " |")


def check_targets(rows: list[dict]) -> None:
    def find(prefix_kind: str, suffix: str) -> dict | None:
        return next((r for r in rows if r["kind"] == prefix_kind and r["name"].endswith(suffix)), None)

    print("\nTargets (return kept vs the fp32 agent; weight bytes at stored precision):")
    for kind in ("edge", "cartpole"):
        fp32 = find(kind, "fp32") if kind == "cartpole" else next((r for r in rows if r["kind"] == "edge"), None)
        if fp32 is None:
            continue
        for suffix, keep, shrink in (("int8 (post-training)", 0.98, 3.5), ("int8 (QAT)", 0.98, 3.5),
                                     ("ternary (QAT)", 0.90, 12.0), ("int8 (QAT, distilled)", 0.98, 3.5),
                                     ("ternary (QAT, distilled)", 0.90, 12.0)):
            row = find(kind, suffix)
            if row is None:
                continue
            kept = row["score"] / fp32["score"]
            smaller = fp32["cost"].weight_bytes / row["cost"].weight_bytes
            ok = kept >= keep and smaller >= shrink
            over = f" (means over {row['seeds']} seeds)" if row.get("seeds", 1) > 1 else ""
            print(f"- {row['name']}: keeps {kept:.1%} of the return{over} (target {keep:.0%}), {smaller:.2f}x fewer "
                  f"weight bytes (target {shrink}x), greedy agreement with torch {row['agreement']:.1%}: "
                  f"{'PASS' if ok else 'MISS'}")
        if "torch_latency_us" in fp32:
            ratio = fp32["cost"].latency_us / fp32["torch_latency_us"]
            print(f"- {fp32['name']}: onnxruntime {fp32['cost'].latency_us:.1f} us vs PyTorch eager "
                  f"{fp32['torch_latency_us']:.1f} us at batch 1 = {ratio:.2f}x (target <= 0.5x): "
                  f"{'PASS' if ratio <= 0.5 else 'MISS'}")


def draw_pareto(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in rows if r.get("cost") is not None and r["kind"] != "cartpole" and np.isfinite(r["plot"])]
    if not points:
        return
    figure, axes = plt.subplots(1, 2, figsize=(13, 5))
    for axis, measure, axis_label in ((axes[0], lambda c: c.weight_bytes, "weight bytes (stored precision)"),
                                 (axes[1], lambda c: c.energy_pj / 1000, "arithmetic energy per decision (nJ)")):
        xs = np.array([measure(r["cost"]) for r in points])
        ys = np.array([r["plot"] for r in points])
        for row, x, y in zip(points, xs, ys):
            axis.scatter(x, y, marker="o" if row["kind"] == "edge" else "s",
                         color="tab:blue" if row["kind"] == "edge" else "tab:gray")
            label = row["name"].removeprefix(row.get("variant", "")).strip()  # edge rows: "int8 (QAT)", ...
            axis.annotate(label, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
        order = np.argsort(xs)
        front_x, front_y, best = [], [], -np.inf
        for i in order:  # non-dominated: nothing cheaper has a higher return
            if ys[i] > best:
                front_x.append(xs[i])
                front_y.append(ys[i])
                best = ys[i]
        axis.step(front_x, front_y, where="post", color="tab:red", alpha=0.6, label="Pareto front")
        axis.set_xscale("log")
        axis.set_xlim(xs.min() / 2, xs.max() * 8)  # room for the labels of the right-most points
        axis.set_xlabel(axis_label)
        axis.set_ylabel("greedy return, dynamic jammer")
        axis.legend(loc="lower right")
    variant = next((r["variant"] for r in points if "variant" in r), "the best agent")
    figure.suptitle(f"rlkit/Jamming-v0: return vs cost (blue: edge versions of {variant}; grey: the five variants)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    print(f"\nPareto plot: {path}")


if __name__ == "__main__":
    main()
