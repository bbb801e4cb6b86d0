"""BERT's tokenizer: basic tokenization, then greedy longest-match-first WordPiece.

BERT (Devlin et al. 2019) tokenizes in two stages, and this file follows them step by step
so that its output matches the released BERT tokenizer (and HuggingFace's ``BertTokenizer``)
token for token on a standard ``vocab.txt``.

1. ``BasicTokenizer`` cuts text into words:
   - clean: drop NUL (U+0000), U+FFFD and control characters (every category C*: Cc, Cf, Co,
     Cn, Cs; tab, newline and carriage return count as whitespace instead); turn every
     whitespace character into " ";
   - put spaces around CJK ideographs, so that each one is a word of its own;
   - NFC-normalise, then split on whitespace;
   - optionally lower-case each word and strip its accents (NFD, then drop the combining marks,
     category Mn); by default accents are stripped exactly when lower-casing;
   - split each word on punctuation: every punctuation character becomes a word of its own.
2. WordPiece cuts each word into vocabulary pieces, greedily, longest first: take the longest
   prefix of the word that is in the vocabulary, then the longest continuation of the rest
   written with a "##" prefix, and so on. "unaffable" -> "una", "##ffa", "##ble". A word with
   a remainder no piece fits, or longer than ``max_input_chars_per_word`` characters, becomes
   a single [UNK].

Special tokens: [PAD] [UNK] [CLS] [SEP] [MASK]. A model input is [CLS] a [SEP] (one text) or
[CLS] a [SEP] b [SEP] (a pair), with segment ids (``token_type_ids``) 0 for [CLS] a [SEP] and 1
for b [SEP]. The exact strings of special tokens in the input text are kept as those tokens.
B is the batch size and T the sequence length.

    tok = WordPieceTokenizer.from_vocab_file("vocab.txt")
    enc = tok("Hello, world!", max_length=8, padding="max_length")
    enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]     # each (T,) int64
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from minifm.tokenizers.base import (Tokenizer, check_dict, check_flag, check_ids, check_strings,
                                    check_text)
from minifm.validation import check_int

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")

# The CJK Unified Ideographs blocks (and extensions A-E, compatibility ideographs and their
# supplement), as named in BERT's released tokenizer. Hiragana, katakana and hangul are not in
# them: those scripts separate words with spaces or are handled as ordinary letters.
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)


def is_whitespace(ch: str) -> bool:
    """Space, tab, newline, carriage return, or any Unicode space separator (category Zs)."""
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    """Any "other" character (category C*: control Cc, format Cf, private use Co, unassigned
    Cn, surrogate Cs), as BERT's released tokenizer defines it, except tab/newline/CR, which
    are whitespace."""
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    """Every ASCII character that is neither a letter, a digit nor a space (so "$", "^", "`"
    count too, though Unicode files them as symbols), or any Unicode punctuation (P*)."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(ch: str) -> bool:
    """A CJK ideograph (one of ``CJK_RANGES``)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def strip_accents(word: str) -> str:
    """Decompose (NFD) and drop the combining marks: "café" -> "cafe"."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


class BasicTokenizer:
    """Stage 1: clean, split on whitespace, lower-case / strip accents, split on punctuation."""

    def __init__(self, do_lower_case: bool = True, strip_accents: bool | None = None,
                 tokenize_chinese_chars: bool = True):
        self.do_lower_case = check_flag(do_lower_case, "do_lower_case")
        self.strip_accents = (self.do_lower_case if strip_accents is None
                              else check_flag(strip_accents, "strip_accents", allow_none=True))
        self.tokenize_chinese_chars = check_flag(tokenize_chinese_chars, "tokenize_chinese_chars")

    def clean(self, text: str) -> str:
        """Drop NUL, U+FFFD and control characters; map whitespace to " "; space out CJK."""
        out = []
        for ch in text:
            if ch in "\x00\ufffd" or is_control(ch):
                continue
            if is_whitespace(ch):
                out.append(" ")
            elif self.tokenize_chinese_chars and is_cjk(ch):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        return "".join(out)

    def tokenize(self, text: str) -> list[str]:
        """Return the words of ``text`` (see the module docstring for the steps)."""
        words = []
        for word in unicodedata.normalize("NFC", self.clean(check_text(text))).split():
            if self.do_lower_case:
                word = word.lower()
            if self.strip_accents:
                word = strip_accents(word)
            words.extend(split_on_punctuation(word))
        return words


def split_on_punctuation(word: str) -> list[str]:
    """"don't!" -> ["don", "'", "t", "!"]: each punctuation character stands alone."""
    pieces: list[str] = []
    start_new = True
    for ch in word:
        if is_punctuation(ch):
            pieces.append(ch)
            start_new = True
        else:
            if start_new:
                pieces.append("")
                start_new = False
            pieces[-1] += ch
    return pieces


