"""Edge deployment: export a trained agent to ONNX (fp32, int8, ternary), measure its cost, run it without torch.

    from rlkit.edge import export_onnx, cost, load_policy
    report = export_onnx("runs/jamming/checkpoints/final.pt", "jamming.onnx", quantize="int8")
    print(report.summary(), cost("jamming.onnx").summary())
    policy = load_policy("jamming.onnx")        # numpy + onnxruntime only
    action = policy.act(obs)

Names load lazily (module ``__getattr__``): ``from rlkit.edge import load_policy`` imports only
``rlkit.edge.runtime`` (numpy, json, onnxruntime), so it works in a process without torch; the export and cost
names import torch and onnx when first used.

| name | from | what |
|---|---|---|
| ``export_onnx`` (= ``export_checkpoint``) | export | checkpoint -> .onnx + .json metadata, parity check, ExportReport |
| ``quantize_int8_ptq`` | export | onnxruntime static int8 quantisation of an fp32 .onnx |
| ``record_observations``, ``parity_check``, ``return_kept`` | parity | rollouts, agreement and Q error, return kept |
| ``onnx_cost``, ``CostReport``, ``analyze_onnx``, ``onnx_latency_us`` | cost_model | an ONNX graph's parameters, MACs, bytes, latency, energy |
| ``cost``, ``torch_latency_us`` | measure | the same for a checkpoint (exported first); torch's latency |
| ``distill`` | distill | policy distillation into a small or quantised student |
| ``load_policy``, ``Policy``, ``PolicyError`` | runtime | the torch-free runtime |
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "export_onnx": "export", "export_checkpoint": "export", "ExportReport": "export", "quantize_int8_ptq": "export",
    "record_observations": "parity", "parity_check": "parity", "return_kept": "parity", "ReturnKept": "parity",
    "cost": "measure", "CostReport": "cost_model", "analyze_onnx": "cost_model", "onnx_latency_us": "cost_model",
    "onnx_cost": "cost_model", "torch_latency_us": "measure", "distill": "distill",
    "load_policy": "runtime", "Policy": "runtime", "PolicyError": "runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlkit.edge' has no attribute '{name}'")
    try:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as error:
        if error.name not in ("onnx", "onnxruntime"):
            raise
        from rlkit.errors import RlkitError

        raise RlkitError(f"rlkit.edge.{name} needs {error.name}; install it with: pip install 'rlkit[edge]'") from None
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
