"""Observation spaces, described once: what the env hands out, how the replay stores it, what the network reads.

rlkit's agents take Gymnasium ``Box`` (any shape), ``Discrete``, ``MultiDiscrete`` and ``MultiBinary`` observations,
and ``Dict`` / ``Tuple`` spaces of these (nested ones flattened to dotted keys: ``"pos.x"``; Tuple items are keys
``"0"``, ``"1"``, ...). String keys of a Dict (``Text``, MiniGrid's mission) are not an input and are dropped.

A composite observation travels as **one numpy structured array**: one field per key, each in its own dtype and
shape. The vector env, the replay's ring and files, the final-observation bookkeeping and batching then handle it
as an ordinary array of shape (N,) without a Python step per key or per env; the agent splits it into one tensor
per key at the network's door (``network_inputs``). A plain observation (one space, no mask) stays a plain array,
exactly as before composite spaces existed.

An **action mask** rides in the observation as the key ``action_mask`` ((A,) bool, True = legal): taken from a
Dict observation's own key (PettingZoo / OpenSpiel convention) or moved there from ``info["action_mask"]`` by the
env wrapper (Gymnasium's convention; rlkit/vec.py). The replay thus stores the next state's mask with the next
observation, and every target can mask its max.

    space = ObsSpace.from_gym(env.observation_space, mask=True)
    packed = space.pack(obs_dict)          # dict of (N, ...) arrays -> (N,) structured array
    inputs = space.network_inputs(packed, device)   # {key: tensor (N, ...)} (a tensor for a plain space)
    legal = space.mask_of(packed)          # (N, A) bool, or None without a mask
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
import torch

from rlkit.obs_keys import flatten_obs

MASK_KEY = "action_mask"
KINDS = ("box", "discrete", "multi_discrete", "multi_binary")


@dataclass(frozen=True)
class ObsField:
    """One key of an observation space.

    name: the key ("" for a plain observation); kind: one of KINDS; shape: one observation's shape; dtype: numpy
    dtype name; sizes: category counts (Discrete: (n,), MultiDiscrete: nvec flattened, others ()); start: the lowest
    category of a Discrete (its ``start``).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str
    sizes: tuple[int, ...] = ()
    start: int = 0

    @property
    def is_image(self) -> bool:
        """A uint8 Box of rank 3: an image, channels first (C, H, W) or last (H, W, C)."""
        return self.kind == "box" and len(self.shape) == 3 and self.dtype == "uint8"

    @property
    def channels_last(self) -> bool:
        """(H, W, C) layout of a rank-3 Box: the last axis is the smallest and at most 4 (RGB(A), MiniGrid's 3
        codes, a board's 2 planes)."""
        shape = self.shape
        return self.kind == "box" and len(shape) == 3 and shape[-1] <= 4 and shape[-1] < shape[0]

    @property
    def image_chw(self) -> tuple[int, int, int]:
        """A rank-3 Box's shape channels first."""
        shape = self.shape
        return (shape[2], shape[0], shape[1]) if self.channels_last else (shape[0], shape[1], shape[2])

    @property
    def width(self) -> int:
        """Features of the flat encoding: one-hot widths for categories, element count otherwise."""
        if self.kind in ("discrete", "multi_discrete"):
            return int(sum(self.sizes))
        return int(np.prod(self.shape, dtype=np.int64))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape), "dtype": self.dtype,
                "sizes": list(self.sizes), "start": self.start}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ObsField":
        return cls(str(data["name"]), str(data["kind"]), tuple(int(d) for d in data["shape"]), str(data["dtype"]),
                   tuple(int(s) for s in data.get("sizes", ())), int(data.get("start", 0)))


class UnsupportedSpace(ValueError):
    """An observation space rlkit cannot take (the env layer turns it into an EnvError naming the env)."""


