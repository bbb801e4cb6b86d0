"""Writing a file atomically: a reader sees either the old file or the complete new one.

Checkpoints, tokenizers and metrics all go through ``atomic_write``, so an interrupted save never
leaves a half-written file under the real name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it over ``path``.

    The data is flushed and fsynced before ``os.replace`` (atomic on POSIX and Windows), so
    ``path`` is always either the old file or the complete new one; on any error the temporary
    file is removed and the error re-raised.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