def wordpiece(word: str, vocab: dict[str, int] | set[str], unk_token: str = "[UNK]",
              max_input_chars_per_word: int = 100) -> list[str]:
    """Stage 2: greedy longest-match-first split of one word into vocabulary pieces."""
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces = []
    start = 0
    while start < len(word):
        for end in range(len(word), start, -1):          # longest candidate first
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
        else:                                            # not even one character matched
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


def build_vocab(texts: Sequence[str], vocab_size: int, do_lower_case: bool = True) -> list[str]:
    """A small WordPiece vocabulary for toy models (our own simple recipe, not BERT's).

    The vocabulary is the five special tokens, then every character of the (basic-tokenized)
    texts, then every character again as a continuation "##c", then whole words, most frequent
    first (ties alphabetical), until ``vocab_size`` tokens. With all characters in both forms,
    every word of the texts can be spelled out, so they never produce [UNK].
    """
    if isinstance(texts, str):
        raise TypeError("build_vocab needs a list of texts, got a single str")
    basic = BasicTokenizer(do_lower_case=do_lower_case)
    counts = Counter(w for text in texts for w in basic.tokenize(text))
    chars = sorted({c for w in counts for c in w})
    vocab = list(SPECIAL_TOKENS) + chars + ["##" + c for c in chars]
    if vocab_size < len(vocab):
        raise ValueError(f"vocab_size must be at least {len(vocab)} (5 special tokens + 2 x "
                         f"{len(chars)} characters) for these texts, got {vocab_size}")
    taken = set(vocab)
    words = sorted((w for w in counts if w not in taken), key=lambda w: (-counts[w], w))
    return vocab + words[:vocab_size - len(vocab)]


