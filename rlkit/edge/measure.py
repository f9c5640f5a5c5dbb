"""Cost of a checkpoint or an exported policy, and torch's own latency for comparison.

    report = cost("runs/jamming/checkpoints/final.pt")     # exported to a temporary .onnx first; or pass an .onnx
    print(report.summary(), torch_latency_us(agent.online, agent.obs_shape))

The counting itself is ``rlkit.edge.cost_model`` (an ONNX graph in, counts out).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .cost_model import CostReport, example_obs, onnx_cost
from .export import export_checkpoint


def cost(source: str | Path, latency_runs: int = 1000, threads: int = 1, quantize: str | None = None) -> CostReport:
    """Cost of an exported ``.onnx`` policy, or of a checkpoint (exported to a temporary file first, no parity check;
    ``quantize`` as in ``export_checkpoint``, int8 calibrated on the agent's rollouts).

    latency_runs: timed batch-1 runs (0 skips the measurement). Raises RlkitError for an unusable source.
    """
    source = Path(source)
    if source.suffix == ".onnx":
        return onnx_cost(source, latency_runs, threads)
    with tempfile.TemporaryDirectory() as scratch:
        exported = export_checkpoint(source, Path(scratch) / "policy.onnx", quantize=quantize, parity=False)
        report = onnx_cost(exported.onnx_path, latency_runs, threads)
    report.onnx_path = f"{source} (exported to a temporary file)"
    return report


def torch_latency_us(network: Any, obs_shape: tuple[int, ...], runs: int = 1000, threads: int = 1,
                     warmup: int = 100) -> float:
    """Median wall time of one batch-1 eager forward of a torch network (inference mode), in microseconds."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        obs = torch.as_tensor(example_obs(obs_shape, np.float32))[None]
        timings = []
        with torch.inference_mode():
            for _ in range(warmup):
                network(obs)
            for _ in range(runs):
                start = time.perf_counter_ns()
                network(obs)
                timings.append(time.perf_counter_ns() - start)
    finally:
        torch.set_num_threads(previous)
    return statistics.median(timings) / 1000.0
