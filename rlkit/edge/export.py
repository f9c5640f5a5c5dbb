"""Checkpoint -> ONNX policy (fp32, int8 or ternary) + metadata, with a parity check against the torch agent.

    report = export_checkpoint("runs/cartpole/checkpoints/final.pt", "cartpole.onnx", quantize="int8")
    print(report.summary())      # agreement 99.9% on 1,000 observations, max |dQ| 0.04, 69.5 kB (3.9x smaller)

What ``quantize`` does, by how the checkpoint was trained (``agent.net.quant``):

| quantize  | trained none                          | trained int8 (QAT)                   | trained ternary            |
|-----------|---------------------------------------|--------------------------------------|----------------------------|
| None      | fp32                                  | int8 with its learned scales         | ternary                    |
| "int8"    | int8 post-training static quantisation | int8 with its learned scales         | error                      |
| "ternary" | error (train with net.quant=ternary)  | error                                | ternary                    |

Post-training quantisation is onnxruntime's ``quantize_static`` (QDQ format, int8 weights per output channel, int8
activations, MinMax calibration) on observations from the agent's own greedy rollouts. The parity check replays
1,000 observations from other greedy rollouts (or a given set) through the exported policy and the torch agent and
reports greedy-action agreement and max |Q_onnx - Q_torch|.

The metadata file beside the ``.onnx`` file (same name, ``.json``) holds what ``rlkit.edge.runtime`` needs:
observation shape and dtype, preprocessing (cast to float32, times ``scale``: 1/255 for uint8 images into a CNN
torso, else 1), the number of actions and the critic read-out (scalar, or histogram bins with their support; the
quantile critics qr and iqn read Q as the mean of their outputs, and an IQN graph has its greedy policy's K midpoint
fractions baked in). Noisy heads export their mean weights, the network greedy evaluation runs.
"""

from __future__ import annotations

import errno
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.training.checkpoint import load_checkpoint
from rlkit.errors import RlkitError
from rlkit.nets import CNN_TORSOS, KEEP_FP32
from rlkit.training.evaluate import agent_from_checkpoint
from rlkit.outputs import claim_output, disk_full_message, removed_on_failure

from .cost_model import analyze_onnx, summarize_layers
from .graph import INPUT, OUTPUT, export_network
from .keyed import Q_OUTPUT, export_keyed
from .parity import AgentEnv, ReturnKept, parity_check, record_observations, return_kept
from .runtime import METADATA_FORMAT, METADATA_VERSION, load_policy, metadata_path

QUANTIZE = (None, "int8", "ternary")
AGREEMENT_TARGET = 0.99  # greedy-action agreement an int8 export should keep
CALIBRATION_SEED = 10_000  # rollout seeds: calibration, parity and return episodes are all different episodes
PARITY_SEED = 20_000
RETURN_SEED = 30_000
RETURN_EPISODES = 10


@dataclass
class ExportReport:
    """What an export wrote and how closely it matches the torch agent on the parity observations."""

    onnx_path: Path
    metadata_path: Path
    quantization: str  # "none", "int8-ptq", "int8-qat" or "ternary"
    observations: int  # size of the parity set
    agreement: float  # fraction of parity observations with the same greedy action as the torch agent
    max_abs_dq: float  # max |Q_onnx - Q_torch| over the parity set and all actions
    max_regret: float  # max over the parity set of Q_torch(torch's action) - Q_torch(the export's action)
    parameters: int
    weight_bytes: int  # weights and biases at their stored precision (ternary: 2 bits/weight), with their scales
    fp32_weight_bytes: int  # the same parameters at 4 bytes each
    file_bytes: int  # size of the .onnx file (ternary weights sit there as int8: onnxruntime has no 2-bit type)
    returns: ReturnKept | None = None  # the export against the torch agent in the env (None: no env to play)
    reference: "ReferenceParity | None" = None  # against the fp32 checkpoint a QAT run was fine-tuned from

    @property
    def compression(self) -> float:
        return self.fp32_weight_bytes / max(self.weight_bytes, 1)

    def advice(self) -> str | None:
        """A line of advice when an int8 post-training export disagrees with the torch agent on >= 1% of the
        parity observations (the target for int8 is 99% agreement); None otherwise."""
        if self.quantization != "int8-ptq" or not self.agreement < AGREEMENT_TARGET:
            return None
        return (f"note: greedy agreement {self.agreement:.1%} is below {AGREEMENT_TARGET:.0%}: this network's action "
                f"gaps (max regret {self.max_regret:.3g}) are finer than post-training int8 rounding resolves; keep "
                "layers in fp32 (--keep-fp32 first,head) or fine-tune with int8 quantisation-aware training from "
                "this checkpoint (agent.net.quant=int8 agent.net.keep_fp32=[head] agent.init_from=CKPT, as "
                "configs/cartpole_dqn_int8.yaml does), which exports with its own rounding")

    def summary(self) -> str:
        lines = [f"wrote {self.onnx_path} ({self.quantization}); parity on {self.observations:,} observations: "
                 f"greedy agreement {self.agreement:.1%}, max |dQ| {self.max_abs_dq:.3g}, max regret "
                 f"{self.max_regret:.3g}; {self.parameters:,} parameters, {self.weight_bytes:,} weight bytes "
                 f"({self.compression:.1f}x smaller than fp32)"]
        if self.returns is not None:
            lines.append(f"deployed: {self.returns.describe()}")
        if self.reference is not None:
            lines.append(self.reference.describe())
        return "\n".join(lines)


