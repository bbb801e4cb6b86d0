"""What every minifm tokenizer shares: a JSON form, and saving / loading it safely.

A tokenizer turns text into a list of integer ids (``encode``) and back (``decode``). Models
only ever see the ids, so a checkpoint must carry the tokenizer that produced them. Each
tokenizer therefore describes itself as a plain dict (``to_dict``) that JSON can store, with a
``"type"`` key naming its class, and rebuilds itself from that dict (``from_dict``).

    tok.save("tok.json")            # JSON, written atomically
    tok = CharTokenizer.load("tok.json")
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np

from minifm.atomic import atomic_write


class Stored:
    """What every tokenizer (of text or of images) shares: a JSON dict form (``to_dict`` /
    ``from_dict``, defined by each subclass) and ``save`` / ``load`` of that form."""

    type_name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define to_dict()")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stored:  # pragma: no cover - abstract
        raise NotImplementedError(f"{cls.__name__} does not define from_dict()")

    def save(self, path: str | os.PathLike) -> None:
        """Write ``to_dict()`` as JSON to ``path`` atomically (temp file + ``os.replace``)."""
        text = json.dumps(self.to_dict())
        atomic_write(path, lambda f: f.write(text.encode("utf-8")))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Stored:
        """Read a tokenizer saved by ``save``; the file's ``"type"`` must match this class."""
        return cls.from_dict(read_json(path))


class Tokenizer(Stored):
    """Base class of the text tokenizers: subclasses define ``type_name``, ``to_dict``,
    ``from_dict``, ``encode``, ``decode`` and ``vocab_size``; saving and loading come from
    ``Stored``."""

    @property
    def vocab_size(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define vocab_size")

    def encode(self, text: str) -> list[int]:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define encode()")

    def decode(self, ids: Iterable[int]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define decode()")


def check_dict(d: Any, type_name: str, keys: Iterable[str]) -> None:
    """Raise unless ``d`` is a dict of type ``type_name`` that holds every key in ``keys``."""
    if not isinstance(d, dict):
        raise TypeError(f"a tokenizer dict must be a dict, got {type(d).__name__}")
    if d.get("type") != type_name:
        raise ValueError(f"expected a tokenizer dict of type {type_name!r}, "
                         f"got type {d.get('type')!r}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"{type_name} tokenizer dict is missing key(s) {missing}")


def check_text(text: Any, what: str = "text") -> str:
    """Return ``text`` if it is a str of real characters, else raise: TypeError for another kind
    of thing, ValueError for a lone surrogate (half of a UTF-16 pair, not a character; UTF-8
    cannot encode it, so no tokenizer could give it back)."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"{what} holds a lone surrogate U+{ord(text[e.start]):04X} at "
                             f"position {e.start}, which is not a character (UTF-8 cannot "
                             "encode it)") from None
    return text


def check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    """Return ``ids`` (a sequence of ints, or a 1-D integer array) as a list of Python ints:
    TypeError for a str, floats or bools (never silently truncated), ValueError for any id
    outside [0, V)."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"token ids must be a sequence of ints, got {type(ids).__name__}")
    if isinstance(ids, np.ndarray):
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"token ids must be a sequence of ints, got an array of {ids.dtype}")
        if ids.ndim != 1:
            raise ValueError(f"token ids must be one sequence (T,), got shape {ids.shape}")
        out = ids.tolist()
    else:
        out = list(ids)
        for i in out:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise TypeError(f"token ids must be ints, got {i!r} ({type(i).__name__})")
        out = [int(i) for i in out]
    bad = [i for i in out if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got {bad[:5]}"
                         f"{' ...' if len(bad) > 5 else ''}")
    return out


def check_strings(items: Any, what: str) -> list[str]:
    """Return ``items`` (a list or tuple of str, as stored in a tokenizer dict) as a list."""
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"{what} must be a list of str, got {type(items).__name__}")
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what} must be a list of str, got an item {item!r} "
                            f"({type(item).__name__})")
    return list(items)


def check_flag(flag: Any, what: str, *, allow_none: bool = False) -> bool | None:
    """``flag`` must be a bool (or None if ``allow_none``); "yes" or 1 is a TypeError."""
    if not (isinstance(flag, (bool, np.bool_)) or (allow_none and flag is None)):
        raise TypeError(f"{what} must be True or False{' or None' if allow_none else ''}, got "
                        f"{flag!r} ({type(flag).__name__})")
    return None if flag is None else bool(flag)


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON object from ``path`` with clear errors for a missing file or malformed JSON."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a tokenizer file (a .json saved by "
                         "tokenizer.save)")
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"tokenizer file {path} is not valid JSON: {e}") from e
    if not isinstance(d, dict) or "type" not in d:
        raise ValueError(f"tokenizer file {path} must hold a JSON object with a 'type' key, "
                         f"got {type(d).__name__}")
    return d
