"""minifm's byte-level BPE tokenizer in Hugging Face's files (minifm.pretrained.byte_bpe): the
exported tokenizer, loaded by transformers, encodes random Unicode text exactly as minifm does.

Two split patterns, two loaders. minifm's own SPLIT_PATTERN is not GPT-2's, so its export is
read through tokenizer.json (``AutoTokenizer``), which carries the exact pattern; a tokenizer with
GPT-2's pattern is read by ``GPT2Tokenizer`` from vocab.json and merges.txt alone, as a real GPT-2
folder is. The second test draws only characters Python's Unicode database has assigned (see
the byte_bpe module docstring for why).
"""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer, GPT2Tokenizer

from minifm.pretrained.byte_bpe import BYTE_ALPHABET, gpt2_pattern, hf_tokenizer_files
from minifm.tokenizers.bpe import BPETokenizer

END = "<|endoftext|>"
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
# random text: any code point, with the pieces the patterns treat specially mixed in
PIECES = st.sampled_from([" ", "  ", "\n", "\t", "\r\n", "'s", "'ll", "'t", "_", "42", END,
                          "é", "e\u0301", "²", "\x1c", "\xa0", "猫", "🙂"])


def texts(alphabet):
    return st.lists(st.one_of(st.text(alphabet=alphabet, max_size=8), PIECES),
                    max_size=12).map("".join)


def write(files, folder):
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_text(content, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def minifm_split(bpe, tmp_path_factory):
    """(minifm tokenizer, the transformers tokenizer of its export)."""
    folder = write(hf_tokenizer_files(bpe), tmp_path_factory.mktemp("minifm_split") / "tok")
    return bpe, AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def gpt2_split(bpe, tmp_path_factory):
    tok = BPETokenizer(bpe.merges, gpt2_pattern(), [END])
    folder = write(hf_tokenizer_files(tok), tmp_path_factory.mktemp("gpt2_split") / "tok")
    return tok, GPT2Tokenizer.from_pretrained(folder)


@SETTINGS
@given(text=texts(st.characters(exclude_categories=("Cs",))))
def test_the_export_of_minifms_split_encodes_like_minifm(minifm_split, text):
    ours, theirs = minifm_split
    assert theirs(text)["input_ids"] == ours.encode(text)


@SETTINGS
@given(text=texts(st.characters(exclude_categories=("Cs", "Cn"))))
def test_gpt2s_tokenizer_encodes_like_minifm_with_gpt2s_pattern(gpt2_split, text):
    ours, theirs = gpt2_split
    assert theirs(text)["input_ids"] == ours.encode(text)


def test_gpt2s_pattern_keeps_english_contractions_apart_and_minifms_does_not(bpe):
    tok = BPETokenizer([], gpt2_pattern())
    assert tok.decode(tok.encode("we'll")) == "we'll"
    assert [tok.token_bytes(i) for i in tok.encode("we'll")] == [b"w", b"e", b"'", b"l", b"l"]
    assert re.findall(gpt2_pattern(), "we'll go\n\n x") == ["we", "'ll", " go", "\n\n", " x"]
    assert re.findall(bpe.pattern, "we'll go") == ["we", "'", "ll", " go"]


def test_the_byte_alphabet_is_gpt2s():
    assert len(set(BYTE_ALPHABET)) == 256 and BYTE_ALPHABET[ord("!")] == "!"
    assert BYTE_ALPHABET[ord(" ")] == "Ġ" and BYTE_ALPHABET[ord("\n")] == "Ċ"
    assert all(c.isprintable() and not c.isspace() for c in BYTE_ALPHABET)


def test_a_pattern_hugging_face_cannot_express_is_an_error():
    with pytest.raises(ValueError, match="cannot export a BPE tokenizer with the split pattern"):
        hf_tokenizer_files(BPETokenizer([], r"\w+|\W"))


def test_two_ids_with_the_same_bytes_cannot_be_exported():
    a, b, c = ord("a"), ord("b"), ord("c")
    tok = BPETokenizer([(a, b), (b, c), (256, c), (a, 257)])       # "abc" twice: ids 258, 259
    with pytest.raises(ValueError, match="ids 258 and 259 are the same bytes b'abc'"):
        hf_tokenizer_files(tok)