@dataclass
class ReferenceParity:
    """The export against a second torch agent: the fp32 checkpoint a quantisation-aware run started from."""

    checkpoint: str
    agreement: float
    max_regret: float  # in the fp32 agent's own Q: how far from a tie the disagreements are
    returns: ReturnKept | None

    def describe(self) -> str:
        played = f"; {self.returns.describe().replace('the torch agent', 'the fp32 agent')}" if self.returns else ""
        return (f"against the fp32 checkpoint it was fine-tuned from ({self.checkpoint}): greedy agreement "
                f"{self.agreement:.1%} (max regret {self.max_regret:.3g} in that agent's Q){played}")


def export_checkpoint(
    checkpoint_path: str | Path,
    out_path: str | Path,
    quantize: str | None = None,
    calibration: np.ndarray | str | Path | None = None,
    observations: np.ndarray | str | Path | None = None,
    count: int = 1000,
    parity: bool = True,
    keep_fp32: tuple[str, ...] | list[str] = (),
    force: bool = False,
) -> ExportReport:
    """Export a checkpoint as an ONNX policy plus metadata; see the module docstring for ``quantize``.

    calibration / observations: (N, *obs_shape) arrays (or ``.npy`` files) for PTQ calibration and the parity check;
    by default ``count`` observations of the agent's greedy rollouts in its own env each. ``parity=False`` skips the
    check (the report then has agreement NaN). keep_fp32: layers ('first', 'head') an int8 post-training export
    leaves in fp32. When the agent's env can be made, the export and the torch agent also play the same
    ``RETURN_EPISODES`` greedy episodes (the return kept); a QAT checkpoint fine-tuned from an fp32 one
    (``agent.init_from``) is compared with that one as well. An existing ``.onnx``/``.json`` pair is refused unless
    ``force``; a failed export leaves neither behind. Raises RlkitError (one line) on an impossible request.
    """
    if quantize not in QUANTIZE:
        raise RlkitError(f"--quantize must be int8 or ternary (or omitted for fp32), got '{quantize}'")
    if not isinstance(count, int) or count < 1:
        raise RlkitError(f"--observations must be an integer >= 1, got {count}")
    out_path = claim_output(onnx_path(out_path), "ONNX policy", force)
    claim_output(metadata_path(out_path), "metadata file", force)
    payload = load_checkpoint(checkpoint_path)
    if payload["config"].get("puzzle", {}).get("name"):
        raise RlkitError(f"'{checkpoint_path}' is a puzzle cost-to-go network, used by search (rlkit solve), not an "
                         "env policy; rlkit export takes checkpoints of env agents")
    agent, config = agent_from_checkpoint(payload, "cpu")
    agent.online.eval()  # what a deployment runs: batch norm on running statistics; also what parity compares with
    trained = config.agent.net.quant
    mode = _resolve_mode(quantize, trained, checkpoint_path)
    if not agent.obs_space.plain_box and mode != "none":
        raise RlkitError(f"'{checkpoint_path}' acts on {agent.obs_space.describe()} observations"
                         f"{' with an action mask' if agent.obs_space.mask_key else ''}, which export in fp32 "
                         "(one graph input per key); int8 and ternary exports take agents of one Box observation: "
                         "drop --quantize")
    keep_fp32 = tuple(keep_fp32)
    if mode == "int8-ptq" and config.agent.critic.type == "iqn":
        # measured: 50% greedy agreement and 9% of the return kept on configs/cartpole_iqn.yaml's agent; the cosine
        # embedding and the elementwise merge do not survive int8 activations
        raise RlkitError(f"'{checkpoint_path}' is an IQN agent, whose fraction embedding int8 post-training "
                         "quantisation breaks; export it in fp32 (drop --quantize)")
    if keep_fp32 and mode != "int8-ptq":
        raise RlkitError(f"--keep-fp32 applies to int8 post-training exports; '{checkpoint_path}' exports as {mode} "
                         "(a quantisation-aware run keeps layers in fp32 with agent.net.keep_fp32 when it trains)")
    unknown = sorted(set(keep_fp32) - set(KEEP_FP32))
    if unknown:
        raise RlkitError(f"--keep-fp32 takes {' and/or '.join(KEEP_FP32)}, got {', '.join(unknown)}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with removed_on_failure(out_path, metadata_path(out_path)):
        try:
            return _export(agent, config, mode, out_path, checkpoint_path, calibration, observations, count, parity,
                           keep_fp32)
        except OSError as error:  # the disk filled up or the directory went away mid-export
            raise RlkitError(disk_full_message(out_path) if error.errno == errno.ENOSPC else
                             f"cannot write '{out_path}' ({error.strerror or error}); choose another --out") from None


export_onnx = export_checkpoint  # the name rlkit.edge's public API uses


def _export(agent: Any, config: Any, mode: str, out_path: Path, checkpoint_path: Any, calibration: Any,
            observations: Any, count: int, parity: bool, keep_fp32: tuple[str, ...]) -> ExportReport:
    """Write the graph and its metadata, then measure parity (export_checkpoint checked the request)."""
    with AgentEnv(config) as env:
        return _export_with(env, agent, config, mode, out_path, checkpoint_path, calibration, observations, count,
                            parity, keep_fp32)


def _export_with(env: AgentEnv, agent: Any, config: Any, mode: str, out_path: Path, checkpoint_path: Any,
                 calibration: Any, observations: Any, count: int, parity: bool,
                 keep_fp32: tuple[str, ...]) -> ExportReport:
    ternary: list[str] = []
    inputs: list[dict[str, Any]] | None = None
    try:
        if not agent.obs_space.plain_box:
            inputs = export_keyed(agent, out_path)
        elif mode == "int8-ptq":
            calibration_set = _observations(calibration, agent, env, count, CALIBRATION_SEED)
            with tempfile.TemporaryDirectory() as scratch:
                fp32_path = Path(scratch) / "fp32.onnx"
                export_network(agent.online, agent.obs_shape, fp32_path)
                quantize_int8_ptq(fp32_path, out_path, _preprocess(calibration_set, agent, config),
                                  keep_fp32=keep_fp32, head_layers=2 if config.agent.dueling else 1)
        else:
            ternary = export_network(agent.online, agent.obs_shape, out_path)
    except ValueError as error:
        raise RlkitError(f"cannot export '{checkpoint_path}': {error}") from None
    _write_metadata(out_path, agent, config, mode, ternary, str(checkpoint_path), inputs)
    parity_set = _observations(observations, agent, env, count, PARITY_SEED) if parity else None
    agreement = max_dq = max_regret = float("nan")
    returns = reference = None
    if parity_set is not None:
        agreement, max_dq, max_regret = parity_check(agent, out_path, parity_set)
        returns, reference = _deployed_parity(agent, config, env.get(), out_path, parity_set)
    layers = analyze_onnx(out_path, ternary)
    totals = summarize_layers(layers)
    metadata = json.loads(metadata_path(out_path).read_text())
    observed = 0 if parity_set is None else len(parity_set)
    metadata["parity"] = None if parity_set is None else {
        "observations": observed, "agreement": agreement, "max_abs_dq": max_dq, "max_regret": max_regret,
        "return": None if returns is None else vars(returns),
        "reference": None if reference is None else {"checkpoint": reference.checkpoint,
                                                     "agreement": reference.agreement,
                                                     "max_regret": reference.max_regret,
                                                     "return": None if reference.returns is None
                                                     else vars(reference.returns)}}
    metadata["keep_fp32"] = list(keep_fp32)
    metadata_path(out_path).write_text(json.dumps(metadata, indent=2))
    return ExportReport(out_path, metadata_path(out_path), mode, observed, agreement, max_dq, max_regret,
                        totals["parameters"], totals["weight_bytes"], totals["fp32_weight_bytes"],
                        out_path.stat().st_size, returns, reference)


def onnx_path(out_path: str | Path) -> Path:
    """Where an export to ``out_path`` writes its graph: the path itself when it ends in .onnx, else PATH.onnx
    (the metadata goes beside it as PATH.json)."""
    out_path = Path(out_path)
    if out_path.suffix == ".onnx" or out_path.is_dir():  # a directory is refused by claim_output, not renamed
        return out_path
    return out_path.with_name(out_path.name + ".onnx")


def quantize_int8_ptq(fp32_onnx: str | Path, out_path: str | Path, calibration: np.ndarray, per_channel: bool = True,
                      batch: int = 64, keep_fp32: tuple[str, ...] = (), head_layers: int = 1) -> Path:
    """Post-training static int8 quantisation of an fp32 ONNX Q-network with onnxruntime.

    calibration: (N, *obs_shape) float32, already preprocessed graph inputs. Weights: int8 symmetric, per output
    channel, on the 7-bit range [-64, 64] (``reduce_range``); activations: int8 with MinMax ranges from the
    calibration set; QDQ format. Why 7 bits: onnxruntime's int8 kernels on x86 CPUs without VNNI (AVX2, AVX-512F)
    add pairs of u8 x s8 products in 16-bit lanes, which saturates with full-range weights: an export made (or run)
    on such a CPU lost a third of its greedy agreement (66% against 99.8% with 7 bits, tests/test_edge.py's agent on
    an AVX2 machine), and the deployment device is not known at export time. keep_fp32: 'first' leaves
    the first Conv/Gemm node in fp32, 'head' the last ``head_layers`` Gemm nodes (2 for a dueling head). Returns
    out_path.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quant_pre_process, quantize_static

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(calibration.astype(np.float32),
                                               max(1, int(np.ceil(len(calibration) / batch)))))

        def get_next(self) -> dict[str, np.ndarray] | None:
            chunk = next(self.batches, None)
            return None if chunk is None else {INPUT: chunk}

    # Gemm outputs stay float: the hidden ones are quantised after their ReLU (where the next layer reads them),
    # and the last one is the Q-values, whose int8 grid (range / 255) would be coarser than most action gaps.
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32_onnx), str(prepared))  # shape inference and graph clean-up, as onnxruntime advises
        excluded = _layer_nodes(prepared, keep_fp32, head_layers)
        quantize_static(str(prepared), str(out_path), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        nodes_to_exclude=excluded, reduce_range=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                       "OpTypesToExcludeOutputQuantization": ["Gemm"]})
    return Path(out_path)


# -- helpers ------------------------------------------------------------------------------------------------------
def _layer_nodes(onnx_path: Path, keep_fp32: tuple[str, ...], head_layers: int) -> list[str]:
    """Names of the graph nodes that post-training quantisation leaves in float: the layers ``keep_fp32`` ('first',
    'head') denote, and every LayerNorm (PQN's torso: its scale is a vector, not a weight matrix, and it is cheap)."""
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    nodes = [node for node in graph.node if node.op_type in ("Gemm", "Conv", "MatMul")]
    names = [node.name for node in graph.node if node.op_type == "LayerNormalization"]
    if "first" in keep_fp32 and nodes:
        names.append(nodes[0].name)
    if "head" in keep_fp32:
        names += [node.name for node in nodes if node.op_type != "Conv"][-head_layers:]
    return names


def _deployed_parity(agent: Any, config: Any, env: Any, out_path: Path,
                     parity_set: np.ndarray) -> tuple[Any, Any]:
    """The export's return against the agent's, and against the fp32 checkpoint a QAT run started from (if any);
    ``env`` None (this machine cannot make it): agreement only."""
    policy = load_policy(out_path)
    reference_path = config.agent.init_from if config.agent.net.quant != "none" else None
    returns = None if env is None else return_kept(agent, policy, env, RETURN_EPISODES, RETURN_SEED)
    reference = None
    if reference_path and Path(reference_path).is_file():
        teacher, teacher_config = agent_from_checkpoint(load_checkpoint(reference_path), "cpu")
        if teacher_config.agent.net.quant == "none" and teacher.obs_shape == agent.obs_shape:
            teacher_q = teacher.q_values(parity_set).cpu().numpy()
            actions = policy.q_values(parity_set).argmax(1)
            agreement = float(np.mean(actions == teacher_q.argmax(1)))
            regret = float((teacher_q.max(1) - np.take_along_axis(teacher_q, actions[:, None], 1)[:, 0]).max())
            played = None if env is None else return_kept(teacher, policy, env, RETURN_EPISODES, RETURN_SEED)
            reference = ReferenceParity(str(reference_path), agreement, regret, played)
    return returns, reference


def _resolve_mode(quantize: str | None, trained: str, checkpoint_path: Any) -> str:
    if quantize == "ternary" and trained != "ternary":
        raise RlkitError(f"'{checkpoint_path}' was trained with agent.net.quant={trained}; ternary export needs a "
                         "ternary-trained checkpoint (train with agent.net.quant=ternary)")
    if quantize == "int8" and trained == "ternary":
        raise RlkitError(f"'{checkpoint_path}' is ternary-trained; export it with --quantize ternary")
    if trained == "ternary":
        return "ternary"
    if trained == "int8":
        return "int8-qat"
    return "int8-ptq" if quantize == "int8" else "none"


def _observations(given: Any, agent: Any, env: AgentEnv, count: int, seed: int) -> np.ndarray:
    if given is not None:
        array = np.load(given) if isinstance(given, (str, Path)) else np.asarray(given)
        if array.ndim < 1 or array.shape[1:] != agent.obs_shape or len(array) == 0:
            raise RlkitError(f"observations must have shape (N, {', '.join(map(str, agent.obs_shape))}) with N >= 1, "
                             f"got {array.shape}")
        return array
    made = env.get()
    if made is None:
        raise RlkitError(f"cannot record observations from env '{env.config.env.id}' ({env.error}); pass "
                         "observations (and calibration) arrays instead")
    return record_observations(agent, made, count, seed=seed)


def _image_scale(agent: Any, config: Any) -> float:
    # CNN torsos divide uint8 frames by 255 inside forward; the exported graph takes floats already scaled.
    # (A keyed graph takes each key raw: its casts and scales are inside.)
    if not agent.obs_space.plain_box:
        return 1.0
    return 1.0 / 255.0 if agent.obs_dtype == np.uint8 and config.agent.net.torso in CNN_TORSOS else 1.0


def _preprocess(observations: np.ndarray, agent: Any, config: Any) -> np.ndarray:
    return observations.astype(np.float32) * np.float32(_image_scale(agent, config))


def _critic_metadata(agent: Any, config: Any) -> dict[str, Any]:
    critic = config.agent.critic
    if critic.type == "scalar":
        return {"type": "scalar"}
    if critic.type == "qr":  # Q is the mean of the quantiles: no support to read out with
        return {"type": "qr", "bins": critic.quantiles}
    if critic.type == "iqn":  # the graph reads out at the K fixed midpoint fractions baked into it; Q is their mean
        return {"type": "iqn", "bins": critic.act_samples,
                "fractions": "midpoints (2k - 1) / 2K, k = 1..K, of the greedy policy"}
    support = None
    for name in ("support", "atoms", "centers"):
        value = getattr(agent.critic, name, None)
        if value is not None:
            support = torch.as_tensor(value).float().cpu().numpy()
            break
    if support is None:  # C51 atoms; the parity check catches a critic whose support differs
        support = np.linspace(critic.v_min, critic.v_max, critic.bins, dtype=np.float32)
    return {"type": critic.type, "bins": critic.bins, "v_min": critic.v_min, "v_max": critic.v_max,
            "support": [float(v) for v in support]}


def _write_metadata(out_path: Path, agent: Any, config: Any, mode: str, ternary: list[str], source: str,
                    inputs: list[dict[str, Any]] | None = None) -> None:
    metadata = {
        "format": METADATA_FORMAT, "version": METADATA_VERSION,
        "input_name": INPUT, "output_name": OUTPUT,
        "obs_shape": list(agent.obs_shape), "obs_dtype": str(agent.obs_dtype),
        "preprocessing": {"input_dtype": "float32", "scale": _image_scale(agent, config)},
        "num_actions": agent.num_actions,
        "critic": _critic_metadata(agent, config),
        "quantization": mode,
        "ternary_initializers": ternary,
        "source": {"checkpoint": source, "env_id": config.env.id, "env_kwargs": config.env.kwargs,
                   "agent": config.agent.name, "torso": config.agent.net.torso, "hidden": config.agent.net.hidden,
                   "dueling": config.agent.dueling},
    }
    if inputs is not None:  # one graph input per observation key (rlkit/edge/keyed.py)
        metadata.update({"inputs": inputs, "q_output": Q_OUTPUT, "input_name": None,
                         "preprocessing": {"input_dtype": "per key", "scale": 1.0}})
    metadata_path(out_path).write_text(json.dumps(metadata, indent=2))