class WordPieceTokenizer(Tokenizer):
    """BERT's tokenizer over a fixed vocabulary; token ids are positions in ``vocab``."""

    type_name = "wordpiece"

    def __init__(self, vocab: Sequence[str], do_lower_case: bool = True,
                 strip_accents: bool | None = None, tokenize_chinese_chars: bool = True,
                 max_input_chars_per_word: int = 100):
        self.vocab = check_strings(vocab, "a WordPiece vocabulary")
        self.token_to_id = {t: i for i, t in enumerate(self.vocab)}   # a repeated token: last id
        missing = [t for t in SPECIAL_TOKENS if t not in self.token_to_id]
        if missing:
            raise ValueError(f"a WordPiece vocabulary must contain {list(SPECIAL_TOKENS)}; "
                             f"missing {missing}")
        self.basic = BasicTokenizer(do_lower_case, strip_accents, tokenize_chinese_chars)
        self.max_input_chars_per_word = check_int(max_input_chars_per_word,
                                                  "max_input_chars_per_word", minimum=1)
        (self.pad_token_id, self.unk_token_id, self.cls_token_id, self.sep_token_id,
         self.mask_token_id) = (self.token_to_id[t] for t in SPECIAL_TOKENS)

    @classmethod
    def from_vocab_file(cls, path: str | os.PathLike, do_lower_case: bool = True,
                        strip_accents: bool | None = None, tokenize_chinese_chars: bool = True,
                        max_input_chars_per_word: int = 100) -> WordPieceTokenizer:
        """Read a standard BERT ``vocab.txt``: one token per line, id = line number (from 0)."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{path} is a directory, not a vocab file (vocab.txt, one token a "
                             "line)")
        if not path.is_file():
            raise FileNotFoundError(f"vocab file not found: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                vocab = [line.rstrip("\n") for line in f]
        except UnicodeDecodeError as e:
            raise ValueError(f"vocab file {path} is not UTF-8 text (byte offset {e.start})") from None
        return cls(vocab, do_lower_case, strip_accents, tokenize_chinese_chars,
                   max_input_chars_per_word)

    @classmethod
    def train(cls, texts: Sequence[str], vocab_size: int,
              do_lower_case: bool = True) -> WordPieceTokenizer:
        """A tokenizer over ``build_vocab(texts, vocab_size, do_lower_case)``."""
        return cls(build_vocab(texts, vocab_size, do_lower_case), do_lower_case)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ---- text <-> tokens <-> ids --------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Basic tokenization then WordPiece; special-token strings in ``text`` pass through."""
        tokens: list[str] = []
        for piece, is_special in _split_special(check_text(text)):
            if is_special:
                tokens.append(piece)
                continue
            for word in self.basic.tokenize(piece):
                tokens.extend(wordpiece(word, self.token_to_id, "[UNK]",
                                        self.max_input_chars_per_word))
        return tokens

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Id of each token; a token not in the vocabulary maps to [UNK]'s id."""
        return [self.token_to_id.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Token of each id (each in [0, V))."""
        return [self.vocab[i] for i in check_ids(ids, self.vocab_size)]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Ids of ``text``, as [CLS] text [SEP] when ``add_special_tokens``."""
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        return [self.cls_token_id] + ids + [self.sep_token_id] if add_special_tokens else ids

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Tokens joined by spaces, with "##" continuations glued to the piece before them.

        Lower-casing, stripped accents and the spacing around punctuation are not undone
        ("Hello, world!" comes back as "hello , world !"), so decode(encode(s)) != s in general.
        ``skip_special_tokens`` drops all five special tokens, [UNK] included (as HF does).
        """
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in SPECIAL_TOKENS]
        return " ".join(tokens).replace(" ##", "").strip()

    # ---- model inputs -------------------------------------------------------------------------
    def __call__(self, text: str, text_pair: str | None = None, max_length: int | None = None,
                 padding: bool | str = False, truncation: bool = True) -> dict[str, np.ndarray]:
        """Model inputs for one text or one pair: [CLS] a [SEP] (b [SEP]).

        ``truncation`` (with ``max_length``) drops tokens from the end of the longer of a and b,
        one at a time (b on a tie: "longest first"), until the whole input fits ``max_length``.
        ``padding="max_length"`` pads with [PAD] (segment 0, attention 0) to ``max_length``;
        ``False`` / ``True`` / ``"longest"`` leave a single sequence as it is.
        Returns ``input_ids``, ``token_type_ids``, ``attention_mask``: int64 arrays of shape (T,).
        """
        batch = self.batch_encode([text], None if text_pair is None else [text_pair],
                                  max_length, padding, truncation)
        return {name: row[0] for name, row in batch.items()}   # (1, T) -> (T,)

    def batch_encode(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                     max_length: int | None = None, padding: bool | str = True,
                     truncation: bool = True) -> dict[str, np.ndarray]:
        """Encode a batch as in ``__call__``, padded to the longest row (``padding`` True or
        "longest") or to ``max_length`` ("max_length"). Returns int64 arrays of shape (B, T)."""
        if isinstance(texts, str) or isinstance(text_pairs, str):
            raise TypeError("batch_encode needs lists of texts, got a single str")
        if padding not in (False, True, "longest", "max_length"):
            raise ValueError("padding must be False, True, 'longest' or 'max_length', "
                             f"got {padding!r}")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs")
        if not texts:
            raise ValueError("batch_encode needs at least one text")
        rows = [self._ids_and_segments(a, None if text_pairs is None else text_pairs[i],
                                       max_length if truncation else None)
                for i, a in enumerate(texts)]
        longest = max(len(ids) for ids, _ in rows)
        T = max(longest, max_length) if padding == "max_length" else longest
        if padding is False and len({len(ids) for ids, _ in rows}) > 1:
            raise ValueError("rows of different lengths need padding (True, 'longest' or "
                             "'max_length') to form a 2-D batch")
        pad = [self.pad_token_id]
        return {
            "input_ids": np.array([ids + pad * (T - len(ids)) for ids, _ in rows], np.int64),
            "token_type_ids": np.array([seg + [0] * (T - len(seg)) for _, seg in rows], np.int64),
            "attention_mask": np.array([[1] * len(ids) + [0] * (T - len(ids)) for ids, _ in rows],
                                       np.int64),
        }   # each (B, T)

    def _ids_and_segments(self, text: str, text_pair: str | None,
                          max_length: int | None) -> tuple[list[int], list[int]]:
        """Ids and segment ids of [CLS] a [SEP] (b [SEP]), truncated longest-first to max_length."""
        a = self.convert_tokens_to_ids(self.tokenize(text))
        b = None if text_pair is None else self.convert_tokens_to_ids(self.tokenize(text_pair))
        if max_length is not None:
            n_special = 2 if b is None else 3
            if max_length < n_special:
                raise ValueError(f"max_length must be at least {n_special} to hold the special "
                                 f"tokens, got {max_length}")
            budget = max_length - n_special
            if b is None:
                a = a[:budget]
            while b is not None and len(a) + len(b) > budget:
                if len(a) > len(b):
                    a.pop()
                else:
                    b.pop()
        ids = [self.cls_token_id] + a + [self.sep_token_id]
        segments = [0] * len(ids)
        if b is not None:
            ids += b + [self.sep_token_id]
            segments += [1] * (len(b) + 1)
        return ids, segments

    # ---- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "vocab": self.vocab,
                "do_lower_case": self.basic.do_lower_case,
                "strip_accents": self.basic.strip_accents,
                "tokenize_chinese_chars": self.basic.tokenize_chinese_chars,
                "max_input_chars_per_word": self.max_input_chars_per_word}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WordPieceTokenizer:
        check_dict(d, cls.type_name, ["vocab", "do_lower_case", "strip_accents",
                                      "tokenize_chinese_chars", "max_input_chars_per_word"])
        return cls(d["vocab"], d["do_lower_case"], d["strip_accents"],
                   d["tokenize_chinese_chars"], d["max_input_chars_per_word"])

    def __repr__(self) -> str:
        return (f"WordPieceTokenizer(vocab_size={self.vocab_size}, "
                f"do_lower_case={self.basic.do_lower_case})")


def _split_special(text: str) -> list[tuple[str, bool]]:
    """Cut ``text`` around exact occurrences of the special tokens: [(piece, is_special)]."""
    pieces = _SPECIAL_SPLIT.split(text)        # the split pattern's group keeps the specials
    return [(piece, k % 2 == 1) for k, piece in enumerate(pieces) if piece]
