"""Checkpoints: everything needed to rebuild a model and continue its training bit for bit.

One ``.npz`` file written with ``np.savez`` (plain arrays, no pickle) holding

    param/<name>     every model parameter, e.g. ``param/h.0.attn.c_attn.weight``
    optim/<key>      the optimizer's ``state_dict()`` (moments, and its step count as a 0-D array)
    meta             UTF-8 JSON as a uint8 array: format version, family, model config, dtype,
                     train config, tokenizer dict, step, the trainer's RNG state, the RNG state of
                     every module attribute ``rng`` (dropout), extra data, and a SHA-256 per array

A model that reads several tokenizers (DALL-E: caption words and image codes) passes them by name,
``tokenizer={"caption": words, "image": codes}``; the meta then holds ``{name: to_dict()}``, and
``build_tokenizer`` gives the same dict of tokenizers back. So the checkpoint alone rebuilds
everything its model reads (an image tokenizer's arrays are in its dict; see
``minifm.tokenizers.image``).

The file is written atomically (temporary file in the same folder, flush, fsync, ``os.replace``),
so a crash mid-write leaves the previous checkpoint untouched; the temporary file such a crash
leaves is deleted by the next save or load of that checkpoint (``minifm.atomic``, which also says
how a concurrent writer's file is told apart). ``load_checkpoint`` reads it with
``allow_pickle=False`` and checks every array against its checksum and every generator state by
setting it; anything wrong (missing, empty, truncated, a damaged zip directory, tampered, garbage
RNG state, not a checkpoint, pickled objects, another family) raises ``CheckpointError`` naming
the file.

    save_checkpoint("out/checkpoint.npz", model=model, optimizer=opt, step=100, rng=rng,
                    train_config=cfg, tokenizer=tok, family="gpt")
    ckpt = load_checkpoint("out/checkpoint.npz", family="gpt")
    model = ckpt.build_model()            # same weights, dropout generators restored
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from minifm.atomic import atomic_write, remove_stale_temps
from minifm.models import build_model, upgrade_config
from minifm.nn.module import Module
from minifm.tokenizers import tokenizer_from_dict

FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.npz"      # the file name used inside an output directory
_META_KEYS = ("format_version", "family", "model_config", "dtype", "train_config", "tokenizer",
              "step", "rng_state", "module_rng_states", "extra", "sha256")


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, or not the kind of checkpoint that was asked for."""


@dataclass(frozen=True)
class Checkpoint:
    """The contents of a checkpoint file (see the module docstring for the layout)."""

    path: Path
    family: str
    model_config: dict[str, Any]
    dtype: str                              # the parameters' dtype, e.g. "float32"
    train_config: dict[str, Any] | None
    tokenizer: dict[str, Any] | None        # ``tokenizer.to_dict()``, or {name: to_dict()}
    step: int                               # optimizer steps taken when it was saved
    rng_state: dict[str, Any]               # the trainer generator's ``bit_generator.state``
    module_rng_states: dict[str, dict]      # "<module path>.rng" -> ``bit_generator.state``
    params: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]        # ``optimizer.state_dict()`` as arrays
    extra: dict[str, Any]

    def build_model(self) -> Module:
        """Rebuild the model from the family registry, load its weights, restore dropout RNGs."""
        try:
            model = build_model(self.family, self.model_config, rng=np.random.default_rng(0),
                                dtype=np.dtype(self.dtype))
            model.load_state_dict(self.params)
            restore_module_rngs(model, self.module_rng_states)
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"checkpoint {self.path}: cannot rebuild the {self.family!r} "
                                  f"model: {e}") from e
        return model

    def build_tokenizer(self) -> Any:
        """Rebuild the tokenizer with ``minifm.tokenizers.tokenizer_from_dict`` (None if absent;
        a dict {name: tokenizer} if the model was saved with several)."""
        if self.tokenizer is None:
            return None
        if "type" in self.tokenizer:                          # one tokenizer's to_dict()
            return tokenizer_from_dict(self.tokenizer)
        return {name: tokenizer_from_dict(d) for name, d in self.tokenizer.items()}

    def require_tokenizer(self) -> Any:
        """The tokenizer, for a caller that must encode text for this model; a checkpoint saved
        without one is refused."""
        tokenizer = self.build_tokenizer()
        if tokenizer is None:
            raise CheckpointError(f"checkpoint {self.path} has no tokenizer to encode text with "
                                  "(it was saved without one)")
        return tokenizer

    def make_rng(self) -> np.random.Generator:
        """A generator (PCG64, as ``np.random.default_rng`` makes) in exactly the state the
        trainer's generator had when this was saved."""
        rng = np.random.default_rng()
        rng.bit_generator.state = self.rng_state
        return rng


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a directory holding ``checkpoint.npz``, as the file's path."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def module_rngs(model: Module) -> dict[str, np.random.Generator]:
    """Every generator a module keeps in an attribute named ``rng`` (dropout), by dotted path."""
    found = {}
    for name, module in model.named_modules():
        rng = getattr(module, "rng", None)
        if isinstance(rng, np.random.Generator):
            found[f"{name}.rng" if name else "rng"] = rng
    return found


