"""Every tokenizer survives to_dict -> JSON -> tokenizer_from_dict and save -> load."""

import json
import os

import pytest

from minifm.tokenizers import (BPETokenizer, CharTokenizer, WordPieceTokenizer, WordTokenizer,
                               load_tokenizer, tokenizer_from_dict)
from minifm import atomic

TEXTS = ["a small red circle on the left.", "A big blue square, on the right!"]
SAMPLE = "a big red circle on the right, Sir."


def all_tokenizers():
    return [
        CharTokenizer.train(" ".join(TEXTS) + "S"),
        WordTokenizer.train(TEXTS),
        BPETokenizer.train(" ".join(TEXTS) * 3, 280, special_tokens=["<|endoftext|>"]),
        WordPieceTokenizer.train(TEXTS, vocab_size=60, do_lower_case=True),
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Sir", "##s", ".", "中"],
                           do_lower_case=False, strip_accents=True, tokenize_chinese_chars=False,
                           max_input_chars_per_word=7),
    ]


@pytest.mark.parametrize("tok", all_tokenizers(), ids=lambda t: type(t).__name__)
def test_tokenizer_from_dict_round_trip_through_json(tok):
    d = json.loads(json.dumps(tok.to_dict()))
    again = tokenizer_from_dict(d)
    assert type(again) is type(tok)
    assert again.to_dict() == tok.to_dict()
    assert again.vocab_size == tok.vocab_size
    assert again.encode(SAMPLE) == tok.encode(SAMPLE)
    assert again.decode(tok.encode(SAMPLE)) == tok.decode(tok.encode(SAMPLE))


@pytest.mark.parametrize("tok", all_tokenizers(), ids=lambda t: type(t).__name__)
def test_save_then_load_round_trip(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    for again in (type(tok).load(path), load_tokenizer(path)):
        assert type(again) is type(tok)
        assert again.to_dict() == tok.to_dict()
        assert again.encode(SAMPLE) == tok.encode(SAMPLE)
    assert os.listdir(tmp_path) == ["tok.json"]          # no temporary file left behind


def test_wordpiece_options_survive_serialisation():
    tok = all_tokenizers()[-1]
    again = tokenizer_from_dict(tok.to_dict())
    # cased, accents stripped, CJK not split off, words of more than 7 characters -> [UNK]
    assert again.tokenize("Sirs Sìr sir 中中. Sirssss Sirsssss") == [
        "Sir", "##s", "Sir", "[UNK]", "[UNK]", ".", "Sir", "##s", "##s", "##s", "##s", "[UNK]"]


def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "tok.json"
    CharTokenizer.train("abc").save(path)
    before = path.read_text()

    def fsync_that_dies(fd):          # the new JSON is in the temporary file, not yet on disk
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", fsync_that_dies)
    with pytest.raises(OSError, match="disk full"):
        CharTokenizer.train("xyz").save(path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["tok.json"]


def test_load_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer file not found"):
        CharTokenizer.load(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="tokenizer file not found"):
        load_tokenizer(tmp_path / "missing.json")


def test_load_malformed_json_is_value_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"type": "char", "chars": "ab"', encoding="utf-8")
    with pytest.raises(ValueError, match="is not valid JSON"):
        CharTokenizer.load(path)
    path.write_text('["not", "an", "object"]', encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object with a 'type' key, got list"):
        load_tokenizer(path)


def test_wrong_type_unknown_type_and_missing_keys_are_value_errors(tmp_path):
    path = tmp_path / "word.json"
    WordTokenizer.train(TEXTS).save(path)
    with pytest.raises(ValueError, match="type 'char', got type 'word'"):
        CharTokenizer.load(path)
    with pytest.raises(ValueError, match="unknown tokenizer type 'sentencepiece'"):
        tokenizer_from_dict({"type": "sentencepiece"})
    with pytest.raises(ValueError, match=r"missing key\(s\) \['merges'\]"):
        tokenizer_from_dict({"type": "bpe", "pattern": None, "special_tokens": []})
    with pytest.raises(TypeError, match="needs a dict, got str"):
        tokenizer_from_dict("char")
