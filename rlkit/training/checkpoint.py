"""Checkpoints: versioned, written atomically, loaded without executing code.

A checkpoint is a ``torch.save`` file of one dict holding only tensors and plain data:

    {"format": "rlkit-checkpoint", "version": 1,
     "config": {...},                     # the resolved experiment config, as builtins
     "spaces": {"obs_shape": [...], "obs_dtype": "float32", "num_actions": 2},
     "agent": {...},                      # the agent's state_dict (networks, optimiser, exploration RNG)
     "trainer": {...},                    # step counters and the RNG states of torch, numpy and the replay buffer
    }

``load_checkpoint`` uses ``torch.load(weights_only=True)``: a file that asks the unpickler for any Python object
beyond tensors and builtins (the way a malicious pickle runs code) is refused before anything in it runs.
``save_checkpoint`` writes to a temporary file in the same directory, fsyncs it and renames it over the target, so
an interrupted save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.errors import CheckpointError, RunDirError
from rlkit.outputs import disk_full_message

FORMAT = "rlkit-checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` (tensors and builtins only) to ``path``; returns the path.

    Raises RunDirError with one line when the disk is full or the directory is not writable; the previous file at
    ``path`` is left as it was.
    """
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint without executing code from it.

    Raises CheckpointError naming the file when it is missing, corrupt or truncated, holds Python objects
    (refused unpickled), is not an rlkit checkpoint, or comes from a newer version of rlkit.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / "latest.pt"
        if not candidate.is_file():
            raise CheckpointError(f"'{path}' is a directory without checkpoints/latest.pt; pass a .pt checkpoint file")
        path = candidate
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' not found; pass the path of a .pt file written by rlkit train")
    foreign = _foreign_file(path)
    if foreign:
        raise CheckpointError(f"'{path}' is {foreign}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing: rlkit's line says it
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise CheckpointError(
                f"refused to load '{path}': it asks to run Python code or build arbitrary objects, which rlkit "
                "never does; only load checkpoints written by rlkit"
            ) from None
        raise CheckpointError(f"checkpoint '{path}' is corrupt or truncated ({_first_line(error)})") from None
    except Exception as error:  # torch raises RuntimeError, EOFError, zipfile errors... for damaged files
        raise CheckpointError(f"checkpoint '{path}' is corrupt or truncated ({_first_line(error)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is not an rlkit checkpoint (no '{FORMAT}' header); to use a Stable-Baselines3 model, "
            "convert it first"
        )
    if not isinstance(payload.get("version"), int) or payload["version"] > VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format version {payload.get('version')}, newer than this rlkit's {VERSION}; "
            "upgrade rlkit"
        )
    for key in ("config", "spaces", "agent"):
        if key not in payload:
            raise CheckpointError(f"checkpoint '{path}' lacks its '{key}' entry; it is damaged or incomplete")
    payload["path"] = str(path)
    return payload


def _foreign_file(path: Path) -> str | None:
    """What ``path`` is when it is plainly not a PyTorch checkpoint (from its first bytes), with what to do instead;
    None for a zip or pickle file, which torch.load then judges."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as error:
        return f"unreadable ({error.strerror}); check its permissions"
    if not head:
        return "empty (0 bytes); it is not a checkpoint"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "a damaged zip archive, not a readable checkpoint"
        if "data" in names and "policy.pth" in names:
            return ("a Stable-Baselines3 model, not an rlkit checkpoint; convert it with "
                    "`rlkit import-sb3 MODEL.zip --env ID`")
        if not any(name.endswith("data.pkl") for name in names):
            return "a zip archive but not a PyTorch checkpoint; pass a .pt file written by rlkit train"
        return None
    if head[:1] == b"\x80":  # a pickle protocol marker: torch's legacy format
        return None
    if head.startswith(b"\x89PNG"):
        return "a PNG image, not a checkpoint; pass a .pt file written by rlkit train"
    if path.suffix == ".onnx" or (head[:1] == b"\x08" and b"onnx" in head.lower()):
        return ("an ONNX model, not a torch checkpoint; run it with rlkit.edge.load_policy, or pass the .pt "
                "checkpoint it was exported from")
    if path.suffix in (".yaml", ".yml", ".json") or head.lstrip()[:1] in (b"{", b"#"):
        return "a text file (a config?), not a checkpoint; pass a .pt file written by rlkit train"
    return "not a PyTorch checkpoint (neither a zip nor a pickle file); pass a .pt file written by rlkit train"


def capture_rng_states() -> dict[str, Any]:
    """The global RNG states of torch (CPU and every CUDA device), numpy and Python, in a form ``weights_only``
    loading accepts."""
    kind, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        # numpy arrays are not plain data for the safe unpickler; a JSON string is.
        "numpy": json.dumps([kind, key.tolist(), int(pos), int(has_gauss), float(gauss)]),
        "python": json.dumps(random.getstate()),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of ``capture_rng_states``. CUDA states are restored when this machine has as many CUDA devices as
    the one that saved them (a run moved between a GPU and a CPU machine keeps its CPU streams only)."""
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda") or []
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)
    kind, key, pos, has_gauss, gauss = json.loads(states["numpy"])
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = json.loads(states["python"])
    random.setstate((version, tuple(internal), gauss_next))


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync, then rename it over ``path``.

    Used for checkpoints and replay files. OSErrors become one-line RunDirErrors; the temporary file is removed.
    """
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    except (OSError, RuntimeError) as error:
        # torch's zip writer reports a full disk as "file write failed" with no errno: the free space left is
        # what tells (read before the partial file is removed).
        full = _out_of_space(error, path.parent)
        temporary.unlink(missing_ok=True)
        if full:
            raise RunDirError(disk_full_message(path)) from None
        raise RunDirError(f"cannot write '{path}' ({_first_line(error)}); check permissions or set run_dir") from None


def _out_of_space(error: BaseException, directory: Path) -> bool:
    cause = error if isinstance(error, OSError) else error.__cause__ or error
    if getattr(cause, "errno", None) == errno.ENOSPC or "No space left" in str(error):
        return True
    try:
        return shutil.disk_usage(directory).free < _LOW_SPACE_BYTES
    except OSError:
        return False


_LOW_SPACE_BYTES = 16 << 20  # below this, a failed write is reported as a full disk


def clean_temporary_files(directory: Path) -> None:
    """Remove temporaries that a killed process left behind (they never replaced a real file)."""
    for stale in directory.glob(".*.tmp*"):
        stale.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an error's text, shortened at a word boundary (never mid-word) to about ``limit``."""
    text = str(error).strip().splitlines()
    if not text:
        return type(error).__name__
    line = text[0]
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + " ..."
