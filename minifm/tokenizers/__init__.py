"""Tokenizers, written by hand: characters, words, byte-level BPE (GPT-2) and WordPiece (BERT),
and image tokenizers (k-means and VQ-VAE codebooks over patches, ``minifm.tokenizers.image``).

Every tokenizer has ``encode``, ``decode``, ``vocab_size``, ``to_dict()`` / ``from_dict(d)`` and
``save(path)`` / ``load(path)`` (JSON); a text tokenizer encodes a string into a list of ids, an
image tokenizer images (N, H, W, Ch) into codes (N, P). A checkpoint can store any of them as
``tok.to_dict()`` and rebuild it with ``tokenizer_from_dict(d)``.
"""

from __future__ import annotations

import os
from typing import Any

from minifm.tokenizers.base import Tokenizer, read_json
from minifm.tokenizers.bpe import BPETokenizer
from minifm.tokenizers.char import CharTokenizer
from minifm.tokenizers.image import ImageTokenizer, KMeansImageTokenizer, VQVAEImageTokenizer
from minifm.tokenizers.word import WordTokenizer
from minifm.tokenizers.wordpiece import BasicTokenizer, WordPieceTokenizer, build_vocab

TOKENIZERS: dict[str, type[Tokenizer] | type[ImageTokenizer]] = {
    cls.type_name: cls for cls in (CharTokenizer, WordTokenizer, BPETokenizer, WordPieceTokenizer,
                                   KMeansImageTokenizer, VQVAEImageTokenizer)
}


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer | ImageTokenizer:
    """Rebuild a tokenizer from its ``to_dict()``, choosing the class by ``d["type"]``."""
    if not isinstance(d, dict):
        raise TypeError(f"tokenizer_from_dict needs a dict, got {type(d).__name__}")
    if d.get("type") not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer type {d.get('type')!r}; "
                         f"expected one of {list(TOKENIZERS)}")
    return TOKENIZERS[d["type"]].from_dict(d)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer | ImageTokenizer:
    """Load any tokenizer saved with ``save(path)``, whatever its class."""
    return tokenizer_from_dict(read_json(path))


__all__ = ["BPETokenizer", "BasicTokenizer", "CharTokenizer", "ImageTokenizer",
           "KMeansImageTokenizer", "TOKENIZERS", "Tokenizer", "VQVAEImageTokenizer",
           "WordPieceTokenizer", "WordTokenizer", "build_vocab", "load_tokenizer",
           "tokenizer_from_dict"]
