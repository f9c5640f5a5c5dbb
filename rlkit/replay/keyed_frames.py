"""Frame-deduplicated replay for keyed (Dict / Tuple) observations whose image keys are frame stacks.

A keyed observation travels as one structured array (rlkit/spaces.py). Here its **stacked keys** (uint8 image keys
of shape ``(K, *frame_shape)``, e.g. a Dict env wrapped in Gymnasium's ``FrameStackObservation``) keep one frame per
row, exactly as ``FrameReplayBuffer`` stores a plain stack, and every **other key** (vectors, categories, the action
mask) is stored whole in the same row. A row is then one record:

    frame.<stacked key>   the newest frame of that key's stack              (*frame_shape) its dtype
    <other key>           the key's whole value                             its shape and dtype

written where ``FrameReplayBuffer`` writes its frame: the observation's record in the transition row, the
successor's record in the following row (a filler row when the episode ended). A sampled stack is then the K rows
ending at its row for the stacked keys and that one row for the others; the successor m steps later is the row m
further on, so the other keys' successors come back as stored. Everything else (fillers, depths, prefixes, n-step
windows, sampling, files) is ``FrameReplayBuffer``'s.

    buffer = KeyedFrameReplayBuffer(100_000, (), obs.dtype, num_envs=8, stacked=("image",))
"""

from __future__ import annotations

import numpy as np

from .frames import FrameReplayBuffer, _rows_equal


def stackable_keys(obs_dtype, stack_size: int | None = None) -> tuple[str, ...]:
    """The keys of a structured ``obs_dtype`` that frame storage deduplicates: uint8 fields of rank >= 3 whose first
    axis is ``stack_size`` (any first axis > 1 when None), in the dtype's order."""
    dtype = np.dtype(obs_dtype)
    keys = []
    for name in dtype.names or ():
        field = dtype.fields[name][0]
        shape = field.shape
        if field.base == np.uint8 and len(shape) >= 3 and shape[0] > 1 and shape[0] == (stack_size or shape[0]):
            keys.append(name)
    return tuple(keys)


class KeyedFrameReplayBuffer(FrameReplayBuffer):
    """``FrameReplayBuffer`` for structured observations (obs_shape ``()``): the ``stacked`` keys, all of shape
    ``(K, ...)`` with the same K, are stored a frame per row; the other keys whole. Same API and files."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype, num_envs: int = 1, n_step: int = 1,
                 gamma: float = 0.99, seed: int | None = None, num_actions: int | None = None,
                 stacked: tuple[str, ...] = ()):
        self.stacked = tuple(stacked)
        super().__init__(capacity, obs_shape, obs_dtype, num_envs, n_step, gamma, seed, num_actions)

    def _frame_layout(self) -> tuple[int, tuple[int, ...], np.dtype]:
        dtype = self.obs_dtype
        if self.obs_shape != () or not dtype.names:
            raise ValueError(f"KeyedFrameReplayBuffer needs keyed (structured) observations, got obs_shape "
                             f"{self.obs_shape} of {dtype}; use FrameReplayBuffer for plain frame stacks")
        unknown = [key for key in self.stacked if key not in dtype.names]
        if not self.stacked or unknown:
            raise ValueError(f"stacked keys {list(self.stacked)} must be a non-empty subset of the observation's "
                             f"keys {list(dtype.names)}")
        sizes = {dtype.fields[key][0].shape[:1] for key in self.stacked}
        if len(sizes) != 1 or min(len(dtype.fields[key][0].shape) for key in self.stacked) < 2:
            raise ValueError(f"stacked keys {list(self.stacked)} must all be stacks (K, ...) of one K, got shapes "
                             f"{[dtype.fields[key][0].shape for key in self.stacked]}")
        k = sizes.pop()[0]
        self._others = tuple(name for name in dtype.names if name not in self.stacked)
        names, formats, offsets = [], [], []
        for name in dtype.names:  # the record's fields, and where each lies inside one observation
            field, offset = dtype.fields[name][:2]
            if name in self.stacked:
                frame = np.dtype((field.base, field.shape[1:]))
                names.append("frame." + name), formats.append(frame), offsets.append(offset + (k - 1) * frame.itemsize)
            else:
                names.append(name), formats.append(field), offsets.append(offset)
        record = np.dtype({"names": names, "formats": formats})
        # The newest frames and other keys of an observation, as a record view of it: storing one is a single
        # structured copy, with no Python step per key.
        self._newest_view = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                                      "itemsize": dtype.itemsize})
        return k, (), record

    def _check_shifted(self, obs: np.ndarray, next_obs: np.ndarray) -> None:
        for key in self.stacked:
            shifted = _rows_equal(next_obs[key][:, :-1], obs[key][:, 1:])
            if not shifted.all():
                env = int(np.argmin(shifted))
                raise ValueError(f"next_obs[{env}][{key!r}] is not obs[{env}][{key!r}] shifted by one frame; frame "
                                 f"storage keeps stacked keys only: use replay.storage=full for these observations")

    def _newest(self, obs: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(obs).view(self._newest_view)

    def _stacks(self, frames: np.ndarray, start) -> np.ndarray:
        k, size = self.stack_size, len(frames)
        out = np.empty(size, self.obs_dtype)
        if isinstance(start, np.ndarray):
            rows = np.arange(size)[:, None]
            positions = start[:, None] + np.arange(k)
            for key in self.stacked:
                out[key] = frames["frame." + key][rows, positions]
            for key in self._others:
                out[key] = frames[key][rows[:, 0], start + k - 1]
        else:
            for key in self.stacked:
                out[key] = frames["frame." + key][:, start:start + k]
            for key in self._others:
                out[key] = frames[key][:, start + k - 1]
        return out

    def _older_present(self, obs: np.ndarray) -> np.ndarray:
        present = np.zeros((len(obs), self.stack_size - 1), bool)
        for key in self.stacked:
            present |= obs[key][:, :-1].reshape(len(obs), self.stack_size - 1, -1).any(axis=2)
        return present

    def _older_frames(self, obs: np.ndarray, env: int, first: int) -> np.ndarray:
        # Prefix rows are never a transition nor a successor: only their stacked frames are ever read.
        frames = np.zeros(self.stack_size - 1 - first, self._flat_frames.dtype)
        for key in self.stacked:
            frames["frame." + key] = obs[key][env, first:-1]
        return frames
