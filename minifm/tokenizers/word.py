"""Word-level tokenizer for tiny, controlled vocabularies.

Captions of a synthetic dataset ("a small red circle on the left") use a few dozen words, so the
simplest useful tokenizer gives each word its own id. Text is lower-cased and split into runs of
word characters; every other non-space character (punctuation) is a token of its own:

    "A small, red circle."  ->  ["a", "small", ",", "red", "circle", "."]

A marker written ``<|name|>`` (the chat format's ``<|user|>``, ``<|assistant|>``, ``<|end|>``,
``minifm.data.assistant.chat``) is one word of its own, so it can be in the vocabulary.

Four special tokens come first: [PAD]=0 (fills short sequences up to a fixed length),
[BOS]=1 and [EOS]=2 (mark where a sequence begins and ends), [UNK]=3 (any word that was not
in the training texts). Words follow in order of decreasing frequency (ties alphabetical).
B is the batch size and T the (padded) sequence length.

    tok = WordTokenizer.train(["a red circle", "a blue square"])
    tok.encode("a red square", max_length=6)    # [BOS, a, red, square, EOS, PAD] as ids
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

from minifm.tokenizers.base import Tokenizer, check_dict, check_ids, check_strings, check_text

SPECIAL_TOKENS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")
# a <|marker|>, else a run of letters/digits/_, else one punctuation character
_WORD = re.compile(r"<\|\w+\|>|\w+|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and single punctuation characters."""
    return _WORD.findall(check_text(text).lower())


class WordTokenizer(Tokenizer):
    """One id per word: the four special tokens, then ``words`` in the given order."""

    type_name = "word"
    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, words: Sequence[str]):
        words = check_strings(words, "WordTokenizer words")
        clash = [w for w in words if w in SPECIAL_TOKENS or split_words(w) != [w]]
        if clash or len(set(words)) != len(words):
            raise ValueError("WordTokenizer words must be distinct, lower-case single words "
                             f"and not special tokens; offending: {clash or words}")
        self.vocab = list(SPECIAL_TOKENS) + words
        self._stoi = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def train(cls, texts: Sequence[str], max_words: int | None = None) -> WordTokenizer:
        """Collect the words of ``texts``; keep the ``max_words`` most frequent (all if None)."""
        if isinstance(texts, str):
            raise TypeError("WordTokenizer.train needs a list of texts, got a single str")
        if max_words is not None and max_words < 1:
            raise ValueError(f"max_words must be a positive int or None, got {max_words}")
        counts = Counter(w for text in texts for w in split_words(text))
        words = sorted(counts, key=lambda w: (-counts[w], w))
        return cls(words[:max_words])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, add_special_tokens: bool = True,
               max_length: int | None = None) -> list[int]:
        """Return the ids of ``text``: [BOS] words [EOS] (if ``add_special_tokens``), then, if
        ``max_length`` is given, truncated (words are dropped, [BOS]/[EOS] kept) or padded with
        [PAD] to exactly ``max_length`` ids. Unknown words become [UNK]."""
        ids = [self._stoi.get(w, self.unk_id) for w in split_words(text)]
        n_special = 2 if add_special_tokens else 0
        if max_length is not None:
            if max_length < max(n_special, 1):
                raise ValueError(f"max_length must be at least {max(n_special, 1)} "
                                 f"(add_special_tokens={add_special_tokens}), got {max_length}")
            ids = ids[:max_length - n_special]
        if add_special_tokens:
            ids = [self.bos_id] + ids + [self.eos_id]
        if max_length is not None:
            ids += [self.pad_id] * (max_length - len(ids))
        return ids

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = True,
                     max_length: int | None = None) -> np.ndarray:
        """Encode each text and pad with [PAD] to ``max_length`` (default: the longest).

        Returns an int64 array of shape (B, T); ``ids != pad_id`` is the attention mask.
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch needs a list of texts, got a single str")
        rows = [self.encode(t, add_special_tokens, max_length) for t in texts]
        if not rows:
            raise ValueError("encode_batch needs at least one text")
        T = max(len(r) for r in rows)
        return np.array([r + [self.pad_id] * (T - len(r)) for r in rows], dtype=np.int64)  # (B, T)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Join the words of ``ids`` with spaces. [PAD], [BOS] and [EOS] are dropped when
        ``skip_special_tokens``; [UNK] always stays visible, since it stands for a real word."""
        skip = {self.pad_id, self.bos_id, self.eos_id} if skip_special_tokens else set()
        return " ".join(self.vocab[i] for i in check_ids(ids, self.vocab_size) if i not in skip)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "words": self.vocab[len(SPECIAL_TOKENS):]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordTokenizer:
        check_dict(d, cls.type_name, ["words"])
        return cls(d["words"])

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size})"
