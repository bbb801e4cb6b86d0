"""WordTokenizer: lower-cased words and punctuation, special tokens, padding and truncation."""

import numpy as np
import pytest

from minifm.tokenizers import WordTokenizer
from minifm.tokenizers.word import split_words

CAPTIONS = ["a red circle", "a blue circle", "a red square"]
# counts: a 3, circle 2, red 2, blue 1, square 1 -> ids 4.. by frequency, ties alphabetical
A, CIRCLE, RED, BLUE, SQUARE = 4, 5, 6, 7, 8
PAD, BOS, EOS, UNK = 0, 1, 2, 3


def test_split_words_lowercases_and_separates_punctuation():
    assert split_words("A small, red circle.") == ["a", "small", ",", "red", "circle", "."]
    assert split_words("  On the\tLEFT!! ") == ["on", "the", "left", "!", "!"]


def test_split_words_keeps_a_chat_marker_whole():
    assert split_words("<|user|> hi!<|end|>") == ["<|user|>", "hi", "!", "<|end|>"]
    assert split_words("<| user |>") == ["<", "|", "user", "|", ">"]      # not a marker
    assert WordTokenizer(["<|end|>", "hi"]).encode("hi <|end|>", add_special_tokens=False) == [5, 4]


def test_word_vocabulary_specials_first_then_by_frequency():
    tok = WordTokenizer.train(CAPTIONS)
    assert tok.vocab == ["[PAD]", "[BOS]", "[EOS]", "[UNK]", "a", "circle", "red", "blue", "square"]
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (PAD, BOS, EOS, UNK)
    assert tok.vocab_size == 9


def test_word_max_words_keeps_the_most_frequent():
    tok = WordTokenizer.train(CAPTIONS, max_words=3)
    assert tok.vocab[4:] == ["a", "circle", "red"]
    assert tok.encode("a blue circle", add_special_tokens=False) == [A, UNK, CIRCLE]


def test_word_encode_with_and_without_special_tokens():
    tok = WordTokenizer.train(CAPTIONS)
    assert tok.encode("A red square") == [BOS, A, RED, SQUARE, EOS]
    assert tok.encode("A red square", add_special_tokens=False) == [A, RED, SQUARE]
    assert tok.encode("a green square", add_special_tokens=False) == [A, UNK, SQUARE]


def test_word_encode_pads_to_max_length():
    tok = WordTokenizer.train(CAPTIONS)
    assert tok.encode("a red square", max_length=7) == [BOS, A, RED, SQUARE, EOS, PAD, PAD]
    assert tok.encode("a red", add_special_tokens=False, max_length=4) == [A, RED, PAD, PAD]


def test_word_truncation_drops_words_but_keeps_bos_and_eos():
    tok = WordTokenizer.train(CAPTIONS)
    assert tok.encode("a red square", max_length=4) == [BOS, A, RED, EOS]
    assert tok.encode("a red square", add_special_tokens=False, max_length=2) == [A, RED]


def test_word_max_length_too_small_is_value_error():
    tok = WordTokenizer.train(CAPTIONS)
    with pytest.raises(ValueError, match="at least 2"):
        tok.encode("a red", max_length=1)
    with pytest.raises(ValueError, match="at least 1"):
        tok.encode("a red", add_special_tokens=False, max_length=0)


def test_word_encode_batch_pads_to_longest_as_int64():
    tok = WordTokenizer.train(CAPTIONS)
    batch = tok.encode_batch(["a red square", "blue"])
    assert batch.dtype == np.int64 and batch.shape == (2, 5)
    np.testing.assert_array_equal(batch, [[BOS, A, RED, SQUARE, EOS], [BOS, BLUE, EOS, PAD, PAD]])
    assert tok.encode_batch(["blue"], max_length=6).shape == (1, 6)
    with pytest.raises(TypeError, match="single str"):
        tok.encode_batch("a red square")


def test_word_decode_skips_pad_bos_eos_but_keeps_unk():
    tok = WordTokenizer.train(CAPTIONS)
    ids = tok.encode("a green circle", max_length=7)
    assert tok.decode(ids) == "a [UNK] circle"
    assert tok.decode(ids, skip_special_tokens=False) == "[BOS] a [UNK] circle [EOS] [PAD] [PAD]"
    assert tok.decode(np.array(ids)) == "a [UNK] circle"


def test_word_bad_inputs_are_errors():
    tok = WordTokenizer.train(CAPTIONS)
    with pytest.raises(ValueError, match=r"\[0, 9\)"):
        tok.decode([9])
    with pytest.raises(TypeError, match="single str"):
        WordTokenizer.train("a red circle")
    with pytest.raises(ValueError, match="max_words"):
        WordTokenizer.train(CAPTIONS, max_words=0)
    with pytest.raises(ValueError, match="distinct"):
        WordTokenizer(["red", "red"])
    with pytest.raises(ValueError, match="single words"):
        WordTokenizer(["Red"])
    with pytest.raises(TypeError, match="must be a str"):
        tok.encode(None)
