"""Run an exported policy with numpy and onnxruntime only: no torch, no rlkit agent code.

    from rlkit.edge.runtime import load_policy
    policy = load_policy("cartpole.onnx")          # reads cartpole.onnx and the metadata file cartpole.json
    action = policy.act(obs)                       # one observation (*obs_shape) -> int
    actions = policy.act(batch)                    # (B, *obs_shape) -> (B,) int64
    q = policy.q_values(batch)                     # (B, num_actions) float32
    action = policy.act({"image": ..., "action_mask": ...})   # a Dict / masked agent's export: a dict in

A Dict (or masked) agent's graph takes one input per key (metadata ``inputs``); ``act`` then takes the observation
as the env hands it out (a dict of arrays, single or batched, nested dicts as dotted keys), and its Q-values come
masked from the graph: illegal actions never win the argmax, and epsilon explores the legal ones only.

This module imports numpy, json, onnxruntime and ``rlkit.errors`` (plain Python) and nothing else, so a device that
cannot install torch can still act. The metadata file (written by ``rlkit.edge.export``) says how to feed the
graph (observation shape, dtype and scaling) and how to read Q-values from its outputs (the critic read-out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rlkit.errors import RlkitError  # plain Python: keeps this module free of torch
from rlkit.obs_keys import flatten_obs  # numpy only

ILLEGAL_Q = -1e9  # a masked graph's Q of an illegal action (finite: argmax and parity stay well defined)
METADATA_FORMAT = "rlkit-edge-policy"
METADATA_VERSION = 1


class PolicyError(RlkitError):
    """An exported policy cannot be loaded or fed (missing files, bad metadata, wrong observation shape)."""


def metadata_path(onnx_path: str | Path) -> Path:
    """The metadata file that sits beside an exported ``.onnx`` file: same name, ``.json`` suffix."""
    return Path(onnx_path).with_suffix(".json")


def load_policy(path: str | Path, threads: int = 1) -> "Policy":
    """Load an exported policy from its ``.onnx`` file (or its ``.json`` metadata file).

    threads: onnxruntime intra-op threads; 1 suits batch-1 decisions on a small MLP (no thread hand-off).
    Raises PolicyError when either file is missing or the metadata is not an rlkit edge policy.
    """
    path = Path(path)
    onnx_file = path.with_suffix(".onnx") if path.suffix == ".json" else path
    meta_file = metadata_path(onnx_file)
    for required in (onnx_file, meta_file):
        if not required.is_file():
            raise PolicyError(f"'{required}' not found; export a checkpoint first with `rlkit export CKPT --format onnx`")
    try:
        metadata = json.loads(meta_file.read_text())
    except (OSError, ValueError) as error:
        raise PolicyError(f"metadata '{meta_file}' is not valid JSON ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != METADATA_FORMAT:
        raise PolicyError(f"'{meta_file}' is not rlkit edge-policy metadata (no '{METADATA_FORMAT}' format entry)")
    if int(metadata.get("version", 0)) > METADATA_VERSION:
        raise PolicyError(f"'{meta_file}' has metadata version {metadata.get('version')}, newer than this runtime's "
                          f"{METADATA_VERSION}; upgrade rlkit")
    try:
        import onnxruntime as ort
    except ImportError:
        raise PolicyError("load_policy needs onnxruntime; install it with: pip install 'rlkit[edge]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise PolicyError(f"onnxruntime cannot load '{onnx_file}' ({str(error).splitlines()[0][:160]})") from None
    return Policy(session, metadata)


class Policy:
    """A greedy policy over an onnxruntime session; built by ``load_policy``.

    Attributes: obs_shape (tuple), obs_dtype (numpy dtype of raw observations), num_actions (int), metadata (dict).
    """

    def __init__(self, session: Any, metadata: dict[str, Any]):
        self.session = session
        self.metadata = metadata
        self.inputs = metadata.get("inputs")  # keyed graph: [{name, key, shape, dtype, mask}] (rlkit/edge/keyed.py)
        self.q_output = metadata.get("q_output")
        self.obs_shape = tuple(int(d) for d in metadata["obs_shape"])
        self.obs_dtype = None if self.inputs else np.dtype(metadata["obs_dtype"])
        self.num_actions = int(metadata["num_actions"])
        self.input_name = metadata.get("input_name") or session.get_inputs()[0].name
        self.output_name = metadata.get("output_name", session.get_outputs()[0].name)
        preprocessing = metadata.get("preprocessing", {})
        self._input_dtype = np.dtype("float32" if self.inputs else preprocessing.get("input_dtype", "float32"))
        self._scale = float(preprocessing.get("scale", 1.0))
        critic = metadata.get("critic", {"type": "scalar"})
        kind = critic.get("type", "scalar")
        self._mean = kind in ("qr", "iqn")  # quantile critics: Q is the mean of the outputs
        self._support = None if kind in ("scalar", "qr", "iqn") else np.asarray(critic["support"], np.float32)
        self._rng = np.random.default_rng(int(metadata.get("seed", 0)))

    def preprocess(self, obs: np.ndarray) -> tuple[np.ndarray, bool]:
        """Raw observations -> the graph's input (B, *obs_shape) in its dtype, and whether a single one came in."""
        obs = np.asarray(obs)
        single = obs.shape == self.obs_shape
        batch = obs[None] if single else obs
        if batch.shape[1:] != self.obs_shape:
            raise PolicyError(f"observation shape {obs.shape} does not match the policy's {self.obs_shape} "
                              f"(or a batch (B, {', '.join(map(str, self.obs_shape))}))")
        batch = batch.astype(self._input_dtype, copy=False)
        if self._scale != 1.0:
            batch = batch * self._input_dtype.type(self._scale)
        return np.ascontiguousarray(batch), single

    def feed(self, obs: Any) -> tuple[dict[str, np.ndarray], bool]:
        """The graph's inputs for raw observations ({input name: array}), and whether a single one came in."""
        if not self.inputs:
            batch, single = self.preprocess(obs)
            return {self.input_name: batch}, single
        flat = flatten_obs(obs)
        feed, single = {}, None
        for spec in self.inputs:
            key, shape = spec["key"], tuple(spec["shape"])
            if key not in flat:
                raise PolicyError(f"observation has no key '{key}'; the policy takes "
                                  f"{', '.join(s['key'] for s in self.inputs)}")
            value = np.asarray(flat[key]).astype(spec["dtype"], copy=False)
            one = value.shape == shape
            single = one if single is None else single
            value = value[None] if one else value
            if value.shape[1:] != shape:
                raise PolicyError(f"observation key '{key}' has shape {np.shape(flat[key])}, expected {shape} or a "
                                  f"batch (B, {', '.join(map(str, shape))})")
            feed[spec["name"]] = np.ascontiguousarray(value)
        return feed, bool(single)

    def example_feed(self) -> dict[str, np.ndarray]:
        """A batch-1 input of zeros (an all-legal mask) for timing runs."""
        if not self.inputs:
            raise PolicyError("example_feed is for keyed policies; use preprocess")
        return {s["name"]: (np.ones if s["mask"] else np.zeros)((1, *s["shape"]), s["dtype"]) for s in self.inputs}

    def outputs(self, obs: np.ndarray) -> np.ndarray:
        """The network's raw outputs for a batch. obs: (B, *obs_shape) -> (B, num_actions, bins) float32."""
        feed, _ = self.feed(obs)
        return self.session.run([self.output_name], feed)[0]

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values. obs: (B, *obs_shape) -> (B, num_actions) float32; one observation -> (num_actions,). A masked
        policy's illegal actions read -1e9."""
        feed, single = self.feed(obs)
        if self.q_output:
            q = self.session.run([self.q_output], feed)[0]
        else:
            outputs = self.session.run([self.output_name], feed)[0]
            q = outputs.mean(axis=-1) if self._mean else read_q_values(outputs, self._support)
        return q[0] if single else q

    def act(self, obs: np.ndarray, epsilon: float = 0.0) -> int | np.ndarray:
        """Greedy (or epsilon-greedy) actions: one observation -> int; (B, *obs_shape) -> (B,) int64.

        The epsilon argument makes a Policy a drop-in for an agent in ``rlkit.training.evaluate.run_episodes``.
        """
        q = self.q_values(obs)
        single = q.ndim == 1
        actions = np.atleast_1d(np.argmax(q, axis=-1)).astype(np.int64)
        if epsilon > 0:
            explore = self._rng.random(len(actions)) < epsilon
            legal = np.atleast_2d(q) > ILLEGAL_Q / 2  # all true unless the graph masked some
            scores = np.where(legal[explore], self._rng.random((int(explore.sum()), self.num_actions)), -1.0)
            actions[explore] = scores.argmax(1)
        return int(actions[0]) if single else actions


def read_q_values(outputs: np.ndarray, support: np.ndarray | None) -> np.ndarray:
    """Critic read-out. outputs: (B, A, bins); support: None for a scalar critic, else (bins,) atom values.

    Scalar: Q = outputs[..., 0]. Histogram (C51, HL-Gauss, two-hot): Q = sum_i softmax(outputs)_i * support_i.
    Returns (B, A) float32.
    """
    if support is None:
        return outputs[..., 0]
    logits = outputs - outputs.max(axis=-1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return (probabilities @ support).astype(np.float32)
