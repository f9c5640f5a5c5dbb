"""Run directories: what one holds, and the lock that gives it a single writer.

A run directory is ``empty`` (missing, or holding neither ``config.yaml`` nor a checkpoint), ``started`` (a run
wrote its ``config.yaml`` but stopped before its first checkpoint: Ctrl-C early, SIGKILL, a crash), or
``checkpointed`` (``checkpoints/latest.pt`` exists). ``rlkit train`` starts an empty or a started directory and
refuses a checkpointed one; ``--resume`` continues a checkpointed one and starts a started one from step 0.

``RunDirLock`` claims a directory for one process with ``fcntl.flock`` on ``RUN_DIR/.lock``, which holds the
holder's PID, host and start time. The kernel drops a flock when its process dies, however it dies, so a lock file
left by a dead process is simply taken over (with a warning naming it); a live holder makes a second writer fail
with one line naming the holder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from rlkit.errors import RunDirError

LOCK_NAME = ".lock"
EMPTY, STARTED, CHECKPOINTED = "empty", "started", "checkpointed"


def run_state(run_dir: str | Path) -> str:
    """``empty``, ``started`` or ``checkpointed`` (see the module docstring)."""
    run_dir = Path(run_dir)
    if (run_dir / "checkpoints" / "latest.pt").is_file():
        return CHECKPOINTED
    if (run_dir / "config.yaml").is_file():
        return STARTED
    return EMPTY


class RunDirLock:
    """An exclusive claim on ``run_dir`` (which must exist) for this process; ``release`` (or exit) gives it up."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Claim the directory; RunDirError naming the holder when another live process has it."""
        import fcntl  # POSIX only; imported here so `import rlkit` works on any platform

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunDirError(f"cannot create the lock file '{self.path}' ({error.strerror}); "
                              "set run_dir to a writable place") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _describe(_read(fd))
            os.close(fd)
            raise RunDirError(f"run directory '{self.run_dir}' is in use by {holder}; wait for that run to end "
                              "(or stop it), or pick another run_dir") from None
        previous = _read(fd)
        if previous and (previous.get("pid"), previous.get("host")) != (os.getpid(), socket.gethostname()):
            sys.stderr.write(f"rlkit: warning: took over the lock of '{self.run_dir}' from {_describe(previous)}, "
                             "which is no longer running\n")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the directory up (the lock file stays, empty, so a later holder sees no previous one)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None

    def __del__(self) -> None:
        self.release()


def _read(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} (since {holder.get('since')})"
