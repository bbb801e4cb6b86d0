"""Reading and writing a Hugging Face model folder: ``config.json`` and ``model.safetensors``.

Every fault of a folder (a file missing, JSON that does not parse, a config without a key the
converter needs or with a value of the wrong kind, an empty or truncated safetensors file) is a
``FileNotFoundError`` or ``ValueError`` that names the file and, where it applies, the key. The
converters (``bert``, ``gpt2``) read a config only through ``config_value``.

safetensors (Hugging Face's tensor file format: a JSON header, then raw little-endian arrays) is
an optional dependency of minifm: only these functions import it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from minifm.atomic import atomic_write

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def require_files(path: Path, files: tuple[str, ...], kind: str) -> None:
    """FileNotFoundError unless ``path`` is a folder holding every one of ``files``."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a {kind} folder: no such directory")
    for file in files:
        if not (path / file).is_file():
            raise FileNotFoundError(f"{path} is not a {kind} folder: {file} is missing")


def read_json(file: Path) -> dict[str, Any]:
    """A JSON object from ``file``; ValueError naming the file if it is not one."""
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{file} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise ValueError(f"{file} must hold a JSON object, got {type(value).__name__}")
    return value


_MISSING = object()


def config_value(config: Mapping[str, Any], key: str, kind: type | tuple[type, ...], file: Path,
                 default: Any = _MISSING) -> Any:
    """``config[key]`` checked to be of ``kind`` (bool is never an int here); ``default`` when
    the key is absent (an error naming the file and key if there is no default)."""
    if key not in config:
        if default is _MISSING:
            raise ValueError(f"{file}: the key {key!r} is missing")
        return default
    value = config[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"{file}: {key!r} must be {names}, got {value!r}")
    return value


def require_value(config: Mapping[str, Any], key: str, supported: tuple, file: Path,
                  default: Any) -> None:
    """ValueError naming the file, key and value unless ``config[key]`` (or ``default``) is one
    of the ``supported`` values: for options minifm's model does not implement."""
    value = config.get(key, default)
    if value not in supported:
        raise ValueError(f"{file}: {key}={value!r} is not supported by minifm "
                         f"(supported: {', '.join(map(repr, supported))})")


def read_tensors(file: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file; ValueError naming the file if it is empty, truncated
    or not a safetensors file."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{file} is not a readable safetensors file (empty or truncated?): "
                         f"{e}") from e


def write_folder(path: str | os.PathLike, config: Mapping[str, Any],
                 tensors: Mapping[str, np.ndarray], files: Mapping[str, str] | None = None
                 ) -> Path:
    """Write ``config.json``, ``model.safetensors`` and any text ``files`` {name: content} into
    the folder ``path`` (created if needed), each file atomically. Returns the folder."""
    from safetensors.numpy import save

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"the export folder {path} is an existing file")
    path.mkdir(parents=True, exist_ok=True)
    contiguous = {name: np.asarray(a, order="C") for name, a in tensors.items()}   # 0-D stays 0-D
    blobs = {WEIGHTS: save(contiguous, metadata={"format": "pt"}),
             CONFIG: (json.dumps(config, indent=2) + "\n").encode("utf-8")}
    blobs.update({name: text.encode("utf-8") for name, text in (files or {}).items()})
    for name, blob in blobs.items():
        atomic_write(path / name, lambda f, blob=blob: f.write(blob))
    return path
