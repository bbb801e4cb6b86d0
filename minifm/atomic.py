"""Writing a file atomically: a reader sees either the old file or the complete new one, and a
writer killed mid-save leaves nothing behind for long.

Checkpoints, tokenizers and metrics all go through ``atomic_write``, so an interrupted save never
leaves a half-written file under the real name. The data goes to a temporary file next to it,
``.<name>.<random>.tmp``, which is renamed over ``<name>`` once complete. A writer that is killed
(SIGKILL, power cut) before the rename leaves that temporary file behind, and a checkpoint's is
tens of MB; ``remove_stale_temps(path)``, called by every ``atomic_write`` of ``path`` and by
``load_checkpoint``, deletes the ones of that same name whose writer is gone.

Which writer is gone: each writer holds an exclusive ``flock`` on its temporary file from the
moment it creates it until after the rename, and the kernel drops a lock when its process dies,
however it dies. A temporary file nobody holds is therefore stale, one a live writer holds (a
concurrent save into the same folder, in this process or another) is left alone. The two races
are closed: a cleaner that deletes a file in the instant between a writer's ``mkstemp`` and its
lock is noticed by the writer (its file has no name left), which makes a new one; and the rename
happens while the lock is still held. Without ``fcntl`` (Windows) no file is ever judged stale
and nothing is cleaned. (On a network file system ``flock`` is only as good as the server's lock
support: NFS v4 honours it.)
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

try:
    import fcntl
except ImportError:                                   # pragma: no cover - Windows
    fcntl = None


def _temp_name(path: Path) -> re.Pattern:
    """The names ``mkstemp`` gives ``path``'s temporary files: ``.<name>.<8 of [a-z0-9_]>.tmp``
    (no dot inside the random part, so ``a``'s pattern never matches a temp file of ``a.b``)."""
    return re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]+\.tmp")


def _locked_temp(path: Path) -> tuple[int, str]:
    """A new temporary file next to ``path``, open and locked by this writer: (fd, its path)."""
    while True:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp
        os.close(fd)                  # a cleaner deleted it before we locked it: make another


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files ``atomic_write`` left next to ``path`` whose writer is gone (no
    process holds their lock); return the paths removed. Other files are never touched."""
    path = Path(path)
    if fcntl is None or not path.parent.is_dir():
        return []
    own_kind = _temp_name(path)
    removed = []
    for entry in os.scandir(path.parent):
        if not own_kind.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            continue                                  # renamed into place, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held, now = os.fstat(fd), os.stat(entry.path, follow_symlinks=False)
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except (BlockingIOError, FileNotFoundError):
            pass                                      # a live writer holds it, or it is gone
        finally:
            os.close(fd)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it over ``path``.

    The data is flushed and fsynced before ``os.replace`` (atomic on POSIX and Windows), so
    ``path`` is always either the old file or the complete new one; on any error the temporary
    file is removed and the error re-raised. Stale temporary files of ``path`` left by killed
    writers are removed first (``remove_stale_temps``).
    """
    path = Path(path)
    remove_stale_temps(path)
    fd, tmp = _locked_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:                # closing f releases the lock
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:
                os.replace(tmp, path)                 # still locked: no cleaner can take tmp
        if fcntl is None:                             # pragma: no cover - Windows: rename closed
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
