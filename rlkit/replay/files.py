"""Replay files: a buffer's state as an uncompressed .npz, written atomically and streamed back in without a second
copy of the buffer and without unpickling anything; stamped with the env step it belongs to."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from rlkit.errors import CheckpointError

_STEP_KEY = "step"  # the env step a saved buffer belongs to
_STREAM_CHUNK = 16 << 20  # bytes per read when streaming a large array from a file into a buffer
_EAGER_BYTES = 1 << 20  # arrays smaller than this are read whole; larger ones stay lazy until copied into place


def write_replay_file(path, state: dict, step: int | None = None) -> None:
    """Write `state` (arrays and python scalars) to `path` as an uncompressed .npz, atomically (temporary file,
    fsync, rename). np.savez writes each contiguous array into the zip in 16 MiB chunks, so saving a full buffer
    adds no copy of it to memory. `step` (the env step of the checkpoint the file goes with) is stored as the
    member `step`, so a loader can tell a replay from a checkpoint it does not belong to."""
    from rlkit.training.checkpoint import atomic_write  # imported here: rlkit.training.checkpoint imports torch, replay does not need it

    stamp = {} if step is None else {_STEP_KEY: np.int64(step)}
    atomic_write(Path(path), lambda handle: np.savez(handle, **state, **stamp))


def read_replay_step(path) -> int | None:
    """The step stamped into a replay file by `save(path, step)`, or None when it carries none (an older file, or
    one saved without a step). Reads only that member. Raises CheckpointError naming the file if it is unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return int(npz[_STEP_KEY]) if _STEP_KEY in npz.files else None
    except FileNotFoundError:
        raise CheckpointError(f"replay file {path} not found; check the path") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"replay file {path} is unreadable or unsafe ({_reason(err)}); "
                              f"it was not written by a replay buffer's save") from None


def read_replay_format(path) -> str | None:
    """The storage format a replay file was written by (its ``format`` member, e.g. ``"rlkit.frame_replay/1"``), or
    None when the file is missing, unreadable or carries none (reads only that member)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return str(npz["format"]) if "format" in npz.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def read_replay_file(path, buffer) -> None:
    """`buffer.load_state_dict` from a file written by `write_replay_file`, never unpickling anything.

    Arrays of 1 MiB or more reach `load_state_dict` as lazy members (`shape`, `dtype`) that `stream_into` copies
    into place, so a 7 GB frame array is never held twice.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CheckpointError(f"replay file {path} not found; check the path") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"replay file {path} is unreadable or unsafe ({_reason(err)}); "
                              f"it was not written by a replay buffer's save") from None
    with npz:
        try:
            state = {}
            for key in npz.files:
                member = _NpyMember(npz.zip, key)
                state[key] = member if member.nbytes >= _EAGER_BYTES else npz[key]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise CheckpointError(f"replay file {path} is unreadable or unsafe ({_reason(err)}); "
                                  f"it was not written by a replay buffer's save") from None
        try:
            buffer.load_state_dict(state)
        except CheckpointError as err:
            raise CheckpointError(f"replay file {path}: {err}") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            buffer.clear()
            raise CheckpointError(f"replay file {path} is corrupt ({_reason(err)}); "
                                  f"the buffer was left empty") from None


def stream_into(destination: np.ndarray, value) -> None:
    """Copy `value` (an array, or a lazy member from `read_replay_file`) into `destination` of the same shape."""
    if isinstance(value, _NpyMember):
        value.copy_into(destination)
    else:
        np.copyto(destination, value)


class _NpyMember:
    """One array of an open .npz, read only when asked: `shape`, `dtype` and `nbytes` come from its header."""

    def __init__(self, archive: zipfile.ZipFile, key: str):
        self._archive, self._name = archive, key + ".npy"
        with archive.open(self._name) as handle:
            version = np.lib.format.read_magic(handle)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"array {key!r} has unsupported .npy version {version}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran_order, self.dtype = read_header(handle)
            self._offset = handle.tell()
        if self.dtype.hasobject or fortran_order:  # never written by save: refused before reading any of it
            raise ValueError(f"array {key!r} holds Python objects or is in Fortran order")
        self.shape = tuple(shape)
        self.nbytes = int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize

    def copy_into(self, destination: np.ndarray) -> None:
        """Stream the data into `destination`, C-contiguous, of this shape and dtype (validated by the caller)."""
        if destination.shape != self.shape or destination.dtype != self.dtype or not destination.flags.c_contiguous:
            raise ValueError(f"array {self._name[:-4]!r} does not fit its destination")
        view = memoryview(destination.reshape(-1).view(np.uint8))
        with self._archive.open(self._name) as handle:
            handle.seek(self._offset)
            done = 0
            while done < len(view):
                chunk = handle.read(min(_STREAM_CHUNK, len(view) - done))
                if not chunk:
                    raise EOFError(f"array {self._name[:-4]!r} ends before its {self.nbytes} bytes")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
            if handle.read(1):  # reading to the end also makes zipfile check the member's CRC
                raise ValueError(f"array {self._name[:-4]!r} is longer than its header says")


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
