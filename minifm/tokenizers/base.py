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
    """Return ``text`` if it is a str, else raise TypeError naming what arrived."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    return text


def check_ids(ids: Iterable[int], vocab_size: int) -> list[int]:
    """Return ``ids`` as a list of Python ints, raising ValueError for any id outside [0, V)."""
    out = [int(i) for i in ids]
    bad = [i for i in out if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got {bad[:5]}"
                         f"{' ...' if len(bad) > 5 else ''}")
    return out


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON object from ``path`` with clear errors for a missing file or malformed JSON."""
    path = Path(path)
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
