"""Byte-level byte-pair encoding (BPE), trained from scratch.

BPE (Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words with Subword
Units") builds a vocabulary by repeatedly merging the most frequent adjacent pair of symbols into
a new symbol. GPT-2 (Radford et al. 2019) runs it on UTF-8 *bytes* rather than characters: the
256 byte values are the starting vocabulary, so every string can be encoded (no unknown token)
and decoding is lossless.

Training (``BPETokenizer.train``):
  1. Split the text into chunks with a regular expression (words with their leading space,
     numbers, runs of punctuation, whitespace), so that merges never cross a chunk boundary:
     " the" can become one token, "e t" never does. ``pattern=None`` keeps the text whole.
  2. Write each distinct chunk as its list of UTF-8 bytes (ids 0..255) and count how often it
     occurs.
  3. Count every adjacent pair of ids, weighted by chunk frequency. Merge the most frequent
     pair (a, b) into a new id 256 + k everywhere, record it as merge k, and repeat until the
     vocabulary is full or no pair is left. Ties go to the smallest pair (a, b) in numeric
     order, so training is deterministic.
  Only the chunks that contain the merged pair change, so pair counts are updated for those
  chunks alone rather than recounted over the whole text after each merge.

Encoding applies the learned merges to each chunk, always the one of lowest rank (learned
earliest) among the pairs present, until none applies, as GPT-2 does; results are cached per
chunk. Decoding concatenates the bytes of each id and reads them as UTF-8.

Optional special tokens (e.g. "<|endoftext|>") take the last ids; wherever their exact string
appears in the text passed to ``encode`` it becomes that one id.

    tok = BPETokenizer.train(text, vocab_size=512)
    ids = tok.encode("hello world")
    assert tok.decode(ids) == "hello world"
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from minifm.tokenizers.base import Tokenizer, check_dict, check_ids, check_strings, check_text

# Chunks: letters (and "_") with an optional leading space | digits with an optional leading
# space | other symbols with an optional leading space | whitespace that leaves its last space
# to the word after it | any remaining whitespace. Every character matches one branch, so the
# chunks always concatenate back to the text.
SPLIT_PATTERN = r"[ ]?[^\W\d]+|[ ]?\d+|[ ]?[^\w\s]+|\s+(?=[ ]\S)|\s+"

_CACHE_LIMIT = 100_000   # chunk encodings kept by encode(); the cache is emptied when full


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids``, scanning left to right, by ``new_id``."""
    a, b = pair
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer(Tokenizer):
    """Byte-level BPE: ids 0..255 are bytes, 256 + k is merge k, then the special tokens."""

    type_name = "bpe"

    def __init__(self, merges: Sequence[tuple[int, int]], pattern: str | None = SPLIT_PATTERN,
                 special_tokens: Sequence[str] = ()):
        self.merges = _check_merges(merges)
        special_tokens = check_strings(special_tokens, "BPE special_tokens")
        self._bytes = [bytes([i]) for i in range(256)]         # id -> the bytes it stands for
        for k, (a, b) in enumerate(self.merges):
            if not (0 <= a < 256 + k and 0 <= b < 256 + k):
                raise ValueError(f"merge {k} = {(a, b)} refers to an id not yet defined "
                                 f"(ids before it lie in [0, {256 + k}))")
            self._bytes.append(self._bytes[a] + self._bytes[b])
        self._ranks = {pair: k for k, pair in enumerate(self.merges)}
        if len(self._ranks) != len(self.merges):
            raise ValueError("BPE merges must be distinct")
        if len(set(special_tokens)) != len(special_tokens) or "" in special_tokens:
            raise ValueError("special tokens must be distinct non-empty strings, "
                             f"got {special_tokens}")
        self.special_tokens = {s: len(self._bytes) + i for i, s in enumerate(special_tokens)}
        self._bytes += [s.encode("utf-8") for s in special_tokens]
        self.pattern = pattern
        self._split = _compile(pattern)
        longest_first = sorted(special_tokens, key=len, reverse=True)
        self._special_split = (re.compile("(" + "|".join(map(re.escape, longest_first)) + ")")
                               if special_tokens else None)
        self._cache: dict[str, list[int]] = {}

    # ---- training -----------------------------------------------------------------------------
    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str | None = SPLIT_PATTERN,
              special_tokens: Sequence[str] = ()) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text`` (fewer if the
        text runs out of pairs; ``vocab_size`` of the result tells how many were learned)."""
        check_text(text)
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(f"vocab_size must be at least 256 + {len(special_tokens)} special "
                             f"tokens = {256 + len(special_tokens)}, got {vocab_size}")
        chunk_counts = Counter(_chunks(text, _compile(pattern)))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]   # distinct chunks as ids
        freqs = list(chunk_counts.values())
        pair_counts: Counter[tuple[int, int]] = Counter()   # pair -> occurrences in the text
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> word indices
        for w, (word, f) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += f
                where[pair].add(w)

        merges: list[tuple[int, int]] = []
        for new_id in range(256, 256 + n_merges):
            if not pair_counts:
                break
            best = max(pair_counts, key=lambda p: (pair_counts[p], -p[0], -p[1]))
            merges.append(best)
            for w in where.pop(best):            # only the words that contain the pair change
                word, f = words[w], freqs[w]
                for pair in zip(word, word[1:]):                # take the old pairs out ...
                    pair_counts[pair] -= f
                    if pair_counts[pair] == 0:
                        del pair_counts[pair]
                words[w] = word = merge_pair(word, best, new_id)
                for pair in zip(word, word[1:]):                # ... and the new pairs in
                    pair_counts[pair] += f
                    where[pair].add(w)
        return cls(merges, pattern, special_tokens)

    # ---- encoding and decoding ----------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def encode(self, text: str) -> list[int]:
        """Return the BPE ids of ``text`` (any str; special-token strings become their id)."""
        check_text(text)
        pieces = self._special_split.split(text) if self._special_split else [text]
        ids: list[int] = []
        for piece in pieces:
            if piece in self.special_tokens:
                ids.append(self.special_tokens[piece])
                continue
            for chunk in _chunks(piece, self._split):
                if chunk not in self._cache:
                    if len(self._cache) >= _CACHE_LIMIT:
                        self._cache.clear()
                    self._cache[chunk] = self._encode_chunk(chunk)
                ids.extend(self._cache[chunk])
        return ids

    def _encode_chunk(self, chunk: str) -> list[int]:
        """Apply merges to one chunk's bytes, lowest rank first, until none applies."""
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self._ranks.get(p, len(self._ranks)))
            if pair not in self._ranks:
                break                             # no adjacent pair was ever merged
            ids = merge_pair(ids, pair, 256 + self._ranks[pair])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Concatenate the bytes of ``ids`` and read them as UTF-8.

        Ids from ``encode`` always decode to the original text. An arbitrary id sequence may cut
        a multi-byte character in two; such bytes are shown as U+FFFD ("replace").
        """
        data = b"".join(self._bytes[i] for i in check_ids(ids, self.vocab_size))
        return data.decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes that id ``token_id`` stands for (useful to print the learned vocabulary)."""
        return self._bytes[check_ids([token_id], self.vocab_size)[0]]

    # ---- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "merges": [list(p) for p in self.merges],
                "pattern": self.pattern, "special_tokens": list(self.special_tokens)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BPETokenizer:
        check_dict(d, cls.type_name, ["merges", "pattern", "special_tokens"])
        return cls(d["merges"], d["pattern"], d["special_tokens"])

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")


def _check_merges(merges: Any) -> list[tuple[int, int]]:
    """The merges as (a, b) tuples of Python ints; each must be a pair of int ids (a JSON
    list [a, b] is fine, ``[1]``, ``[1.5, 2]`` or ``"ab"`` are TypeErrors)."""
    if not isinstance(merges, (list, tuple)):
        raise TypeError(f"BPE merges must be a list of (a, b) id pairs, got "
                        f"{type(merges).__name__}")
    for k, pair in enumerate(merges):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                        for i in pair)):
            raise TypeError(f"BPE merge {k} must be a pair of int ids (a, b), got {pair!r}")
    return [(int(a), int(b)) for a, b in merges]


def _compile(pattern: Any) -> re.Pattern | None:
    """The chunking regex (None keeps the text whole); a bad one is a clear error up front."""
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise TypeError(f"BPE pattern must be a str (a regular expression) or None, got "
                        f"{type(pattern).__name__}")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"BPE pattern {pattern!r} is not a valid regular expression: "
                         f"{e}") from None


def _chunks(text: str, split: re.Pattern | None) -> list[str]:
    """Split ``text`` into the chunks merges may not cross (the whole text if ``split`` is None)."""
    if split is None:
        return [text] if text else []
    return split.findall(text)
