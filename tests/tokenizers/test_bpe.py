"""Byte-level BPE: hand-worked merges, rank-order encoding, lossless round trips, vocab size."""

import re
from collections import Counter
from functools import cache

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minifm.tokenizers import BPETokenizer
from minifm.tokenizers.bpe import SPLIT_PATTERN

TEXT = (
    "A tokenizer turns text into numbers. The model never sees the letters, only the ids, "
    "so the tokenizer decides what the model can learn cheaply. Byte pair encoding starts "
    "from the bytes of the text and merges the most frequent neighbouring pair again and "
    "again. Frequent words end up as single tokens; rare words are spelled out in pieces. "
    "The small red circle sits on the left of the big blue square, and the green triangle "
    "sits on the right of the small red circle. Numbers like 12, 345 and 6789 are chunks too.\n"
) * 3 + "Ünïcödé wörds, 東京 and emoji 🙂 appear once.\n"

a, b, c, d = 97, 98, 99, 100


@cache
def trained(vocab_size: int = 400) -> BPETokenizer:
    return BPETokenizer.train(TEXT, vocab_size)


def test_bpe_learns_hand_worked_merges_in_order():
    # "aaabdaaabac" as one chunk. Pair counts and the merge they force (ties -> smallest pair):
    #   aa:4 ab:2 bd:1 da:1 ba:1 ac:1                    -> (a, a)      = 256 "aa"
    #   [256 a b d 256 a b a c]: (256,a):2 (a,b):2 ...   -> (a, b)      = 257 "ab"  (tie, a < 256)
    #   [256 257 d 256 257 a c]: (256,257):2             -> (256, 257)  = 258 "aaab"
    #   [258 d 258 a c]: all four pairs once             -> (a, c)      = 259 "ac"
    #   [258 d 258 259]: (258,d) (d,258) (258,259)       -> (d, 258)    = 260 "daaab"
    #   [258 260 259]                                    -> (258, 260)  = 261
    #   [261 259]                                        -> (261, 259)  = 262, then no pairs left
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=300, pattern=None)
    assert tok.merges == [(a, a), (a, b), (256, 257), (a, c), (d, 258), (258, 260), (261, 259)]
    assert tok.vocab_size == 263          # ran out of pairs before 300
    assert tok.token_bytes(258) == b"aaab" and tok.token_bytes(260) == b"daaab"
    assert tok.encode("aaabdaaabac") == [262]


def test_bpe_encode_applies_lowest_rank_merge_first():
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=300, pattern=None)
    # "aab": (a,a) has rank 0 and (a,b) rank 1, so "aa" merges first; (256, b) is no merge.
    # Merging "ab" first would have given [a, 257] instead.
    assert tok.encode("aab") == [256, b]
    assert tok.encode("aaa") == [256, a]
    assert tok.encode("ab") == [257]
    assert tok.encode("ca") == [c, a]


def test_bpe_merges_do_not_cross_chunk_boundaries():
    # Chunks "ab", " ab", " ab": (a,b):3 then (" ", 256):2; "b " never becomes a pair.
    tok = BPETokenizer.train("ab ab ab", vocab_size=300)
    assert tok.merges == [(a, b), (32, 256)]
    # Without pre-splitting the space joins the merges: (256, " ") ties (" ", 256) at 2.
    whole = BPETokenizer.train("ab ab ab", vocab_size=300, pattern=None)
    assert whole.merges == [(a, b), (32, 256), (256, 257), (258, 257)]


def test_split_pattern_chunks_words_with_leading_space():
    chunks = re.findall(SPLIT_PATTERN, "Hello, world!  It's 42.\n")
    assert chunks == ["Hello", ",", " world", "!", " ", " It", "'", "s", " 42", ".", "\n"]


def _reference_merges(text: str, n_merges: int) -> list[tuple[int, int]]:
    """Plain BPE that recounts every pair after every merge (slow, obviously correct)."""
    words = Counter(tuple(chunk.encode("utf-8")) for chunk in re.findall(SPLIT_PATTERN, text))
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts = Counter()
        for word, f in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] += f
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))
        merges.append(best)
        merged = Counter()
        for word, f in words.items():
            out, i = [], 0
            while i < len(word):
                if word[i:i + 2] == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += f
        words = merged
    return merges


