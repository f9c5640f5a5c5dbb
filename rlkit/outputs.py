"""Output paths: the one place where rlkit checks a file it is about to write and explains why it cannot.

Every command that writes a user-named file (``export --out``, ``import-sb3 --out``, ``plot --out``,
``eval --video``) calls ``claim_output`` before doing any work, so a bad path fails in one line before minutes of
work, and an existing file is refused unless the caller forces it; ``removed_on_failure`` deletes the partial
outputs of a command that fails half-way. Checkpoint writes (``rlkit.training.checkpoint.atomic_write``) report a full disk
through ``disk_full_message``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from rlkit.errors import RlkitError

SUFFIXES = {"checkpoint": (".pt",), "ONNX policy": (".onnx",), "plot": (".png", ".pdf", ".svg")}


def claim_output(path: str | Path, what: str, force: bool = False, flag: str = "--force",
                 directory: bool = False) -> Path:
    """Check that ``path`` can be written as ``what`` (a key of SUFFIXES, or any noun) and return it as a Path.

    Refused, with one RlkitError line naming the path: a suffix ``what`` does not support; an existing file (unless
    ``force``; ``flag`` names the option that forces it); a path under an existing file; a directory path for a
    file (or a file for ``directory=True``); a parent that cannot be created or written.
    """
    path = Path(path)
    allowed = SUFFIXES.get(what)
    if directory:
        if path.exists() and not path.is_dir():
            raise RlkitError(f"{what} directory '{path}' is a file; pass a directory path")
    elif path.is_dir():
        raise RlkitError(f"{what} path '{path}' is a directory; pass a file path")
    elif allowed and path.suffix.lower() not in allowed:
        raise RlkitError(f"{what} path '{path}' must end in {' or '.join(allowed)}")
    elif path.exists() and not force:
        raise RlkitError(f"{what} '{path}' exists already; pass {flag} to replace it, or choose another path")
    parent = path if directory else path.parent
    blocker = next((p for p in [parent, *parent.parents] if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise RlkitError(f"cannot write {what} '{path}': '{blocker}' is a file, not a directory")
    if blocker is not None and not os.access(blocker, os.W_OK | os.X_OK):
        raise RlkitError(f"cannot write {what} '{path}': '{blocker}' is not writable; choose another path")
    return path


@contextlib.contextmanager
def removed_on_failure(*paths: str | Path) -> Iterator[None]:
    """Delete those of ``paths`` that did not exist before the block, if the block raises (partial outputs)."""
    fresh = [Path(p) for p in paths if not Path(p).exists()]
    try:
        yield
    except BaseException:
        for path in fresh:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def disk_full_message(path: str | Path) -> str:
    """One line for a write that ran out of space: the path, the free space left there, what to do."""
    path = Path(path)
    existing = next((p for p in [path.parent, *path.parents] if p.exists()), Path("."))
    try:
        free = shutil.disk_usage(existing).free
        left = f"{free / 2**20:,.1f} MiB free there"
    except OSError:
        left = "free space unknown"
    return f"disk full while writing '{path}' ({left}); free space or write to another disk"
