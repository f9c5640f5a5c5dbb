"""Import a Stable-Baselines3 DQN model (.zip) as an rlkit checkpoint, without unpickling anything.

    path = import_sb3("dqn_cartpole.zip", "runs/sb3/checkpoints/final.pt", env_id="CartPole-v1")
    agent = rlkit.load_agent(path)       # same Q-values as the SB3 model; evaluate, quantise, export as usual

An SB3 zip holds ``data`` (JSON: hyperparameters, plus spaces and classes as base64 pickles next to readable copies
of some of their attributes) and ``policy.pth`` (a torch state dict). We read the JSON's plain fields, read the
pickled class names with ``pickletools`` (which lists opcodes and executes nothing), load ``policy.pth`` with
``torch.load(weights_only=True)``, and infer the network from the weight shapes. Supported: DQN with ``MlpPolicy``
(ReLU, at least one hidden layer), a Box observation space (not images) and a Discrete action space starting at 0;
anything else raises a one-line CheckpointError. SB3 zips do not record the env id: pass ``env_id`` (the spaces are
then checked against it), or evaluate with ``rlkit eval CKPT --env ID`` later.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickletools
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.agents.common import save_agent_checkpoint
from rlkit.agents.registry import build_agent
from rlkit.config import config_from_dict
from rlkit.errors import CheckpointError, RlkitError
from rlkit.outputs import claim_output
from rlkit.vec import make_env

DQN_POLICIES = {"DQNPolicy", "MlpPolicy"}
_LINEAR = re.compile(r"^(q_net|q_net_target)\.q_net\.(\d+)\.(weight|bias)$")


def import_sb3(model_zip: str | Path, out_path: str | Path, env_id: str | None = None,
               env_kwargs: dict[str, Any] | None = None, force: bool = False) -> Path:
    """Convert an SB3 DQN ``.zip`` into an rlkit checkpoint at ``out_path``; returns the path.

    ``env_id`` is required: an SB3 zip records the spaces but not the env id, and a checkpoint without one could
    not be evaluated or exported later. The model's spaces are checked against that env. An existing file at
    ``out_path`` (a run's ``final.pt``, say) is refused unless ``force``.

    Raises CheckpointError (one line) for a file that is not an SB3 model, or an unsupported model (not DQN, not an
    MLP policy, not Box observations / Discrete actions), or spaces that do not match ``env_id``.
    """
    model_zip = Path(model_zip)
    if not env_id:
        raise CheckpointError(f"'{model_zip}': an SB3 zip does not record its env id; pass the env the model was "
                              "trained on (env_id=..., or --env ID on the command line)")
    claim_output(out_path, "checkpoint", force)
    data, state = _read_zip(model_zip)
    where = f"'{model_zip}'"
    policy = _pickled_names(data.get("policy_class"))
    if not policy or policy[-1].rsplit(".", 1)[-1] not in DQN_POLICIES or "stable_baselines3.dqn" not in policy[-1]:
        found = policy[-1] if policy else "no policy class"
        raise CheckpointError(f"{where} holds {found}; only Stable-Baselines3 DQN models with MlpPolicy can be imported")
    obs_shape, obs_dtype = _box_space(data.get("observation_space"), where)
    num_actions = _discrete_space(data.get("action_space"), where)
    _check_policy_kwargs(data.get("policy_kwargs") or {}, where)
    online, target, hidden = _convert_weights(state, obs_shape, num_actions, where)
    config = _config(data, hidden, env_id, env_kwargs or {}, where)
    _check_env(env_id, env_kwargs or {}, obs_shape, num_actions, where)
    agent = build_agent(config, obs_shape, obs_dtype, num_actions, torch.device("cpu"))
    agent.online.load_state_dict(online)
    agent.target.load_state_dict(target)
    steps = data.get("num_timesteps")
    return Path(save_agent_checkpoint(agent, config, out_path, {
        "step": steps if isinstance(steps, int) else 0,
        "source": f"stable-baselines3 DQN imported from {model_zip.name}",
    }))


# -- reading the zip ------------------------------------------------------------------------------------------------
def _read_zip(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    if not path.is_file():
        raise CheckpointError(f"SB3 model '{path}' not found; pass the .zip that model.save() wrote")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "data" not in names or "policy.pth" not in names:
                raise CheckpointError(f"'{path}' is not a Stable-Baselines3 model (no 'data' and 'policy.pth' inside)")
            data = json.loads(archive.read("data"))
            policy_bytes = archive.read("policy.pth")
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(f"'{path}' is not a readable zip file ({error}); pass an SB3 model .zip") from None
    except ValueError:
        raise CheckpointError(f"'{path}' has a 'data' entry that is not JSON; it is not an SB3 model") from None
    try:
        with warnings.catch_warnings():  # the safe unpickler warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(policy_bytes), map_location="cpu", weights_only=True)
    except Exception as error:  # the safe unpickler refuses objects; damaged files raise various errors
        refused = _refused_globals(policy_bytes)
        if refused:
            raise CheckpointError(f"refused '{path}'/policy.pth: it asks the unpickler for {', '.join(refused)}, "
                                  "which rlkit never builds (nothing was run); only plain state dicts "
                                  "are loaded") from None
        reason = " ".join(str(error).split()) or type(error).__name__
        reason = reason if len(reason) <= 160 else reason[:160].rsplit(" ", 1)[0] + " ..."
        raise CheckpointError(f"refused or could not read '{path}'/policy.pth ({reason}); only plain state dicts "
                              "are loaded") from None
    if not isinstance(data, dict) or not isinstance(state, dict):
        raise CheckpointError(f"'{path}' does not look like a Stable-Baselines3 model")
    return data, state


def _pickled_names(entry: Any) -> list[str]:
    """'module.Name' of every global a serialized SB3 entry references, read with pickletools (nothing runs)."""
    if not isinstance(entry, dict) or ":serialized:" not in entry:
        return []
    try:
        return _pickle_globals(base64.b64decode(entry[":serialized:"]))
    except (binascii.Error, ValueError, TypeError):
        return []


def _pickle_globals(payload: bytes) -> list[str]:
    """'module.Name' of every global a pickle references, in order, read with pickletools (nothing runs)."""
    names, strings = [], []
    try:
        for opcode, argument, _ in pickletools.genops(payload):
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(argument)
            elif opcode.name in ("GLOBAL", "INST"):
                names.append(str(argument).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
    except (ValueError, TypeError):
        pass  # a damaged pickle: the names read so far
    return names


def _refused_globals(policy_bytes: bytes) -> list[str]:
    """The globals of a policy.pth (a torch zip's data.pkl, or a bare pickle) outside what a state dict needs."""
    payload = policy_bytes
    try:
        with zipfile.ZipFile(io.BytesIO(policy_bytes)) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
            if pickles:
                payload = archive.read(pickles[0])
    except zipfile.BadZipFile:
        pass
    allowed = ("torch.", "collections.OrderedDict", "_codecs.encode")
    return sorted({name for name in _pickle_globals(payload) if not name.startswith(allowed)})


def _box_space(entry: Any, where: str) -> tuple[tuple[int, ...], str]:
    kind = entry.get(":type:", "") if isinstance(entry, dict) else ""
    if "spaces.box.Box" not in kind:
        raise CheckpointError(f"{where} has observation space {kind or 'unknown'}; rlkit imports Box observations only")
    shape = tuple(int(d) for d in entry.get("_shape") or ())
    dtype = str(entry.get("dtype", "float32"))
    if not shape:
        raise CheckpointError(f"{where} does not record its observation shape; re-save it with a current SB3")
    if dtype == "uint8" and len(shape) == 3:
        raise CheckpointError(f"{where} has image observations {shape}; only MLP policies on vector observations "
                              "can be imported")
    return shape, dtype


def _discrete_space(entry: Any, where: str) -> int:
    kind = entry.get(":type:", "") if isinstance(entry, dict) else ""
    if "spaces.discrete.Discrete" not in kind:
        raise CheckpointError(f"{where} has action space {kind or 'unknown'}; rlkit imports Discrete actions only")
    try:
        num_actions, start = int(entry["n"]), int(entry.get("start", 0))
    except (KeyError, ValueError):
        raise CheckpointError(f"{where} does not record its number of actions; re-save it with a current SB3") from None
    if start != 0:
        raise CheckpointError(f"{where} has a Discrete action space starting at {start}; rlkit needs actions 0..n-1")
    return num_actions


def _check_policy_kwargs(kwargs: dict[str, Any], where: str) -> None:
    activation = str(kwargs.get("activation_fn", "ReLU"))
    if "ReLU" not in activation:
        raise CheckpointError(f"{where} uses activation {activation}; rlkit's MLP torso uses ReLU")
    extractor = str(kwargs.get("features_extractor_class", "FlattenExtractor"))
    if "FlattenExtractor" not in extractor:
        raise CheckpointError(f"{where} uses features extractor {extractor}; only MLP policies can be imported")


def _convert_weights(state: dict[str, torch.Tensor], obs_shape: tuple[int, ...], num_actions: int, where: str):
    """SB3 ``q_net.q_net.{0,2,4..}`` linears -> rlkit MLP torso ``torso.layers.{1,3,..}`` + ``head.linear``."""
    layers: dict[str, dict[int, dict[str, torch.Tensor]]] = {"q_net": {}, "q_net_target": {}}
    for key, tensor in state.items():
        match = _LINEAR.match(key)
        if match is None:
            raise CheckpointError(f"{where} has parameter '{key}', which an MLP DQN policy does not; only MLP "
                                  "policies can be imported")
        network, index, kind = match.groups()
        layers[network].setdefault(int(index), {})[kind] = tensor
    online = layers["q_net"]
    indices = sorted(online)
    if len(indices) < 2 or indices != list(range(0, 2 * len(indices), 2)):
        raise CheckpointError(f"{where} has a Q-network without hidden layers or with extra layers; rlkit's MLP "
                              "needs Linear-ReLU pairs and an output layer")
    hidden = [int(online[i]["weight"].shape[0]) for i in indices[:-1]]
    if online[indices[0]]["weight"].shape[1] != int(np.prod(obs_shape)) or \
            online[indices[-1]]["weight"].shape[0] != num_actions:
        raise CheckpointError(f"{where} has weights that do not fit its spaces (obs {obs_shape}, {num_actions} actions)")

    def rename(source: dict[int, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        renamed = {}
        for position, index in enumerate(indices):
            prefix = "head.linear" if index == indices[-1] else f"torso.layers.{1 + 2 * position}"
            for kind, tensor in source[index].items():
                renamed[f"{prefix}.{kind}"] = tensor.float()
        return renamed

    target = layers["q_net_target"] if sorted(layers["q_net_target"]) == indices else online
    return rename(online), rename(target), hidden


def _config(data: dict[str, Any], hidden: list[int], env_id: str, env_kwargs: dict[str, Any], where: str):
    def number(key: str, default: Any) -> Any:
        value = data.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    batch = int(number("batch_size", 32))
    raw = {
        "env": {"id": env_id, "kwargs": env_kwargs},
        "agent": {
            "name": "dqn", "gamma": float(number("gamma", 0.99)), "lr": float(number("learning_rate", 1e-4)),
            "n_step": int(number("n_steps", 1)), "target_period": int(number("target_update_interval", 10_000)),
            "tau": float(number("tau", 1.0)), "max_grad_norm": float(number("max_grad_norm", 10.0)),
            "critic": {"type": "scalar", "loss": "huber"},  # SB3 DQN regresses with smooth L1
            "net": {"torso": "mlp", "hidden": hidden},
        },
        "replay": {"capacity": max(int(number("buffer_size", 1_000_000)), batch), "batch_size": batch},
        "exploration": {"start": float(number("exploration_initial_eps", 1.0)),
                        "end": float(number("exploration_final_eps", 0.05)),
                        "fraction": float(number("exploration_fraction", 0.1))},
        "device": "cpu",
    }
    try:
        return config_from_dict(raw)
    except RlkitError as error:
        raise CheckpointError(f"{where} has settings rlkit cannot represent ({error})") from None


def _check_env(env_id: str, env_kwargs: dict[str, Any], obs_shape: tuple[int, ...], num_actions: int,
               where: str) -> None:
    env = make_env(env_id, env_kwargs=env_kwargs)
    try:
        if tuple(env.observation_space.shape) != obs_shape or int(env.action_space.n) != num_actions:
            raise CheckpointError(f"{where} expects observations {obs_shape} and {num_actions} actions, but env "
                                  f"'{env_id}' has {tuple(env.observation_space.shape)} and {env.action_space.n}")
    finally:
        env.close()