class ObsSpace:
    """The observation space of an agent: its fields, the storage ``shape`` / ``dtype`` and the mask key.

    ``shape`` and ``dtype`` are what one observation is stored as: the field's own for a plain space, ``()`` and
    a structured dtype (one field per key) for a composite one. ``mask_key`` is ``"action_mask"`` when the space
    carries legal actions, else None. Build with ``from_gym``, ``box`` or ``from_dict``.
    """

    def __init__(self, fields: tuple[ObsField, ...], mask_key: str | None = None, dropped: tuple[str, ...] = ()):
        if not fields:
            raise UnsupportedSpace("an observation space needs at least one input")
        self.fields = tuple(fields)
        self.mask_key = mask_key
        self.dropped = tuple(dropped)  # keys of the env's space that are not inputs (Text)
        self.composite = len(self.fields) > 1 or self.fields[0].name != ""
        if self.composite:
            self.dtype = np.dtype([(f.name, np.dtype(f.dtype), f.shape) for f in self.fields])
            self.shape: tuple[int, ...] = ()
        else:
            self.dtype = np.dtype(self.fields[0].dtype)
            self.shape = self.fields[0].shape

    # -- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def box(cls, shape: Any, dtype: Any) -> "ObsSpace":
        """A plain Box observation of ``shape`` and ``dtype`` (what checkpoints before composite spaces describe)."""
        return cls((ObsField("", "box", tuple(int(d) for d in shape), np.dtype(dtype).name),))

    @classmethod
    def from_gym(cls, space: gym.Space, mask: bool = False) -> "ObsSpace":
        """The ObsSpace of a Gymnasium space. ``mask``: a Dict's ``action_mask`` key is the action mask (else an
        ordinary input). Raises UnsupportedSpace (one line) for a space rlkit cannot take."""
        fields: list[ObsField] = []
        dropped: list[str] = []
        _collect(space, "", fields, dropped)
        if not fields:
            raise UnsupportedSpace(f"observation space {space} has no input rlkit can use (only Text keys)")
        mask_key = None
        if mask:
            found = [f for f in fields if f.name == MASK_KEY]
            if not found:
                raise UnsupportedSpace(f"observation space {space} has no '{MASK_KEY}' key")
            if found[0].kind not in ("box", "multi_binary") or len(found[0].shape) != 1:
                raise UnsupportedSpace(f"the '{MASK_KEY}' key must be a 1-D MultiBinary or Box of 0/1, got "
                                       f"{found[0].kind} of shape {found[0].shape}")
            fields = [f if f.name != MASK_KEY else ObsField(MASK_KEY, "multi_binary", f.shape, "bool")
                      for f in fields]
            mask_key = MASK_KEY
        return cls(tuple(fields), mask_key, tuple(dropped))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a checkpoint's ``spaces`` entry (``from_dict`` reads it back)."""
        return {"fields": [f.to_dict() for f in self.fields], "mask_key": self.mask_key,
                "dropped": list(self.dropped)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ObsSpace":
        return cls(tuple(ObsField.from_dict(f) for f in data["fields"]), data.get("mask_key"),
                   tuple(data.get("dropped", ())))

    @classmethod
    def of_spaces(cls, spaces: Mapping[str, Any]) -> "ObsSpace":
        """The ObsSpace a checkpoint's ``spaces`` entry describes (older ones: a Box of obs_shape/obs_dtype)."""
        if "obs_space" in spaces:
            return cls.from_dict(spaces["obs_space"])
        return cls.box(spaces["obs_shape"], spaces["obs_dtype"])

    # -- what it is -----------------------------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[ObsField, ...]:
        """The fields the network reads (all but the mask)."""
        return tuple(f for f in self.fields if f.name != self.mask_key)

    @property
    def plain_box(self) -> bool:
        """One Box, no keys, no mask: the observation is the network's input tensor as it is."""
        return not self.composite and self.fields[0].kind == "box"

    @property
    def num_mask_actions(self) -> int | None:
        """The mask's width (the number of actions it speaks for), None without a mask."""
        if self.mask_key is None:
            return None
        return next(f.shape[0] for f in self.fields if f.name == self.mask_key)

    def describe(self) -> str:
        """One line for error messages: 'Dict(image: uint8 (7, 7, 3), direction: discrete 4)'."""
        if not self.composite:
            return _describe_field(self.fields[0])
        return "Dict(" + ", ".join(f"{f.name}: {_describe_field(f)}" for f in self.fields) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObsSpace) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(str(self.to_dict()))

    def __repr__(self) -> str:
        return f"ObsSpace({self.describe()}{', masked' if self.mask_key else ''})"

    # -- moving observations --------------------------------------------------------------------------------------
    def pack(self, obs: Any) -> np.ndarray:
        """An observation (or a batch of them) in storage form.

        Plain spaces: ``np.asarray(obs)``. Composite: a dict (nested dicts and tuples as the Gymnasium space has
        them) or an already packed structured array -> a structured array of shape ``batch``, where ``batch`` is
        the leading axes the values carry beyond their field's shape (() for one observation, (N,) for a vector
        env's). Raises ValueError naming a missing key or a misshaped value.
        """
        if not self.composite:
            return np.asarray(obs)
        if isinstance(obs, np.void):  # one row of a packed batch
            obs = np.asarray(obs)
        if isinstance(obs, np.ndarray) and obs.dtype == self.dtype:
            return obs
        if isinstance(obs, np.ndarray) and obs.dtype.names is not None:
            raise ValueError(f"observation has fields {obs.dtype.names}, expected {self.dtype.names}")
        flat = flatten_obs(obs)
        batch: tuple[int, ...] | None = None
        values = []
        for field in self.fields:
            if field.name not in flat:
                raise ValueError(f"observation has no key '{field.name}' (keys: {', '.join(sorted(flat)) or 'none'})")
            value = np.asarray(flat[field.name])
            lead = value.shape[:value.ndim - len(field.shape)]
            if value.shape[len(lead):] != field.shape:
                raise ValueError(f"observation key '{field.name}' has shape {value.shape}, expected "
                                 f"(..., {', '.join(map(str, field.shape))})")
            if batch is None:
                batch = lead
            elif lead != batch:
                raise ValueError(f"observation key '{field.name}' has batch shape {lead}, other keys {batch}")
            values.append(value)
        packed = np.empty(batch or (), self.dtype)
        for field, value in zip(self.fields, values):
            packed[field.name] = value
        return packed

    def network_inputs(self, obs: np.ndarray, device: torch.device) -> torch.Tensor | dict[str, torch.Tensor]:
        """A stored batch (B, *shape) as the network reads it: a tensor for a plain space, else {key: (B, ...)}
        tensors, each in its own dtype (the mask as bool)."""
        if not self.composite:
            return torch.as_tensor(obs, device=device)
        # a structured field is a strided view; one contiguous copy per key per batch (not per step)
        return {f.name: torch.as_tensor(obs[f.name].copy(), device=device) for f in self.fields}

    def mask_of(self, obs: np.ndarray) -> np.ndarray | None:
        """(B, A) bool legal actions of a stored batch (or (A,) for one observation); None without a mask."""
        if self.mask_key is None:
            return None
        return np.asarray(obs[self.mask_key], bool)


