"""Int8 study: which int8 policy keeps the greedy actions of `make run`'s CartPole agent, and what it costs.

Trains (or reuses) the fp32 agent of configs/cartpole_dqn.yaml per seed, then measures, on the same 1,000 parity
observations from the agent's own greedy rollouts:
  - the fp32 agent's action gaps |Q(s, a1) - Q(s, a2)| relative to |Q| (why post-training int8 cannot keep them),
  - post-training int8 exports with no, the first, the head and both layers kept in fp32 (``--keep-fp32``),
  - int8 quantisation-aware fine-tunes from the fp32 checkpoint (configs/cartpole_dqn_int8.yaml), all layers int8
    and with the head in fp32,
each with greedy agreement against the torch agent it was exported from, against the fp32 agent, weight bytes
and the return over 10 seeded episodes. Prints a markdown table (docs/edge_int8.md holds the last one).

    python scripts/int8_agreement_study.py --seeds 0 1 2        # about 3 minutes per seed on 2 cores
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.training.checkpoint import load_checkpoint  # noqa: E402
from rlkit.config import load_config  # noqa: E402
from rlkit.edge import export_onnx  # noqa: E402
from rlkit.edge.export import PARITY_SEED  # noqa: E402
from rlkit.edge.parity import record_observations  # noqa: E402
from rlkit.training.evaluate import agent_from_checkpoint  # noqa: E402
from rlkit.run import train  # noqa: E402
from rlkit.vec import make_env  # noqa: E402

PTQ = {"PTQ": (), "PTQ, first fp32": ("first",), "PTQ, head fp32": ("head",),
       "PTQ, first + head fp32": ("first", "head")}
QAT = {"QAT fine-tune": [], "QAT fine-tune, head fp32": ["head"]}


def fp32_checkpoint(workdir: Path, seed: int) -> Path:
    """The make-run agent for ``seed``, trained once and reused."""
    final = workdir / f"fp32-seed{seed}" / "checkpoints" / "final.pt"
    if not final.is_file():
        config = load_config(ROOT / "configs" / "cartpole_dqn.yaml", [f"seed={seed}", "threads=1"])
        train(config, final.parents[1], progress=False)
    return final


def qat_checkpoint(workdir: Path, seed: int, teacher: Path, keep: list[str]) -> Path:
    name = "qat-head" if keep else "qat"
    final = workdir / f"{name}-seed{seed}" / "checkpoints" / "final.pt"
    if not final.is_file():
        config = load_config(ROOT / "configs" / "cartpole_dqn_int8.yaml",
                             [f"seed={seed}", f"agent.init_from={teacher}", f"agent.net.keep_fp32={keep}",
                              "threads=1"])
        train(config, final.parents[1], progress=False)
    return final


def gap_quantiles(checkpoint: Path) -> tuple[np.ndarray, float]:
    """Quantiles (1, 5, 10, 50 %) of the fp32 agent's action gap on the parity states, and the mean |Q|."""
    agent, _ = agent_from_checkpoint(load_checkpoint(checkpoint), "cpu")
    env = make_env("CartPole-v1")
    q = agent.q_values(record_observations(agent, env, 1000, seed=PARITY_SEED)).numpy()
    env.close()
    return np.quantile(np.abs(q[:, 0] - q[:, 1]), [0.01, 0.05, 0.1, 0.5]), float(np.abs(q).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workdir", default=str(ROOT / "runs" / "int8_study"))
    args = parser.parse_args()
    workdir = Path(args.workdir)
    rows: dict[str, list[tuple[float, float, float, int]]] = {}
    for seed in args.seeds:
        teacher = fp32_checkpoint(workdir, seed)
        quantiles, mean_q = gap_quantiles(teacher)
        print(f"seed {seed}: fp32 action gap quantiles 1/5/10/50% = "
              f"{', '.join(f'{v:.4f}' for v in quantiles)} at mean |Q| {mean_q:.1f}", flush=True)
        exports = [(name, teacher, keep) for name, keep in PTQ.items()]
        exports += [(name, qat_checkpoint(workdir, seed, teacher, keep), ()) for name, keep in QAT.items()]
        for name, checkpoint, keep in exports:
            out = workdir / f"{name.replace(' ', '_').replace(',', '').replace('+', 'and')}-seed{seed}.onnx"
            report = export_onnx(checkpoint, out, quantize="int8", keep_fp32=keep, force=True)
            versus_fp32 = report.reference.agreement if report.reference else report.agreement
            fp32_return = (report.reference.returns.agent_return if report.reference else
                           report.returns.agent_return)
            rows.setdefault(name, []).append((report.agreement, versus_fp32, report.returns.policy_return,
                                              report.weight_bytes))
            print(f"  {name}: agreement {report.agreement:.1%} with its torch agent, {versus_fp32:.1%} with fp32; "
                  f"return {report.returns.policy_return:.1f} (fp32 {fp32_return:.1f})", flush=True)
    print(f"\n| int8 policy ({len(args.seeds)} seed{'s' if len(args.seeds) > 1 else ''}) | agreement with its torch "
          "agent | agreement with the fp32 agent | return (10 episodes) | weight bytes |")
    print("|---|---|---|---|---|")
    for name, values in rows.items():
        own, fp32, returns, size = (np.array(column) for column in zip(*values))
        print(f"| {name} | {own.mean():.1%} | {fp32.mean():.1%} | {returns.mean():.1f} | {int(size.mean()):,} |")


if __name__ == "__main__":
    main()
