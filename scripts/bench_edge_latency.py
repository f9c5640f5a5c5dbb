"""Batch-1 decision latency of the same MLP Q-network: PyTorch eager (fp32) vs onnxruntime (fp32, int8, ternary).

    python scripts/bench_edge_latency.py                 # ~20 s; --runs 5000 for steadier medians

One decision = one observation in, Q-values out: what an edge device does each step. Both sides run with one
intra-op thread, inputs already in place (no Python pre-processing timed); the median of --runs calls after warm-up.
Weights are random (latency does not depend on them); int8 is onnxruntime's post-training quantisation calibrated on
random observations, ternary the export of a (randomly initialised) ternary QAT network. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from rlkit.agents.common import save_agent_checkpoint
from rlkit.agents.registry import build_agent
from rlkit.config import load_config
from rlkit.edge import cost, export_onnx, torch_latency_us

NETWORKS = {  # name: (obs size, hidden widths, actions)
    "CartPole MLP 4-256-256-2": (4, [256, 256], 2),
    "Jamming MLP 16-256-256-8": (16, [256, 256], 8),
    "small MLP 8-64-64-8": (8, [64, 64], 8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"\nbatch-1 latency, median of {args.runs:,} calls, {args.threads} thread(s), "
          f"torch {torch.__version__}\n")
    print("| network | PyTorch eager fp32 (us) | onnxruntime fp32 (us) | ratio | onnxruntime int8 (us) | "
          "onnxruntime ternary (us) | PyTorch eager ternary QAT (us) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for name, (obs_size, hidden, actions) in NETWORKS.items():
            row = bench(Path(scratch), obs_size, hidden, actions, args)
            print(f"| {name} | {row['torch']:.1f} | {row['fp32']:.1f} | {row['fp32'] / row['torch']:.2f}x | "
                  f"{row['int8']:.1f} | {row['ternary']:.1f} | {row['torch_ternary']:.1f} |")


def bench(scratch: Path, obs_size: int, hidden: list[int], actions: int, args) -> dict[str, float]:
    calibration = np.random.default_rng(0).standard_normal((512, obs_size)).astype(np.float32)
    row = {}
    for quant in ("none", "ternary"):
        config = load_config(None, [f"agent.net.hidden={hidden}", f"agent.net.quant={quant}", "device=cpu"])
        agent = build_agent(config, (obs_size,), "float32", actions, torch.device("cpu"))
        checkpoint = save_agent_checkpoint(agent, config, scratch / f"{quant}.pt")
        network = agent.online.eval()
        if quant == "none":
            row["torch"] = torch_latency_us(network, (obs_size,), runs=args.runs, threads=args.threads)
            for label, quantize in (("fp32", None), ("int8", "int8")):
                export_onnx(checkpoint, scratch / f"{label}.onnx", quantize=quantize, calibration=calibration,
                            observations=calibration)
                row[label] = cost(scratch / f"{label}.onnx", latency_runs=args.runs, threads=args.threads).latency_us
        else:
            row["torch_ternary"] = torch_latency_us(network, (obs_size,), runs=args.runs, threads=args.threads)
            export_onnx(checkpoint, scratch / "ternary.onnx", observations=calibration)
            row["ternary"] = cost(scratch / "ternary.onnx", latency_runs=args.runs, threads=args.threads).latency_us
    return row


if __name__ == "__main__":
    main()
