"""Export a trained run to a Hugging Face folder: ``minifm export RUN --to hf OUT``.

    from minifm.tasks.export import export_run
    export_run("out/gpt", "out/gpt-hf")      # transformers: GPT2LMHeadModel.from_pretrained(...)

The checkpoint's family picks the converter in ``minifm.pretrained``: a GPT becomes a GPT-2
(``GPT2LMHeadModel``), a pre-trained BERT a ``BertForPreTraining`` (``BertForMaskedLM`` loads it
too), a CLIP a ``CLIPModel`` if Hugging Face can express it (class-token and end-of-text pooling
with a fixed end-of-text id: ``minifm train clip --pooling cls-eot``; the word tokenizer's
[EOS] = 2 is swapped to the last id and ``token_ids.json`` holds the map, see
``minifm.pretrained.clip``). Lessons: lessons/08_gpt.md, lessons/09_bert.md, lessons/10_clip.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from minifm.pretrained.bert import save_bert
from minifm.pretrained.clip import save_clip
from minifm.pretrained.gpt2 import save_gpt2
from minifm.training.checkpoint import load_checkpoint

FORMATS = ("hf",)


def _save_clip(model: Any, tokenizer: Any, path: Path) -> list[str]:
    """CLIP's caption tokenizer (minifm's word tokenizer) has no Hugging Face counterpart: only
    the model is written (and the id map of ``save_clip``)."""
    return save_clip(model, path)


EXPORTERS: dict[str, Callable[[Any, Any, Path], list[str]]] = {
    "gpt": save_gpt2, "bert": save_bert, "clip": _save_clip}


def export_run(run: str | os.PathLike, out: str | os.PathLike, to: str = "hf") -> list[str]:
    """Write the model (and tokenizer) of the checkpoint ``run`` (a run folder or its .npz) as
    a ``to`` folder ``out``; returns the names of the files written."""
    if to not in FORMATS:
        raise ValueError(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    ckpt = load_checkpoint(run)
    if ckpt.family not in EXPORTERS:
        raise ValueError(f"{ckpt.path}: a {ckpt.family!r} model has no Hugging Face export; "
                         f"families that export: {', '.join(EXPORTERS)}")
    return EXPORTERS[ckpt.family](ckpt.build_model(), ckpt.build_tokenizer(), Path(out))
