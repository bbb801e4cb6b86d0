"""Name tables: how Hugging Face tensors become minifm parameters, and back.

A table maps a Hugging Face tensor name to ``(minifm parameter name, how)``:

    "="       as it is
    "T"       transposed: PyTorch's ``nn.Linear`` stores (out, in), minifm (in, out)
    "q" "k" "v"   transposed into the first / second / third block of columns of a fused
              (C, 3C) ``c_attn`` weight (or the thirds of its (3C,) bias)
    "tied"    a copy that must equal an already-loaded parameter (a tied output head); optional

``to_minifm`` refuses a tensor the table lacks and an entry the file lacks (never silently
skipped); ``to_hf`` runs the table backwards and leaves the tied copies out, as transformers
saves them. Dimensions: C width.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

Table = dict[str, tuple[str, str]]
THIRDS = {"q": 0, "k": 1, "v": 2}


def check_names(tensors: dict[str, np.ndarray], table: Table, file: Path, what: str,
                ignored: frozenset[str] = frozenset(), hint: str = "") -> None:
    """ValueError naming ``file`` and the tensors that are unknown or missing."""
    names = set(tensors) - ignored
    unknown = sorted(names - set(table))
    missing = sorted(hf for hf in set(table) - names if table[hf][1] != "tied")
    if unknown or missing:
        raise ValueError(f"{file}: checkpoint tensors do not match {what}: unknown "
                         f"{unknown or 'none'}, missing {missing or 'none'}{hint}")


def to_minifm(tensors: dict[str, np.ndarray], table: Table, file: Path) -> dict[str, np.ndarray]:
    """Hugging Face tensors -> a minifm state dict, following ``table`` (names already checked)."""
    state: dict[str, np.ndarray] = {}
    qkv: dict[str, dict[str, np.ndarray]] = {}
    for hf, (name, how) in table.items():
        if how == "tied" or hf not in tensors:
            continue
        w = tensors[hf]
        if how == "=":
            state[name] = w
        elif how == "T":
            state[name] = w.T                                    # (out, in) -> (in, out)
        else:                                                    # one of q, k, v
            qkv.setdefault(name, {})[how] = w.T
    for name, parts in qkv.items():
        state[name] = np.concatenate([parts["q"], parts["k"], parts["v"]], axis=-1)  # (C, 3C)|(3C,)
    for hf, (name, how) in table.items():
        if how == "tied" and hf in tensors and not np.array_equal(tensors[hf], state[name]):
            raise ValueError(f"{file}: checkpoint tensor {hf} should be tied to (equal to) "
                             f"{name}, but it differs")
    return state


def to_hf(state: dict[str, np.ndarray], table: Table) -> dict[str, np.ndarray]:
    """The inverse of ``to_minifm``: a minifm state dict -> Hugging Face tensors."""
    tensors = {}
    for hf, (name, how) in table.items():
        w = state[name]
        if how == "=":
            tensors[hf] = w
        elif how == "T":
            tensors[hf] = w.T                                    # (in, out) -> (out, in)
        elif how in THIRDS:
            C = w.shape[-1] // 3                                 # c_attn: (C, 3C) | (3C,)
            tensors[hf] = w[..., THIRDS[how] * C:(THIRDS[how] + 1) * C].T   # (C, C) | (C,)
    return tensors
