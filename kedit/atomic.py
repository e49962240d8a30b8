"""Atomic file writes and run-folder locks.

``atomic_write`` writes through a temporary file with a unique name in the target's folder, then
renames it over the target: a reader sees the old file or the new one, never half of either, and
two processes writing the same target never share a temporary file. ``PathLock`` / ``FolderLock``
make a second writer of one output (two ``keval run`` on one ``--out``) fail at once with the
holder's PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import KeditError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO]:
    """Open a unique temporary sibling of ``path`` for writing; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600); a result file is an ordinary file
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else newline) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_json(path: str | Path, obj: Any, **kw: Any) -> Path:
    return atomic_write(path, json.dumps(obj, **{"indent": 2, "ensure_ascii": False, **kw}))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class PathLock:
    """An exclusive lock: the file ``path`` holds the owner's PID.

    Created with O_EXCL, so of two processes only one gets it; a lock whose PID is no longer
    running (a killed run) is taken over, with a warning.
    """

    def __init__(self, path: str | Path, what: str | None = None):
        self.path = Path(path)
        self.what = what or str(self.path.parent)
        self._held = False

    def acquire(self) -> "PathLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid == os.getpid():
                    raise KeditError(f"{self.what} is already in use by this process") from None
                if pid and _alive(pid):
                    raise KeditError(f"{self.what} is in use by PID {pid} (another run writes there); "
                                     "wait for it to finish or choose another --out") from None
                log.warning("%s: taking over the lock of PID %s, which is no longer running (%s)", self.what, pid or "?", self.path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)  # stale: its process is gone
                continue
            except PermissionError:
                raise KeditError(f"{self.what}: cannot write in {self.path.parent} (permission denied)") from None
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self._held = True
            return self
        raise KeditError(f"could not lock {self.what}; remove {self.path} if no run is using it")

    def release(self) -> None:
        if self._held:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self._held = False

    def __enter__(self) -> "PathLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class FolderLock(PathLock):
    """A run folder's lock: ``<folder>/.lock``."""

    def __init__(self, folder: str | Path, what: str | None = None):
        super().__init__(Path(folder) / ".lock", what or str(folder))