def batch_size(inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> int:
    """Rows of a network input (a tensor or a dict of per-key tensors)."""
    if isinstance(inputs, Mapping):
        return len(next(iter(inputs.values())))
    return len(inputs)


def concat_inputs(first: torch.Tensor | Mapping[str, torch.Tensor],
                  second: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor | dict[str, torch.Tensor]:
    """Two network inputs stacked along the batch axis (one forward for s and s')."""
    if isinstance(first, Mapping):
        return {key: torch.cat([first[key], second[key]]) for key in first}
    return torch.cat([first, second])


def input_mask(inputs: torch.Tensor | Mapping[str, torch.Tensor], mask_key: str | None) -> torch.Tensor | None:
    """The (B, A) bool mask of a network input, None when the space has none."""
    if mask_key is None or not isinstance(inputs, Mapping):
        return None
    return inputs[mask_key].bool()


def _collect(space: gym.Space, prefix: str, fields: list[ObsField], dropped: list[str]) -> None:
    """Append the fields of ``space`` (named below ``prefix``) to ``fields``; Text keys go to ``dropped``."""
    spaces = gym.spaces
    if isinstance(space, spaces.Dict):
        for key, sub in space.spaces.items():
            _collect(sub, f"{prefix}.{key}" if prefix else str(key), fields, dropped)
        return
    if isinstance(space, spaces.Tuple):
        for index, sub in enumerate(space.spaces):
            _collect(sub, f"{prefix}.{index}" if prefix else str(index), fields, dropped)
        return
    if is_text(space) and prefix:
        dropped.append(prefix)
        return
    if isinstance(space, spaces.Box):
        if not np.issubdtype(space.dtype, np.number) and space.dtype != np.bool_:
            raise UnsupportedSpace(f"observation {prefix or 'space'} is a Box of dtype {space.dtype}")
        fields.append(ObsField(prefix, "box", tuple(space.shape), np.dtype(space.dtype).name))
    elif isinstance(space, spaces.Discrete):
        fields.append(ObsField(prefix, "discrete", (), "int64", (int(space.n),), int(space.start)))
    elif isinstance(space, spaces.MultiDiscrete):
        if np.any(np.asarray(space.start) != 0):
            raise UnsupportedSpace(f"observation {prefix or 'space'} is a MultiDiscrete with a non-zero start")
        fields.append(ObsField(prefix, "multi_discrete", tuple(space.nvec.shape), "int64",
                               tuple(int(n) for n in space.nvec.reshape(-1))))
    elif isinstance(space, spaces.MultiBinary):
        fields.append(ObsField(prefix, "multi_binary", tuple(int(d) for d in space.shape), "int8"))
    else:
        where = f"observation key '{prefix}'" if prefix else "observation space"
        raise UnsupportedSpace(f"{where} is {space}; rlkit takes Box, Discrete, MultiDiscrete, MultiBinary and "
                               "Dict/Tuple of these")


def is_text(space: gym.Space) -> bool:
    """A space of strings: Gymnasium's Text, or another string space such as MiniGrid's MissionSpace."""
    if isinstance(space, gym.spaces.Text):
        return True
    dtype = getattr(space, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype).kind in "US"  # MissionSpace declares a unicode dtype
    if type(space).__module__.startswith("gymnasium.spaces"):
        return False
    try:
        return isinstance(space.sample(), str)
    except Exception:  # noqa: BLE001 (a space that cannot sample is not a string space we can recognise)
        return False


def _describe_field(field: ObsField) -> str:
    if field.kind == "discrete":
        return f"discrete {field.sizes[0]}"
    if field.kind == "multi_discrete":
        return f"multi_discrete {list(field.sizes)}"
    return f"{field.kind} {field.dtype} {field.shape}"