def restore_module_rngs(model: Module, states: dict[str, dict]) -> None:
    """Put each module generator back into the state saved under its dotted path."""
    rngs = module_rngs(model)
    if set(rngs) != set(states):
        raise CheckpointError(f"the model's generators {sorted(rngs)} do not match the saved "
                              f"generator states {sorted(states)}")
    for name, rng in rngs.items():
        rng.bit_generator.state = states[name]


def _sha256(a: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (so a re-shaped array does not pass either)."""
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _tokenizer_dict(tokenizer: Any) -> dict[str, Any] | None:
    """None, one tokenizer's ``to_dict()``, or {name: to_dict()} for a dict of tokenizers."""
    if tokenizer is None:
        return None
    if isinstance(tokenizer, Mapping):
        return {name: tok.to_dict() for name, tok in tokenizer.items()}
    return tokenizer.to_dict()


def save_checkpoint(path: str | os.PathLike, *, model: Module, optimizer: Any, step: int,
                    rng: np.random.Generator, train_config: Any, tokenizer: Any, family: str,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint of ``model`` (with a ``.config`` dataclass), ``optimizer``, ``step``,
    the trainer's ``rng``, ``train_config`` (a dataclass or None), ``tokenizer`` (with
    ``to_dict()``, a dict {name: tokenizer} of several, or None) and JSON-serialisable
    ``extra``. Returns the path written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write checkpoint {path}: folder {path.parent} does not "
                                "exist")
    arrays = {f"param/{name}": p.data for name, p in model.named_parameters()}
    arrays.update({f"optim/{key}": np.asarray(value)
                   for key, value in optimizer.state_dict().items()})
    meta = {
        "format_version": FORMAT_VERSION,
        "family": family,
        "model_config": dataclasses.asdict(model.config),
        "dtype": str(next(iter(arrays.values())).dtype),
        "train_config": None if train_config is None else dataclasses.asdict(train_config),
        "tokenizer": _tokenizer_dict(tokenizer),
        "step": int(step),
        "rng_state": rng.bit_generator.state,
        "module_rng_states": {name: g.bit_generator.state
                              for name, g in module_rngs(model).items()},
        "extra": extra or {},
        "sha256": {key: _sha256(a) for key, a in arrays.items()},
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))
    return path


