"""Character-level tokenizer: one id per distinct character of the training text.

The simplest tokenizer there is (the one char-RNN and nanoGPT's Shakespeare demo use): the
vocabulary is the sorted set of characters that occur in the training text, and a character's
id is its position in that sorted list. V is the vocabulary size.

    tok = CharTokenizer.train("hello")     # vocabulary "ehlo": e=0, h=1, l=2, o=3
    tok.encode("hole")                     # [1, 3, 2, 0]
    tok.decode([1, 0, 2, 2, 3])            # "hello"

There is no unknown token: encoding a character the vocabulary lacks is a ValueError that
names the character and its position, because silently mapping it to something else would
hide a data problem (train on all the text the model will see).
"""

from __future__ import annotations

from typing import Any, Iterable

from minifm.tokenizers.base import Tokenizer, check_dict, check_ids, check_text


class CharTokenizer(Tokenizer):
    """Maps each character of a fixed alphabet to an id in [0, V)."""

    type_name = "char"

    def __init__(self, chars: str):
        if not isinstance(chars, str):
            raise TypeError(f"CharTokenizer chars must be a str, got {type(chars).__name__}")
        if not check_text(chars, "CharTokenizer chars"):
            raise ValueError("CharTokenizer needs a non-empty string of characters, got ''")
        if len(set(chars)) != len(chars):
            raise ValueError(f"CharTokenizer characters must be distinct, got {chars!r}")
        self.chars = chars
        self._stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        """Build the vocabulary from the sorted unique characters of ``text``."""
        if not isinstance(text, str) or not text:
            raise ValueError("CharTokenizer.train needs a non-empty str of training text")
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Return one id per character of ``text``; unknown characters are a ValueError."""
        check_text(text)
        try:
            return [self._stoi[c] for c in text]
        except KeyError as e:
            pos = next(i for i, c in enumerate(text) if c not in self._stoi)
            raise ValueError(f"character {e.args[0]!r} (U+{ord(e.args[0]):04X}) at position {pos} "
                             f"is not in the vocabulary of {self.vocab_size} characters") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Return the characters of ``ids`` (each in [0, V)) joined into a string."""
        return "".join(self.chars[i] for i in check_ids(ids, self.vocab_size))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        check_dict(d, cls.type_name, ["chars"])
        return cls(d["chars"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
