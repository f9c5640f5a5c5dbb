"""What a policy costs on a device: parameters, MACs per decision, weight bytes, latency, arithmetic energy.

    report = onnx_cost("jamming.onnx")                      # rlkit.edge.cost also takes a checkpoint
    print(report.summary())

This module reads ONNX graphs and nothing else; ``rlkit.edge.measure`` exports checkpoints first and times torch.

Counting, per Gemm / MatMul / Conv layer of the ONNX graph (batch 1, one decision):
* parameters: weight and bias elements.
* MACs: multiply-accumulates, in_features x out_features for a linear layer; C_out x H_out x W_out x C_in/groups x
  k_h x k_w for a convolution. Non-linearities, reshapes, the dueling mean and quantise/dequantise steps are not
  counted.
* weight bytes, at the stored precision: fp32 4 bytes; int8 1 byte; ternary 2 bits per weight (4 weights per byte,
  what a packed deployment stores; the .onnx file itself keeps them as int8, since onnxruntime has no 2-bit type);
  biases at their stored type (fp32, or int32 after onnxruntime's int8 quantisation); plus the scales and zero points
  that dequantise weights and biases. Activation scales (a few bytes per layer) are not counted.
* energy: an estimate of arithmetic energy only, from Horowitz (ISSCC 2014, 45 nm): 8-bit integer multiply 0.2 pJ,
  add 0.03 pJ; 32-bit float multiply 3.7 pJ, add 0.9 pJ. Per layer:
    fp32:    MACs x (3.7 + 0.9)
    int8:    MACs x (0.2 + 0.03) + outputs x 3.7   (one float multiply per output rescales the integer accumulator)
    ternary: nonzero weights x 0.03 + outputs x 3.7 (a weight of +-1 turns its multiply into an add or subtract of an
             int8 activation; zero weights are skipped; the rescale by gamma x activation scale is one float multiply)
  Wider accumulators, memory traffic (which dominates real inference energy), activation quantisation and
  non-linearities are not counted, so compare these numbers with each other, not with a power meter.
* latency: median over ``runs`` batch-1 ``session.run`` calls in onnxruntime (one intra-op thread), after warm-up.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

PJ = {"int8_mult": 0.2, "int8_add": 0.03, "fp32_mult": 3.7, "fp32_add": 0.9}  # Horowitz, ISSCC 2014, 45 nm


@dataclass
class LayerCost:
    """One weighted layer of a graph."""

    name: str
    op: str
    precision: str  # "fp32", "int8" or "ternary"
    parameters: int  # weights + biases
    weights: int
    macs: int
    outputs: int  # output elements per decision
    nonzero_weights: int
    weight_bytes: int

    @property
    def energy_pj(self) -> float:
        if self.precision == "fp32":
            return self.macs * (PJ["fp32_mult"] + PJ["fp32_add"])
        if self.precision == "int8":
            return self.macs * (PJ["int8_mult"] + PJ["int8_add"]) + self.outputs * PJ["fp32_mult"]
        # a linear layer uses each weight once per decision, so its adds are its nonzero weights
        adds = self.macs * self.nonzero_weights / max(self.weights, 1)
        return adds * PJ["int8_add"] + self.outputs * PJ["fp32_mult"]


@dataclass
class CostReport:
    """Cost of one decision (batch 1) of an exported policy; see the module docstring for how each is counted."""

    onnx_path: str
    precision: str  # "fp32", "int8", "ternary" or "mixed"
    parameters: int
    macs: int
    weight_bytes: int
    fp32_weight_bytes: int
    energy_pj: float  # arithmetic energy estimate per decision, picojoules
    latency_us: float  # median batch-1 onnxruntime latency, microseconds (NaN when not measured)
    latency_runs: int
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def compression(self) -> float:
        return self.fp32_weight_bytes / max(self.weight_bytes, 1)

    def summary(self) -> str:
        return (f"{self.precision}: {self.parameters:,} parameters, {self.macs:,} MACs/decision, "
                f"{self.weight_bytes:,} weight bytes ({self.compression:.1f}x smaller than fp32), "
                f"{self.energy_pj / 1000:.2f} nJ/decision (arithmetic estimate), "
                f"median latency {self.latency_us:.1f} us (onnxruntime, batch 1)")


def analyze_onnx(path: str | Path, ternary: list[str] | None = None) -> list[LayerCost]:
    """Static per-layer counts of an ONNX Q-network. ternary: initializer names holding ternary weights (read from
    the metadata file beside ``path`` when None)."""
    path = Path(path)
    if ternary is None:
        meta = path.with_suffix(".json")
        ternary = json.loads(meta.read_text()).get("ternary_initializers", []) if meta.is_file() else []
    model = onnx.load(str(path))
    graph = model.graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}
    shapes = _output_shapes(model) if any(node.op_type == "Conv" for node in graph.node) else {}
    layers = []
    for node in graph.node:
        if node.op_type not in ("Gemm", "MatMul", "Conv"):
            continue
        weight = _constant(node.input[1], initializers, producers)
        if weight is None:
            continue
        stored, weight_extra, stored_name = weight
        bias = _constant(node.input[2], initializers, producers) if len(node.input) > 2 and node.input[2] else None
        bias_elements = 0 if bias is None else bias[0].size
        bias_bytes = 0 if bias is None else bias[0].nbytes + bias[1]
        if stored_name in ternary:
            precision, weight_bytes = "ternary", -(-stored.size // 4)
        else:
            precision = "int8" if stored.dtype in (np.int8, np.uint8) else "fp32"
            weight_bytes = stored.nbytes
        if node.op_type == "Conv":
            out_shape = shapes.get(node.output[0])
            spatial = int(np.prod(out_shape[2:])) if out_shape else 1
            outputs = stored.shape[0] * spatial
            macs = outputs * int(np.prod(stored.shape[1:]))
        else:
            transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute)
            fan_in, fan_out = (stored.shape[1], stored.shape[0]) if transposed else stored.shape[:2]
            outputs, macs = int(fan_out), int(fan_in) * int(fan_out)
        layers.append(LayerCost(node.name or node.output[0], node.op_type, precision, stored.size + bias_elements,
                                stored.size, macs, outputs, int(np.count_nonzero(stored)),
                                int(weight_bytes + weight_extra + bias_bytes)))
    return layers


def summarize_layers(layers: list[LayerCost]) -> dict[str, Any]:
    """Totals over layers: parameters, macs, weight_bytes, fp32_weight_bytes, energy_pj, precision."""
    precisions = {layer.precision for layer in layers}
    return {
        "parameters": sum(layer.parameters for layer in layers),
        "macs": sum(layer.macs for layer in layers),
        "weight_bytes": sum(layer.weight_bytes for layer in layers),
        "fp32_weight_bytes": 4 * sum(layer.parameters for layer in layers),
        "energy_pj": float(sum(layer.energy_pj for layer in layers)),
        "precision": precisions.pop() if len(precisions) == 1 else "mixed",
    }


def onnx_latency_us(path: str | Path, runs: int = 1000, threads: int = 1, warmup: int = 100) -> float:
    """Median wall time of one batch-1 ``session.run`` of an exported policy, in microseconds."""
    from .runtime import load_policy

    policy = load_policy(path, threads=threads)
    if policy.inputs:  # one input per observation key
        feed = policy.example_feed()
    else:
        batch, _ = policy.preprocess(example_obs(policy.obs_shape, policy.obs_dtype))
        feed = {policy.input_name: batch}
    names = [policy.output_name]
    run = policy.session.run
    for _ in range(warmup):
        run(names, feed)
    timings = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        run(names, feed)
        timings.append(time.perf_counter_ns() - start)
    return statistics.median(timings) / 1000.0


def onnx_cost(path: str | Path, latency_runs: int = 1000, threads: int = 1) -> CostReport:
    """The cost of an exported ``.onnx`` policy (latency_runs timed batch-1 runs; 0 skips the measurement)."""
    path = Path(path)
    layers = analyze_onnx(path)
    totals = summarize_layers(layers)
    latency = onnx_latency_us(path, latency_runs, threads) if latency_runs > 0 else float("nan")
    return CostReport(str(path), totals["precision"], totals["parameters"], totals["macs"], totals["weight_bytes"],
                      totals["fp32_weight_bytes"], totals["energy_pj"], latency, latency_runs, layers)


# -- helpers ------------------------------------------------------------------------------------------------------
def _constant(name: str, initializers: dict[str, np.ndarray], producers: dict[str, Any]):
    """(stored array, bytes of its dequantisation scale and zero point, initializer name) of a constant input, or
    None when the input is computed (not a parameter)."""
    if name in initializers:
        return initializers[name], 0, name
    node = producers.get(name)
    if node is not None and node.op_type == "DequantizeLinear" and node.input[0] in initializers:
        extra = sum(initializers[part].nbytes for part in node.input[1:] if part in initializers)
        return initializers[node.input[0]], extra, node.input[0]
    return None


def _output_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in info.type.tensor_type.shape.dim]
        shapes[info.name] = dims
    return shapes


def example_obs(obs_shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A fixed random observation of ``obs_shape`` and ``dtype`` (uint8 frames or normal floats) for timing runs."""
    rng = np.random.default_rng(0)
    if np.dtype(dtype) == np.uint8:
        return rng.integers(0, 256, obs_shape, dtype=np.uint8)
    return rng.standard_normal(obs_shape).astype(dtype)
