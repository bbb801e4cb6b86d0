"""minifm's byte-level BPE tokenizer in Hugging Face's GPT-2 files, and back.

Two differences between the layouts, each handled here:

* **Token strings.** minifm's ``BPETokenizer`` knows a token by its id (0..255 are the raw
  bytes, 256 + k is merge k) and a merge as a pair of ids. GPT-2's ``vocab.json`` and
  ``merges.txt`` (Radford et al. 2019, the released ``encoder.py``) spell a token as text, one
  printable character per byte: bytes that are visible Latin-1 characters stand for themselves,
  and the other 68 (controls, space, soft hyphen, ...) are shifted to U+0100, U+0101, ... in byte
  order (``BYTE_ALPHABET``). So " the" is written "Ġthe" (the space is U+0120).
* **Ids.** GPT-2's vocabulary numbers the 256 bytes in its own order ("!" is 0, the space 220).
  minifm's ids are fixed by its layout, so importing returns the permutation ``hf_ids`` (minifm
  id i is Hugging Face id ``hf_ids[i]``) and the model's embedding rows are permuted with it.
  Exporting writes minifm's own ids into ``vocab.json``, so nothing is permuted.

The split pattern. Merges never cross the chunks a regular expression cuts the text into.
GPT-2's pattern,

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

uses Unicode classes (``\\p{L}`` letters, ``\\p{N}`` numbers) that Python's ``re`` lacks, so
``gpt2_pattern()`` spells them with explicit code-point ranges from ``unicodedata``; a GPT-2
folder is imported with it. minifm's own ``SPLIT_PATTERN`` is a different expression (no English
contractions; ``\\w``, ``\\d``, ``\\s`` as Python defines them) that Hugging Face's
``GPT2Tokenizer`` cannot express: it always splits with GPT-2's. So an export also writes
``tokenizer.json`` with the exact pattern, its classes again spelled as code-point ranges
(computed from Python's own ``re``), which ``AutoTokenizer`` loads: exact for every code point,
as the tests check. The one caveat is GPT-2's pattern on characters that
Python's Unicode database (``unicodedata.unidata_version``) does not know yet but the
``tokenizers`` library does: those may split differently.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any, Callable

from minifm.pretrained.files import read_json
from minifm.tokenizers.bpe import SPLIT_PATTERN, BPETokenizer


def _byte_alphabet() -> tuple[str, ...]:
    """Byte b -> the character GPT-2 writes for it (see the module docstring)."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
               *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in visible]
    chars = {b: chr(b) for b in visible} | {b: chr(256 + n) for n, b in enumerate(shifted)}
    return tuple(chars[b] for b in range(256))


BYTE_ALPHABET = _byte_alphabet()
MERGES_HEADER = "#version: 0.2"
# The White_Space property of Unicode (PropList.txt), which is ``\s`` in the tokenizers library
# (Oniguruma); Python's ``\s`` adds U+001C..U+001F, so GPT2_PATTERN spells this set out.
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"


# ---- character classes as code-point ranges -----------------------------------------------------
def _code_points(member: Callable[[str], bool]) -> list[int]:
    return [i for i in range(0x110000) if not 0xD800 <= i < 0xE000 and member(chr(i))]


def _ranges(points: list[int], escape: Callable[[int], str]) -> str:
    """Sorted code points -> the body of a character class, "a-z" style."""
    out, start = [], None
    for i, p in enumerate(points):
        start = p if start is None else start
        if i + 1 == len(points) or points[i + 1] != p + 1:
            out.append(escape(start) if start == p else f"{escape(start)}-{escape(p)}")
            start = None
    return "".join(out)


def _python_escape(p: int) -> str:
    return f"\\U{p:08x}"


def _onig_escape(p: int) -> str:
    return f"\\x{{{p:x}}}"


