"""Output paths, checked before any work starts: a training run must not fail after an hour
because ``--out`` names a file, ``--metrics-out`` names a folder, or the folder cannot be
written. Each message names the flag and the user's path.

    out = check_output_dir("runs/gpt", "--out")         # creates the folder, or ValueError
    check_output_file("grid.png", "--out")              # creates its folder, or ValueError
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _writable_dir(path: Path, flag: str, what: str) -> None:
    """Create the folder ``path`` (and its parents) and prove a file can be written in it."""
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag} {what}: {parent} is a file, not a folder")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"{flag} {what}: cannot write in {path} ({e.strerror or e})") from e


def check_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """The folder ``path`` (given by ``flag``), created if needed; ValueError naming both if it
    is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file; give a folder (it will be created if "
                         "needed)")
    _writable_dir(path, flag, str(path))
    return path


def check_output_file(path: str | os.PathLike, flag: str) -> Path:
    """The file path ``path`` (given by ``flag``), its folder created if needed; ValueError
    naming both if it is a folder or its folder cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name")
    _writable_dir(path.parent, flag, str(path))
    return path