_ZIP_MAGIC, _NPY_MAGIC = (b"PK\x03\x04", b"PK\x05\x06"), b"\x93NUMPY"   # as np.load tells them
# What reading a damaged .npz can raise: a bad zip directory or header (BadZipFile, and
# NotImplementedError / RuntimeError for a flipped compression or encryption flag), a bad
# deflate stream (zlib.error), a short read (EOFError, OSError), a bad .npy header (ValueError,
# KeyError, SyntaxError from its literal dict, struct.error via ValueError).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
                NotImplementedError, RuntimeError, SyntaxError, UnicodeDecodeError)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path``, read without pickle; CheckpointError otherwise."""
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); save it again or use an "
                              "earlier one")
    if head.startswith(_NPY_MAGIC):
        raise CheckpointError(f"{path} holds a single .npy array, not a minifm checkpoint (.npz)")
    if not head.startswith(_ZIP_MAGIC):
        raise CheckpointError(f"{path} is not a minifm checkpoint: it is not an .npz archive "
                              "(another kind of file, or a checkpoint truncated or corrupted at "
                              "its start)")
    try:
        with np.load(path, allow_pickle=False) as loaded:
            arrays = {}
            for key in loaded.files:
                try:
                    arrays[key] = loaded[key]
                except ValueError as e:
                    if "allow_pickle" not in str(e):
                        raise
                    raise CheckpointError(f"{path} is not a minifm checkpoint: its entry {key!r} "
                                          "holds pickled Python objects, which minifm never "
                                          "stores or reads") from None
    except _READ_ERRORS as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupted ({type(e).__name__}: "
                              f"{e}); save it again or use an earlier one") from e
    return arrays


def _check_rng_state(state: Any, path: Path, what: str) -> None:
    """A saved ``bit_generator.state`` must be one a fresh PCG64 accepts."""
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise CheckpointError(f"checkpoint {path}: {what} is not a valid PCG64 generator state "
                              f"({type(e).__name__}: {e}); the file was modified or damaged") from e


def _check_meta_types(meta: dict[str, Any], path: Path) -> None:
    """The 'meta' entries must have the kinds ``save_checkpoint`` writes."""
    kinds = {"format_version": int, "family": str, "model_config": dict, "dtype": str,
             "train_config": (dict, type(None)), "tokenizer": (dict, type(None)), "step": int,
             "rng_state": dict, "module_rng_states": dict, "extra": dict, "sha256": dict}
    wrong = [k for k, kind in kinds.items()
             if not isinstance(meta[k], kind) or isinstance(meta[k], bool)]
    if wrong:
        raise CheckpointError(f"checkpoint {path}: 'meta' entries {wrong} have the wrong type; "
                              "the file was modified or damaged")
    if meta["dtype"] not in ("float16", "float32", "float64"):
        raise CheckpointError(f"checkpoint {path}: unknown parameter dtype {meta['dtype']!r}")


def load_checkpoint(path: str | os.PathLike, family: str | None = None) -> Checkpoint:
    """Read and verify a checkpoint (a file, or a directory holding ``checkpoint.npz``).

    With ``family`` given, a checkpoint of another family is refused. Raises ``CheckpointError``
    for a missing, empty, truncated or tampered file, or one that is not a minifm checkpoint.
    Stale temporary files of killed saves of this checkpoint are deleted first.
    """
    path = resolve_checkpoint_path(path)
    remove_stale_temps(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    arrays = _read_arrays(path)
    if "meta" not in arrays:
        raise CheckpointError(f"{path} is an .npz file but not a minifm checkpoint "
                              "(it has no 'meta' entry)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: its 'meta' entry is not valid JSON ({e})") from e
    missing = [k for k in _META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint {path}: 'meta' lacks {missing}; not a minifm "
                              "checkpoint")
    _check_meta_types(meta, path)
    if meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {meta['format_version']}, "
                              f"this minifm reads version {FORMAT_VERSION}")
    if family is not None and meta["family"] != family:
        raise CheckpointError(f"checkpoint {path} holds a {meta['family']!r} model, "
                              f"not a {family!r} one")
    odd = sorted(set(arrays) ^ set(meta["sha256"]))
    if odd:
        raise CheckpointError(f"checkpoint {path}: arrays {odd} are missing or unexpected")
    bad = [key for key, a in arrays.items() if _sha256(a) != meta["sha256"][key]]
    if bad:
        raise CheckpointError(f"checkpoint {path}: checksum mismatch for {bad[:3]}"
                              f"{' ...' if len(bad) > 3 else ''}; the file was modified or damaged")
    _check_rng_state(meta["rng_state"], path, "the trainer's rng_state")
    for name, state in meta["module_rng_states"].items():
        _check_rng_state(state, path, f"the generator state of {name}")
    return Checkpoint(
        path=path, family=meta["family"],
        model_config=upgrade_config(meta["family"], meta["model_config"]), dtype=meta["dtype"],
        train_config=meta["train_config"], tokenizer=meta["tokenizer"], step=meta["step"],
        rng_state=meta["rng_state"], module_rng_states=meta["module_rng_states"],
        params={k.removeprefix("param/"): a for k, a in arrays.items() if k.startswith("param/")},
        optimizer={k.removeprefix("optim/"): a for k, a in arrays.items()
                   if k.startswith("optim/")},
        extra=meta["extra"])