def test_bpe_incremental_counts_learn_the_same_merges_as_recounting():
    assert trained(400).merges == _reference_merges(TEXT, 400 - 256)


def test_bpe_vocab_size_is_respected():
    tok = trained(400)
    assert tok.vocab_size == 400 and len(tok.merges) == 144
    assert max(tok.encode(TEXT)) < 400
    with_special = BPETokenizer.train(TEXT, 400, special_tokens=["<|endoftext|>"])
    assert with_special.vocab_size == 400 and with_special.special_tokens == {"<|endoftext|>": 399}
    assert BPETokenizer.train(TEXT, 256).merges == []
    with pytest.raises(ValueError, match="at least 256 \\+ 1 special tokens = 257, got 256"):
        BPETokenizer.train(TEXT, 256, special_tokens=["<|endoftext|>"])


def test_bpe_encoding_of_training_text_shrinks_as_vocab_grows():
    lengths = [len(BPETokenizer.train(TEXT, v).encode(TEXT)) for v in (256, 300, 400, 600)]
    assert lengths[0] == len(TEXT.encode("utf-8"))
    assert all(longer > shorter for longer, shorter in zip(lengths, lengths[1:])), lengths


def test_bpe_special_token_string_becomes_its_id():
    tok = BPETokenizer.train(TEXT, 300, special_tokens=["<|endoftext|>", "<|pad|>"])
    eot = tok.special_tokens["<|endoftext|>"]
    ids = tok.encode("the end<|endoftext|>The start")
    assert ids.count(eot) == 1
    assert ids[:ids.index(eot)] == tok.encode("the end")
    assert tok.decode(ids) == "the end<|endoftext|>The start"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
@example("👍🏽 emoji with skin tone, 👨‍👩‍👧 family")
@example("東京タワー 한국어 中文")
@example("e\u0301 a\u0308\u0323 combining marks")
@example("\x00\x07\x1b[0m\t\r\n\x85\u2028 controls")
@example("  leading, trailing and   inner spaces  ")
@example("")
def test_bpe_round_trip_is_lossless_for_any_string(s):
    assert trained().decode(trained().encode(s)) == s


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
@example("😀 a\u0300 中")
def test_bpe_round_trip_without_pre_splitting(s):
    tok = BPETokenizer.train(TEXT[:300] + "😀😀 à à", 300, pattern=None)
    assert tok.decode(tok.encode(s)) == s


def test_bpe_decode_of_a_split_character_uses_replacement_char():
    tok = trained()
    assert "é".encode("utf-8") == bytes([0xC3, 0xA9])
    assert tok.decode([0xC3]) == "\ufffd"
    assert tok.decode([0xC3, 0xA9]) == "é"


def test_bpe_save_load_round_trip(tmp_path):
    tok = BPETokenizer.train(TEXT, 350, special_tokens=["<|endoftext|>"])
    tok.save(tmp_path / "bpe.json")
    loaded = BPETokenizer.load(tmp_path / "bpe.json")
    assert loaded.merges == tok.merges
    assert loaded.special_tokens == tok.special_tokens
    assert loaded.pattern == tok.pattern
    assert loaded.encode(TEXT + "<|endoftext|>") == tok.encode(TEXT + "<|endoftext|>")


def test_bpe_bad_inputs_are_errors():
    tok = trained()
    with pytest.raises(ValueError, match=r"\[0, 400\)"):
        tok.decode([400])
    with pytest.raises(ValueError, match=r"\[0, 400\)"):
        tok.token_bytes(-1)
    with pytest.raises(TypeError, match="must be a str, got bytes"):
        tok.encode(b"bytes")
    with pytest.raises(ValueError, match="not yet defined"):
        BPETokenizer([(a, 256)])
    with pytest.raises(ValueError, match="distinct"):
        BPETokenizer([(a, b), (a, b)])
    with pytest.raises(ValueError, match="special tokens"):
        BPETokenizer([], special_tokens=["<s>", "<s>"])