@cache
def gpt2_pattern() -> str:
    """GPT-2's split pattern (see the module docstring) for Python's ``re``, classes spelled out."""
    letters = _ranges(_code_points(lambda c: unicodedata.category(c)[0] == "L"), _python_escape)
    numbers = _ranges(_code_points(lambda c: unicodedata.category(c)[0] == "N"), _python_escape)
    space = _ranges(sorted(map(ord, WHITE_SPACE)), _python_escape)
    return (rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?[^{space}{letters}"
            rf"{numbers}]+|[{space}]+(?![^{space}])|[{space}]+")


@cache
def _onig_split_pattern() -> str:
    """minifm's SPLIT_PATTERN for the tokenizers library, its classes as Python's ``re`` has
    them: ``[ ]?[^\\W\\d]+|[ ]?\\d+|[ ]?[^\\w\\s]+|\\s+(?=[ ]\\S)|\\s+``."""
    def cls(python_class: str) -> str:
        rx = re.compile(python_class)
        return _ranges(_code_points(lambda c: rx.fullmatch(c) is not None), _onig_escape)

    word, digit, space, word_or_space = cls(r"[^\W\d]"), cls(r"\d"), cls(r"\s"), cls(r"[\w\s]")
    return (rf"[ ]?[{word}]+|[ ]?[{digit}]+|[ ]?[^{word_or_space}]+|[{space}]+(?=[ ][^{space}])"
            rf"|[{space}]+")


def _pre_tokenizer(pattern: str | None) -> dict[str, Any]:
    """The tokenizer.json pre-tokenizer that cuts text exactly as ``pattern`` does."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": pattern is not None and pattern == gpt2_pattern()}
    if pattern is None or byte_level["use_regex"]:
        return byte_level
    if pattern != SPLIT_PATTERN:
        raise ValueError(f"cannot export a BPE tokenizer with the split pattern {pattern!r}: "
                         "only minifm's SPLIT_PATTERN, GPT-2's pattern or None are translated "
                         "to Hugging Face's")
    split = {"type": "Split", "pattern": {"Regex": _onig_split_pattern()},
             "behavior": "Isolated", "invert": False}
    return {"type": "Sequence", "pretokenizers": [split, byte_level]}


def _pattern_of(pre_tokenizer: Any, file: Path) -> str | None:
    """The inverse of ``_pre_tokenizer``, for a tokenizer.json this module wrote (or GPT-2's)."""
    for pattern in (gpt2_pattern(), SPLIT_PATTERN, None):
        if pre_tokenizer == _pre_tokenizer(pattern):
            return pattern
    raise ValueError(f"{file}: the pre_tokenizer is not one minifm can reproduce (GPT-2's "
                     f"ByteLevel split, or minifm's own split written by save_gpt2)")


# ---- minifm -> Hugging Face ---------------------------------------------------------------------
def token_string(data: bytes) -> str:
    """A token's bytes in GPT-2's spelling (one alphabet character per byte)."""
    return "".join(BYTE_ALPHABET[b] for b in data)


def hf_tokenizer_files(tokenizer: BPETokenizer) -> dict[str, str]:
    """The text of ``vocab.json``, ``merges.txt``, ``tokenizer.json`` and
    ``tokenizer_config.json`` for ``tokenizer``, with minifm's ids as Hugging Face's."""
    n_plain = tokenizer.vocab_size - len(tokenizer.special_tokens)
    vocab: dict[str, int] = {}
    for i in range(n_plain):
        s = token_string(tokenizer.token_bytes(i))
        if s in vocab:
            raise ValueError(f"cannot export this BPE tokenizer: ids {vocab[s]} and {i} are the "
                             f"same bytes {tokenizer.token_bytes(i)!r}, and a Hugging Face "
                             "vocabulary has one id per token string")
        vocab[s] = i
    merges = [(token_string(tokenizer.token_bytes(a)), token_string(tokenizer.token_bytes(b)))
              for a, b in tokenizer.merges]
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s, i in tokenizer.special_tokens.items()]
    vocab.update(tokenizer.special_tokens)
    tokenizer_json = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": _pre_tokenizer(tokenizer.pattern),
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [list(m) for m in merges]}}
    # tokenizer.json is read as it is by the generic class only; GPT2Tokenizer would re-split
    config = {"tokenizer_class": ("GPT2Tokenizer" if tokenizer.pattern == gpt2_pattern()
                                  else "PreTrainedTokenizerFast"),
              "model_max_length": 1_000_000_000, "add_prefix_space": False}
    if "<|endoftext|>" in tokenizer.special_tokens:
        config |= {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>"}
    return {"vocab.json": json.dumps(vocab, ensure_ascii=False) + "\n",
            "merges.txt": "\n".join([MERGES_HEADER, *(f"{a} {b}" for a, b in merges)]) + "\n",
            "tokenizer.json": json.dumps(tokenizer_json, ensure_ascii=False) + "\n",
            "tokenizer_config.json": json.dumps(config, indent=2) + "\n"}


# ---- Hugging Face -> minifm ---------------------------------------------------------------------
def _read_merges(file: Path) -> list[tuple[str, str]]:
    merges = []
    for n, line in enumerate(file.read_text(encoding="utf-8").split("\n"), start=1):
        if not line or line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{file}, line {n}: expected two tokens separated by one space, "
                             f"got {line!r}")
        merges.append((parts[0], parts[1]))
    return merges


def load_byte_bpe(path: Path) -> tuple[BPETokenizer, list[int]]:
    """A GPT-2 tokenizer folder (``vocab.json``, ``merges.txt``, optionally ``tokenizer.json``)
    -> (minifm tokenizer, ``hf_ids``): minifm id i is Hugging Face id ``hf_ids[i]``.

    Merge k becomes id 256 + k; vocabulary entries that are neither a byte nor a merge result
    (GPT-2's "<|endoftext|>") become special tokens, in Hugging Face's id order.
    """
    vocab = read_json(path / "vocab.json")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in vocab.values()):
        raise ValueError(f"{path / 'vocab.json'}: every value must be an int token id")
    ids = {ch: b for b, ch in enumerate(BYTE_ALPHABET)}        # token string -> minifm id
    merges: list[tuple[int, int]] = []
    for k, (a, b) in enumerate(_read_merges(path / "merges.txt")):
        for part in (a, b):
            if part not in ids:
                raise ValueError(f"{path / 'merges.txt'}: merge {k} ({a} {b}) uses {part!r}, "
                                 "which is neither a byte nor an earlier merge")
        if a + b in ids:
            raise ValueError(f"{path / 'merges.txt'}: merge {k} ({a} {b}) makes {a + b!r} "
                             "again; minifm needs one merge per token")
        merges.append((ids[a], ids[b]))
        ids[a + b] = 256 + k
    not_in_vocab = [s for s in ids if s not in vocab]
    if not_in_vocab:
        raise ValueError(f"{path / 'vocab.json'} lacks tokens that the bytes and merges.txt "
                         f"define, e.g. {not_in_vocab[:3]}")
    special = sorted((s for s in vocab if s not in ids), key=vocab.__getitem__)
    pattern = gpt2_pattern()
    if (path / "tokenizer.json").is_file():
        pattern = _pattern_of(read_json(path / "tokenizer.json").get("pre_tokenizer"),
                              path / "tokenizer.json")
    tokenizer = BPETokenizer(merges, pattern, special)
    hf_ids = [vocab[s] for s in sorted(ids, key=ids.__getitem__)] + [vocab[s] for s in special]
    return tokenizer, hf_ids
