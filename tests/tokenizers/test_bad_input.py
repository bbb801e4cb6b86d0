"""Bad input to the tokenizers: decode of anything but int ids, text that is not characters,
malformed dicts and files (text and image tokenizers), and a directory where a file belongs.
Each gets a TypeError / ValueError / FileNotFoundError at the public call, naming what was
expected and what arrived."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minifm.tokenizers import (BPETokenizer, CharTokenizer, KMeansImageTokenizer,
                               VQVAEImageTokenizer, WordPieceTokenizer, WordTokenizer,
                               load_tokenizer, tokenizer_from_dict)
from minifm.tokenizers.image import VQVAE_PARAMS, array_to_json

TEXT = "the cat sat on the mat, the cat ate"


def text_tokenizers():
    return [CharTokenizer.train(TEXT), WordTokenizer.train([TEXT]),
            BPETokenizer.train(TEXT, 270), WordPieceTokenizer.train([TEXT], 60)]


@pytest.fixture(params=["char", "word", "bpe", "wordpiece"])
def tok(request):
    return dict(zip(["char", "word", "bpe", "wordpiece"], text_tokenizers()))[request.param]


# ---- decode: ids must be ints ---------------------------------------------------------------
@pytest.mark.parametrize("ids, words", [
    ([0.7, 1.2], r"token ids must be ints, got 0.7 \(float\)"),
    ([1, True], r"token ids must be ints, got True \(bool\)"),
    ("01", "token ids must be a sequence of ints, got str"),
    (b"\x00\x01", "token ids must be a sequence of ints, got bytes"),
    (3, "token ids must be a sequence of ints, got int"),
    (np.array([0.0, 1.0]), "token ids must be a sequence of ints, got an array of float64"),
    ([None], r"token ids must be ints, got None \(NoneType\)"),
])
def test_decode_refuses_ids_that_are_not_ints(tok, ids, words):
    with pytest.raises(TypeError, match=words):
        tok.decode(ids)


def test_decode_refuses_a_batch_of_rows_and_takes_a_row_of_numpy_ints(tok):
    ids = np.array(tok.encode("the cat"), dtype=np.int32)
    assert tok.decode(ids) == tok.decode(ids.tolist())
    assert tok.decode([np.int64(i) for i in ids]) == tok.decode(ids.tolist())
    with pytest.raises(ValueError, match=r"one sequence \(T,\), got shape \(1, "):
        tok.decode(ids[None])


# ---- encode: text must be characters ----------------------------------------------------------
@pytest.mark.parametrize("text, position", [("the \ud800cat", 4), ("\udfff", 0),
                                            ("é\udc80", 1)])
def test_encode_of_a_lone_surrogate_is_a_value_error(tok, text, position):
    with pytest.raises(ValueError, match=rf"lone surrogate U\+D[89A-F][0-9A-F]{{2}} at position "
                                         rf"{position}"):
        tok.encode(text)


def test_a_real_surrogate_pair_character_still_encodes():
    tok = BPETokenizer.train(TEXT, 260)
    assert tok.decode(tok.encode("cat 🐈")) == "cat 🐈"


# ---- from_dict / load_tokenizer of malformed content ---------------------------------------------
BPE = {"type": "bpe", "merges": [[116, 104]], "pattern": None, "special_tokens": []}


@pytest.mark.parametrize("change, error, words", [
    ({"merges": [[1]]}, TypeError, r"BPE merge 0 must be a pair of int ids \(a, b\), got \[1\]"),
    ({"merges": [[1.5, 2]]}, TypeError, r"BPE merge 0 must be a pair"),
    ({"merges": [[True, 2]]}, TypeError, r"BPE merge 0 must be a pair"),
    ({"merges": [["a", "b"]]}, TypeError, r"BPE merge 0 must be a pair"),
    ({"merges": "th"}, TypeError, "BPE merges must be a list of .* id pairs, got str"),
    ({"merges": [[116, 300]]}, ValueError, "not yet defined"),
    ({"pattern": "(unclosed"}, ValueError, "BPE pattern '\\(unclosed' is not a valid regular"),
    ({"pattern": 5}, TypeError, "BPE pattern must be a str"),
    ({"special_tokens": "<|end|>"}, TypeError, "BPE special_tokens must be a list of str, got str"),
    ({"special_tokens": [7]}, TypeError, r"got an item 7 \(int\)"),
])
def test_bpe_from_dict_refuses_malformed_content(change, error, words):
    with pytest.raises(error, match=words):
        tokenizer_from_dict({**BPE, **change})


def wordpiece_dict() -> dict:
    return WordPieceTokenizer.train([TEXT], 60).to_dict()


@pytest.mark.parametrize("change, words", [
    ({"max_input_chars_per_word": "100"}, "max_input_chars_per_word must be an int, got '100'"),
    ({"max_input_chars_per_word": 1.5}, "max_input_chars_per_word must be an int, got 1.5"),
    ({"vocab": "[PAD][UNK]"}, "a WordPiece vocabulary must be a list of str, got str"),
    ({"vocab": ["[PAD]", 3]}, r"got an item 3 \(int\)"),
    ({"do_lower_case": "yes"}, "do_lower_case must be True or False, got 'yes'"),
    ({"strip_accents": 1}, "strip_accents must be True or False or None, got 1"),
    ({"tokenize_chinese_chars": None}, "tokenize_chinese_chars must be True or False"),
])
def test_wordpiece_from_dict_refuses_wrong_types_at_load_not_at_encode(change, words):
    with pytest.raises(TypeError, match=words):
        tokenizer_from_dict({**wordpiece_dict(), **change})


def test_wordpiece_max_input_chars_per_word_must_be_positive():
    with pytest.raises(ValueError, match="max_input_chars_per_word must be a positive int, got 0"):
        tokenizer_from_dict({**wordpiece_dict(), "max_input_chars_per_word": 0})


@pytest.mark.parametrize("d, error, words", [
    ({"type": "char", "chars": ["a", "b"]}, TypeError, "CharTokenizer chars must be a str, got "),
    ({"type": "char", "chars": ""}, ValueError, "non-empty"),
    ({"type": "word", "words": "red"}, TypeError, "WordTokenizer words must be a list of str"),
    ({"type": "word", "words": [1, 2]}, TypeError, r"got an item 1 \(int\)"),
])
def test_char_and_word_from_dict_refuse_wrong_types(d, error, words):
    with pytest.raises(error, match=words):
        tokenizer_from_dict(d)


def test_a_vocab_file_that_is_a_directory_or_not_utf8_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="is a directory, not a vocab file"):
        WordPieceTokenizer.from_vocab_file(tmp_path)
    (tmp_path / "vocab.txt").write_bytes(b"[PAD]\n\xff\xfe\n")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")


def test_a_directory_is_not_a_tokenizer_file(tmp_path):
    with pytest.raises(ValueError, match="is a directory, not a tokenizer file"):
        load_tokenizer(tmp_path)
    with pytest.raises(ValueError, match="is a directory"):
        CharTokenizer.load(tmp_path)


# ---- image tokenizers: malformed, empty, truncated and incomplete files ------------------------
def kmeans(rng) -> KMeansImageTokenizer:
    return KMeansImageTokenizer(rng.uniform(0, 1, (5, 12)), image_size=4, patch_size=2)


def vqvae(rng) -> VQVAEImageTokenizer:
    K, F, E, V = 12, 6, 3, 5
    shapes = {"encoder.c_fc.weight": (K, F), "encoder.c_fc.bias": (F,),
              "encoder.c_proj.weight": (F, E), "encoder.c_proj.bias": (E,), "codebook": (V, E),
              "decoder.c_fc.weight": (E, F), "decoder.c_fc.bias": (F,),
              "decoder.c_proj.weight": (F, K), "decoder.c_proj.bias": (K,)}
    assert set(shapes) == set(VQVAE_PARAMS)
    return VQVAEImageTokenizer({n: rng.standard_normal(s).astype(np.float32)
                                for n, s in shapes.items()}, image_size=4, patch_size=2)


@pytest.fixture(params=["kmeans", "vqvae"])
def image_tok(request, rng):
    return {"kmeans": kmeans, "vqvae": vqvae}[request.param](rng)


def test_an_empty_or_truncated_image_tokenizer_file_is_a_value_error(image_tok, tmp_path):
    path = tmp_path / "tok.json"
    image_tok.save(path)
    text = path.read_text()
    for broken in ("", text[: len(text) // 2], text[:-1]):
        path.write_text(broken)
        with pytest.raises(ValueError, match="is not valid JSON"):
            load_tokenizer(path)


def test_an_incomplete_image_tokenizer_dict_is_a_value_error(image_tok):
    d = image_tok.to_dict()
    arrays = d["codebook"] if "codebook" in d else d["params"]["codebook"]
    arrays["values"] = arrays["values"][:-3]                     # values lost at the end
    with pytest.raises(ValueError, match=r"codebook holds \d+ values, but its shape .* needs"):
        tokenizer_from_dict(d)
    del arrays["values"]
    with pytest.raises(ValueError, match="must be stored as a dict with 'dtype', 'shape' and"):
        tokenizer_from_dict(d)


@pytest.mark.parametrize("array, words", [
    ({"dtype": "int64", "shape": [5, 12], "values": [0] * 60}, "must have a float dtype"),
    ({"dtype": "float32", "shape": [5, "12"], "values": [0.0] * 60}, "shape must be a list"),
    ({"dtype": "float32", "shape": [5, 12], "values": ["x"] * 60}, "values must be a flat list"),
    ({"dtype": "float32", "shape": [5, 12], "values": 0.0}, "values must be a flat list"),
    ([1, 2], "must be stored as a dict"),
])
def test_a_malformed_kmeans_codebook_is_a_value_error(rng, array, words):
    d = {**kmeans(rng).to_dict(), "codebook": array}
    with pytest.raises(ValueError, match=words):
        tokenizer_from_dict(d)


def test_kmeans_grid_sizes_must_be_positive_ints(rng):
    d = kmeans(rng).to_dict()
    with pytest.raises(TypeError, match="patch_size must be an int, got '2'"):
        tokenizer_from_dict({**d, "patch_size": "2"})
    with pytest.raises(ValueError, match="image_size must be a positive int, got 0"):
        tokenizer_from_dict({**d, "image_size": 0})


def test_vqvae_weights_that_do_not_chain_are_a_value_error(rng):
    d = vqvae(rng).to_dict()
    d["params"]["decoder.c_proj.bias"] = array_to_json(np.zeros(7, np.float32))
    with pytest.raises(ValueError, match=r"decoder.c_proj.bias must have shape \(K=12,\)"):
        tokenizer_from_dict(d)
    with pytest.raises(ValueError, match="'params' must be a dict of arrays, got list"):
        tokenizer_from_dict({**d, "params": []})


def test_a_saved_file_with_one_key_removed_names_it(image_tok, tmp_path):
    path = tmp_path / "tok.json"
    d = image_tok.to_dict()
    d.pop("patch_size")
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"missing key\(s\) \['patch_size'\]"):
        load_tokenizer(path)


# ---- image tokenizers: NaN images have no nearest code -------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encode_of_nan_or_inf_images_is_a_value_error(image_tok, rng, bad):
    images = rng.uniform(0, 1, (2, 4, 4, 3)).astype(np.float32)
    images[1, 2, 3, 0] = bad
    with pytest.raises(ValueError, match=r"images holds .* at index \(1, 2, 3, 0\); expected "
                                         "finite values"):
        image_tok.encode(images)
    assert image_tok.encode(images[:1]).shape == (1, 4)          # a clean image still encodes
