"""Search-time inference of a cost-to-go network: torch fp32, torch bf16 and onnxruntime fp32, side by side.

Q*, A* and beam search spend most of their time in one batched network call per iteration. This scores the same
encoded states (a seeded set of scrambles) through each path, alternating the paths for ``--rounds`` rounds, and
prints the median milliseconds per call and states per second at each batch size, with each path's ratio to torch
fp32 and the largest |Q| difference from it. The agent's own ``q_numpy`` (what ``rlkit solve`` calls) runs at
``agent.precision``, which ``auto`` sets to bf16 where the CPU has bf16 arithmetic.

    python scripts/bench_qstar_inference.py --checkpoint shipped:cube3 --batches 100,1000,10000 --threads 2

onnxruntime (the ``edge`` extra) is skipped with a note when it is not installed; bf16 is skipped on a CPU
without AVX512-BF16/AMX (torch would emulate it, slower than fp32).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlkit.agents.qstar import load_qstar_agent  # noqa: E402
from rlkit.device import bf16_native  # noqa: E402
from rlkit.envs.puzzles.shipped import resolve_checkpoint  # noqa: E402


def torch_path(network: torch.nn.Module, bf16: bool):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return network(torch.from_numpy(x)).float().numpy()
    return run


def onnx_path(network: torch.nn.Module, width: int, threads: int, folder: Path):
    try:
        import onnxruntime
    except ImportError:
        return None
    path = folder / "q.onnx"
    torch.onnx.export(network, (torch.zeros(1, width),), str(path), dynamo=False, input_names=["x"],
                      output_names=["q"], dynamic_axes={"x": {0: "batch"}, "q": {0: "batch"}})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="shipped:cube3", help="a Q* checkpoint or shipped:PUZZLE")
    parser.add_argument("--batches", default="100,1000,10000")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    agent = load_qstar_agent(resolve_checkpoint(args.checkpoint))
    network = agent.online.eval()
    batches = [int(b) for b in args.batches.split(",")]
    rng = np.random.default_rng(args.seed)
    states = agent.puzzle.scramble(max(batches), 1000, rng)
    encoded = agent.puzzle.encode(states, torch.device("cpu")).float().numpy()
    with tempfile.TemporaryDirectory() as folder:
        paths = {"torch fp32": torch_path(network, False)}
        if bf16_native(torch.device("cpu")):
            paths["torch bf16"] = torch_path(network, True)
        ort = onnx_path(network, encoded.shape[1], args.threads, Path(folder))
        if ort is not None:
            paths["onnxruntime fp32"] = ort
        print("command: python scripts/bench_qstar_inference.py " + " ".join(sys.argv[1:] if argv is None else argv))
        print(f"{agent.puzzle_config.name}, {sum(p.numel() for p in network.parameters()) / 1e6:.2f}M parameters, "
              f"{args.threads} threads, agent.precision resolves to {agent.precision}; "
              f"{'' if 'torch bf16' in paths else 'no bf16 hardware: bf16 row skipped; '}"
              f"{'' if ort else 'onnxruntime not installed: its row skipped'}\n")
        print("| batch | path | ms / call | states / s | vs torch fp32 | max abs diff of Q |")
        print("|---|---|---|---|---|---|")
        for batch in batches:
            x = np.ascontiguousarray(encoded[:batch])
            reference = paths["torch fp32"](x)
            times: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(args.rounds):  # alternate the paths so drift hits them alike
                for name, run in paths.items():
                    run(x)  # warm (first call of a shape pays for allocation)
                    started = time.perf_counter()
                    run(x)
                    times[name].append(time.perf_counter() - started)
            base = statistics.median(times["torch fp32"])
            for name, run in paths.items():
                median = statistics.median(times[name])
                diff = float(np.abs(run(x) - reference).max())
                print(f"| {batch:,} | {name} | {1e3 * median:.1f} | {batch / median:,.0f} | {base / median:.2f}x | "
                      f"{diff:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
