"""CharTokenizer: sorted-unique-character vocabulary, strict encode, checked decode."""

import pytest

from minifm.tokenizers import CharTokenizer


def test_char_vocabulary_is_sorted_unique_characters():
    tok = CharTokenizer.train("hello")
    assert tok.chars == "ehlo"
    assert tok.vocab_size == 4


def test_char_encode_gives_positions_in_sorted_alphabet():
    tok = CharTokenizer.train("hello")           # e=0, h=1, l=2, o=3
    assert tok.encode("hole") == [1, 3, 2, 0]
    assert tok.encode("") == []


def test_char_round_trip_of_unicode_training_text():
    text = "Grüße, 世界! 👍🏽 e\u0301\n\t"
    tok = CharTokenizer.train(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == len(set(text))


def test_char_unknown_character_is_value_error_naming_it():
    tok = CharTokenizer.train("abc")
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\) at position 2"):
        tok.encode("abzc")


def test_char_decode_rejects_out_of_range_ids():
    tok = CharTokenizer.train("abc")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        tok.decode([-1])


def test_char_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer.train("")
    with pytest.raises(ValueError, match="distinct"):
        CharTokenizer("aba")
    with pytest.raises(TypeError, match="must be a str, got list"):
        CharTokenizer.train("abc").encode(["a"])
