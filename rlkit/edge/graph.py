"""Q-network -> ONNX graph, written node by node so quantised layers keep their stored form.

MLP Q-networks (torso ``mlp``, plain or dueling head) are translated layer by layer with ``onnx.helper``:

| layer          | ONNX                                                                                             |
|----------------|--------------------------------------------------------------------------------------------------|
| nn.Linear      | Gemm(x, W fp32, b fp32, transB=1)                                                                |
| Int8Linear     | QuantizeLinear/DequantizeLinear(x, EMA scale) -> Gemm(., DequantizeLinear(W int8, per-channel scale), b) |
| TernaryLinear  | x_q = Clip(Round(x / s), -128, 127) * s, s = max|x| / 127 per row -> Gemm(x_q, DequantizeLinear(W in {-1,0,1} int8, gamma), b) |
| ReLU, Flatten  | Relu, Flatten                                                                                    |
| heads          | Reshape to (B, A, bins); dueling: V + A - ReduceMean_a(A)                                        |

Each op mirrors the torch fake-quant forward (round half to even on both sides), so a QAT agent and its export agree
to float rounding. Other torsos (CNNs, resmlp with batch norm) go through ``torch.onnx.export(dynamo=False)`` in fp32;
they can then be int8-quantised after training, not exported from QAT.

The graph's input ``obs`` is (B, *obs_shape) float32 (the runtime casts and scales raw observations as the metadata
says); its output ``outputs`` is (B, num_actions, bins) float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from rlkit.nets import MLP, DuelingHead, QHead
from rlkit.nets.quant import Int8Linear, TernaryLinear, int8_weight_scale, ternary_weights

OPSET = 17
INPUT, OUTPUT = "obs", "outputs"
INT8_MAX = 127.0


def export_network(network: nn.Module, obs_shape: tuple[int, ...], path: Path) -> list[str]:
    """Write ``network`` (a QNetwork, float input) as ONNX to ``path``.

    Returns the names of the initializers that hold ternary weights (the cost model counts them at 2 bits).
    Raises ValueError when a quantised network has a torso this translator does not know.
    """
    if isinstance(network.torso, MLP) and isinstance(network.head, (QHead, DuelingHead)):
        builder = _GraphBuilder()
        x = builder.torso(network.torso)
        builder.head(network.head, x)
        model = builder.model(obs_shape, (network.head.num_actions, network.head.bins))
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return builder.ternary
    if any(isinstance(module, (Int8Linear, TernaryLinear)) for module in network.modules()):
        raise ValueError("exporting a quantisation-aware network needs the mlp torso; export this one in fp32 "
                         "(train without agent.net.quant) and quantise it with --quantize int8")
    training = network.training
    try:
        _torch_export(network.eval(), obs_shape, path)  # eval: batch norm uses its running statistics
    finally:
        network.train(training)
    return []


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.ternary: list[str] = []
        self._count = 0

    # -- bookkeeping ------------------------------------------------------------------------------------------------
    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attributes) -> str:
        output = self._name(stem or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def model(self, obs_shape: tuple[int, ...], out_shape: tuple[int, int]) -> onnx.ModelProto:
        # the last node's output becomes the graph output
        self.nodes[-1].output[0] = OUTPUT
        graph = helper.make_graph(
            self.nodes, "rlkit_q_network",
            [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", *obs_shape])],
            [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", *out_shape])],
            self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rlkit")
        model.ir_version = 8  # onnxruntime reads IR 8 with opset 17 on every release we support
        return model

    # -- layers -----------------------------------------------------------------------------------------------------
    def torso(self, torso: MLP) -> str:
        x = INPUT
        for layer in torso.layers:
            if isinstance(layer, nn.Flatten):
                x = self.node("Flatten", [x], axis=1)
            elif isinstance(layer, nn.Linear):
                x = self.linear(layer, x)
            elif isinstance(layer, nn.ReLU):
                x = self.node("Relu", [x])
            elif isinstance(layer, nn.LayerNorm):
                scale = self.constant("ln_scale", layer.weight.detach().cpu().numpy().astype(np.float32))
                shift = self.constant("ln_bias", layer.bias.detach().cpu().numpy().astype(np.float32))
                x = self.node("LayerNormalization", [x, scale, shift], axis=-1, epsilon=float(layer.eps))
            else:
                raise ValueError(f"cannot translate torso layer {type(layer).__name__} to ONNX")
        return x

    def head(self, head: nn.Module, features: str) -> str:
        actions, bins = head.num_actions, head.bins
        if isinstance(head, QHead):
            out = self.linear(head.linear, features)
            return self.node("Reshape", [out, self.constant("shape", np.array([-1, actions, bins], np.int64))])
        value = self.node("Reshape", [self.linear(head.value, features),
                                      self.constant("shape", np.array([-1, 1, bins], np.int64))])
        advantage = self.node("Reshape", [self.linear(head.advantage, features),
                                          self.constant("shape", np.array([-1, actions, bins], np.int64))])
        mean = self.node("ReduceMean", [advantage], axes=[1], keepdims=1)
        return self.node("Add", [value, self.node("Sub", [advantage, mean])])

    def linear(self, layer: nn.Linear, x: str) -> str:
        weight = layer.weight.detach().float().cpu()
        if isinstance(layer, Int8Linear):
            x = self._int8_activation(x, layer.input_scale())
            scale = int8_weight_scale(weight, layer.per_channel)
            stored = torch.clamp(torch.round(weight / scale), -INT8_MAX, INT8_MAX).to(torch.int8).numpy()
            scale = scale.reshape(-1).numpy().astype(np.float32)
            weight_name = self._dequantize(stored, scale, "w_int8")
        elif isinstance(layer, TernaryLinear):
            x = self._ternary_activation(x)
            stored, gamma = ternary_weights(weight, layer.scale)
            weight_name = self._dequantize(stored.numpy(), np.float32(gamma.item()), "w_ternary")
            self.ternary.append(self.nodes[-1].input[0])
        else:
            weight_name = self.constant("w", weight.numpy())
        inputs = [x, weight_name]
        if layer.bias is not None:
            inputs.append(self.constant("b", layer.bias.detach().float().cpu().numpy()))
        return self.node("Gemm", inputs, stem="gemm", transB=1)

    def _dequantize(self, stored: np.ndarray, scale: np.ndarray | np.float32, stem: str) -> str:
        inputs = [self.constant(stem, stored), self.constant(f"{stem}_scale", np.asarray(scale, np.float32)),
                  self.constant(f"{stem}_zero", np.zeros(np.shape(scale), np.int8))]
        axis = {"axis": 0} if np.ndim(scale) == 1 else {}
        return self.node("DequantizeLinear", inputs, stem=f"{stem}_dq", **axis)

    def _int8_activation(self, x: str, scale: float) -> str:
        scale_name = self.constant("x_scale", np.float32(scale))
        zero = self.constant("x_zero", np.int8(0))
        quantized = self.node("QuantizeLinear", [x, scale_name, zero], stem="x_q")
        return self.node("DequantizeLinear", [quantized, scale_name, zero], stem="x_dq")

    def _ternary_activation(self, x: str) -> str:
        # s = max(max|x| over features, eps) / 127 per row: b1.58's absmax per token (rlkit.nets.quant.absmax_per_token_scale)
        absmax = self.node("ReduceMax", [self.node("Abs", [x])], axes=[1], keepdims=1)
        scale = self.node("Div", [self.node("Max", [absmax, self.constant("eps", np.float32(1e-8))]),
                                  self.constant("int8_max", np.float32(INT8_MAX))])
        rounded = self.node("Round", [self.node("Div", [x, scale])])
        clipped = self.node("Clip", [rounded, self.constant("low", np.float32(-INT8_MAX - 1)),
                                     self.constant("high", np.float32(INT8_MAX))])
        return self.node("Mul", [clipped, scale], stem="x_tq")


def _torch_export(network: nn.Module, obs_shape: tuple[int, ...], path: Path) -> None:
    # The TorchScript exporter (dynamo=False) needs no onnxscript; it is deprecated upstream but still shipped, and
    # only CNN/resmlp torsos take this path.
    import warnings

    example = torch.zeros(1, *obs_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(network, (example,), str(path), dynamo=False, input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=OPSET)
