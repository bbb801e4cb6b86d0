"""BERT data: the story corpus and its rules, the labelled task, MLM masking (proportions
checked statistically), next-sentence pairs, and labelled batches."""

import numpy as np
import pytest

from minifm.data.bert_data import (IGNORE_INDEX, IS_NEXT, NOT_NEXT, LabelledTextData,
                                   PretrainingData, mask_tokens)
from minifm.data.stories import (CHARACTERS, HELD_OUT_ADJECTIVES, LABELLED_ADJECTIVES, NEGATIVE,
                                 OUTINGS, PETS, POSITIVE, WEATHER, sentiment_examples,
                                 story_corpus)
from minifm.tokenizers.wordpiece import WordPieceTokenizer

PAD, UNK, CLS, SEP, MASK = range(5)
SPECIAL = [PAD, UNK, CLS, SEP, MASK]
V = 40


@pytest.fixture(scope="module")
def corpus():
    return story_corpus(200, seed=0)


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return WordPieceTokenizer.train([s for doc in corpus for s in doc], 400)


@pytest.fixture(scope="module")
def data(corpus, tokenizer):
    return PretrainingData(corpus, tokenizer)


# ---- the stories -------------------------------------------------------------------------------
def test_story_corpus_is_reproducible_from_its_seed():
    assert story_corpus(20, seed=3) == story_corpus(20, seed=3)
    assert story_corpus(20, seed=3) != story_corpus(20, seed=4)


def test_every_story_follows_the_rules(corpus):
    pronouns = {name: (he, his) for name, he, his in CHARACTERS}
    episode_order = ["wakes", "weather", "pet", "outing", "lunch", "dinner", "bed"]
    for doc in corpus:
        name = next(w for w in doc[0].split() if w in pronouns)
        he, his = pronouns[name]
        others = {w for n, p, q in CHARACTERS for w in (n, p, q)} - {name, he, his}
        assert all(not others & set(s.split()) for s in doc), doc        # one character
        kinds = []
        for s, following in zip(doc, doc[1:] + [""]):
            words = s.split()
            if "is" in words and words[-2] in WEATHER:                    # it is rainy today .
                kinds.append("weather")
                assert following == f"so {he} takes {his} {WEATHER[words[-2]]} ."
            elif words[1] == "feeds":
                kinds.append("pet")
                assert following == f"the {words[-2]} {PETS[words[-2]]} ."
            elif words[:2] == ["then", he]:
                place = words[-2]
                kinds.append("outing")
                assert following == f"at the {place} {he} {OUTINGS[place]} ."
            elif words[0] == "for":                                 # for lunch / for dinner
                kinds.append(words[1])
                food, adjective = words[-2], following.split()[3]
                assert following.startswith(f"the {food} is {adjective} so {he} ")
                assert adjective in POSITIVE + NEGATIVE
                assert following.split(" so ")[1].startswith(he)
            elif "wakes" in words or "gets" in words:              # gets out of bed
                kinds.append("wakes")
            elif "bed" in words or "asleep" in words:
                kinds.append("bed")
        assert kinds == sorted(kinds, key=episode_order.index)
        assert kinds[0] == "wakes" and kinds[-1] == "bed" and len(set(kinds)) == len(kinds)


def test_liked_and_disliked_meals_get_matching_reactions(corpus):
    reactions = {}
    for doc in corpus:
        for s in doc:
            if " so " in s and s.startswith("the "):
                adjective = s.split()[3]
                reaction = s.split(" so ")[1].split(" ", 1)[1]
                reactions.setdefault(adjective in POSITIVE, set()).add(reaction)
    assert reactions[True] == {"smiles .", "asks for more .", "eats it all ."}
    assert reactions[False] == {"frowns .", "leaves it .", "pushes it away ."}


def test_sentiment_examples_are_balanced_and_split_by_adjective():
    texts, labels = sentiment_examples(40, "train", seed=0)
    assert len(texts) == 40 and labels.dtype == np.int64 and labels.sum() == 20
    for text, label in zip(texts, labels):
        adjective = text.split()[-2]
        assert adjective in LABELLED_ADJECTIVES
        assert label == (adjective in POSITIVE)
        assert " so " not in text                                 # the reaction is left out
    held_out, _ = sentiment_examples(40, "val", seed=0)
    assert {t.split()[-2] for t in held_out} <= set(HELD_OUT_ADJECTIVES)
    assert not set(LABELLED_ADJECTIVES) & set(HELD_OUT_ADJECTIVES)
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        sentiment_examples(4, "test")


# ---- masking -----------------------------------------------------------------------------------
def padded_rows(rng, lengths, T):
    """[CLS] n real tokens [SEP] [PAD]... for each n in lengths: (B, T) ids."""
    ids = np.full((len(lengths), T), PAD)
    for i, n in enumerate(lengths):
        ids[i, 0], ids[i, 1:n + 1], ids[i, n + 1] = CLS, rng.integers(5, V, n), SEP
    return ids


def mask(ids, rng):
    return mask_tokens(ids, rng, special_ids=SPECIAL, mask_id=MASK, vocab_size=V)


def test_special_tokens_and_padding_are_never_chosen(rng):
    ids = padded_rows(rng, rng.integers(0, 30, 500), 32)
    ids[:, 5] = np.where(ids[:, 5] != PAD, UNK, PAD)              # an [UNK] in most rows
    masked, labels = mask(ids, rng)
    special = np.isin(ids, SPECIAL)
    assert np.all(labels[special] == IGNORE_INDEX)
    np.testing.assert_array_equal(masked[special], ids[special])
    np.testing.assert_array_equal(labels[~special & (labels != IGNORE_INDEX)],
                                  ids[~special & (labels != IGNORE_INDEX)])


def test_fifteen_percent_of_each_rows_real_tokens_are_chosen(rng):
    lengths = [20, 40, 7, 1, 0, 10, 30]
    ids = padded_rows(rng, lengths, 44)
    _, labels = mask(ids, rng)
    chosen = (labels != IGNORE_INDEX).sum(axis=1)
    # max(1, round(0.15 n)): 3, 6, 1, 1, 0 (nothing to choose), 2 (1.5 rounds to even), 4 (4.5)
    np.testing.assert_array_equal(chosen, [3, 6, 1, 1, 0, 2, 4])


def test_chosen_tokens_are_80_percent_mask_10_random_10_unchanged(rng):
    ids = padded_rows(rng, np.full(4000, 40), 42)
    masked, labels = mask(ids, rng)
    chosen = labels != IGNORE_INDEX
    n = chosen.sum()
    assert n == 4000 * 6
    to_mask = (masked == MASK) & chosen
    unchanged = (masked == ids) & chosen
    random = chosen & ~to_mask & ~unchanged
    pool = V - len(SPECIAL)                  # a random token equals the original 1 time in 35
    # 5 standard deviations of a binomial proportion over n = 24,000 draws
    for count, p in ((to_mask, 0.8), (random, 0.1 * (1 - 1 / pool)), (unchanged, 0.1 * (1 + 1 / pool))):
        assert abs(count.sum() / n - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert not (masked[random] < len(SPECIAL)).any()          # random tokens are never special


def test_random_replacements_are_uniform_over_regular_tokens(rng):
    ids = padded_rows(rng, np.full(20000, 40), 42)
    masked, labels = mask(ids, rng)
    chosen = labels != IGNORE_INDEX
    replaced = masked[chosen & (masked != MASK) & (masked != ids)]
    counts = np.bincount(replaced, minlength=V)[len(SPECIAL):]
    expected = len(replaced) / (V - len(SPECIAL))
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_every_real_position_is_equally_likely_to_be_chosen(rng):
    ids = padded_rows(rng, np.full(20000, 20), 22)
    _, labels = mask(ids, rng)
    per_position = (labels != IGNORE_INDEX)[:, 1:21].mean(axis=0)
    sd = np.sqrt(0.15 * 0.85 / 20000)
    assert np.all(np.abs(per_position - 0.15) < 5 * sd)


def test_mask_tokens_rejects_bad_input(rng):
    with pytest.raises(ValueError, match=r"input_ids must have shape \(B, T\), got shape \(5,\)"):
        mask(np.zeros(5, dtype=np.int64), rng)
    with pytest.raises(TypeError, match="input_ids must be an integer numpy array"):
        mask(np.zeros((2, 5)), rng)
    with pytest.raises(ValueError, match=r"input_ids holds id 40, outside the vocabulary \[0, 40\)"):
        mask(np.array([[2, 40, 3]]), rng)
    with pytest.raises(ValueError, match=r"input_ids holds id -1"):
        mask(np.array([[2, -1, 3]]), rng)
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(np.array([[2, 7, 3]]), rng, special_ids=SPECIAL, mask_id=MASK,
                    vocab_size=V, mask_prob=0.0)


# ---- next-sentence pairs -----------------------------------------------------------------------
def test_pairs_are_half_true_next_and_half_from_another_document(data, rng):
    a, b, labels = data.sample_pairs("train", 20000, rng)
    is_next = labels == IS_NEXT
    assert abs(is_next.mean() - 0.5) < 5 * np.sqrt(0.25 / 20000)
    np.testing.assert_array_equal(b[is_next], a[is_next] + 1)
    assert np.all(data.doc[b[is_next]] == data.doc[a[is_next]])
    assert np.all(data.doc[b[~is_next]] != data.doc[a[~is_next]])
    assert set(np.unique(labels)) == {IS_NEXT, NOT_NEXT}


def test_random_sentences_cover_the_whole_split(data, rng):
    a, b, labels = data.sample_pairs("train", 20000, rng)
    lo, hi = data.ranges["train"]
    others = b[labels == NOT_NEXT]
    assert others.min() == lo and others.max() == hi - 1       # both ends of the split are reached
    assert len(np.unique(others)) > 0.9 * (hi - lo)


def test_splits_do_not_share_documents(data, rng):
    for split in ("train", "val"):
        lo, hi = data.ranges[split]
        a, b, _ = data.sample_pairs(split, 2000, rng)
        assert np.all((lo <= a) & (a < hi) & (lo <= b) & (b < hi))
    assert data.ranges["train"][1] == data.ranges["val"][0]


def test_a_pair_is_cls_a_sep_b_sep_with_segments_and_padding(data, corpus, tokenizer):
    sentences = [s for doc in corpus for s in doc]
    a, b = np.array([0, 5]), np.array([1, 17])
    ids, segments, attention = data.pair_batch(a, b)
    for row in range(2):
        n_a = len(tokenizer.encode(sentences[a[row]], add_special_tokens=False))
        expected = tokenizer(sentences[a[row]], sentences[b[row]])
        n = len(expected["input_ids"])
        np.testing.assert_array_equal(ids[row, :n], expected["input_ids"])
        np.testing.assert_array_equal(segments[row, :n], expected["token_type_ids"])
        assert ids[row, 0] == tokenizer.cls_token_id and ids[row, n_a + 1] == tokenizer.sep_token_id
        assert np.all(ids[row, n:] == tokenizer.pad_token_id)
        assert np.all(segments[row, n:] == 0)
        np.testing.assert_array_equal(attention[row], np.arange(ids.shape[1]) < n)
    assert ids.shape[1] == max(attention.sum(axis=1))            # padded to the longest pair


def test_longest_pair_bounds_every_batch_and_is_reached_by_the_longest_sentences(data, rng):
    """``longest_pair`` is what a model's context_length must hold (minifm.tasks.bert.check_fits)."""
    longest = np.flatnonzero(data.lengths == data.lengths.max())[:1]
    ids, _, _ = data.pair_batch(longest, longest)
    assert ids.shape[1] == data.longest_pair == 2 * data.lengths.max() + 3
    for split in ("train", "val"):
        assert data.get_batch(split, 256, rng)[0].shape[1] <= data.longest_pair


def test_get_batch_masks_only_real_tokens(data, tokenizer, rng):
    ids, segments, attention, mlm_labels, nsp_labels = data.get_batch("val", 64, rng)
    assert ids.shape == segments.shape == attention.shape == mlm_labels.shape
    assert nsp_labels.shape == (64,) and ids.dtype == np.int64
    chosen = mlm_labels != IGNORE_INDEX
    assert np.all(attention[chosen] == 1)
    assert not np.isin(mlm_labels[chosen], [tokenizer.cls_token_id, tokenizer.sep_token_id,
                                            tokenizer.pad_token_id]).any()
    assert np.all(chosen.sum(axis=1) >= 1)
    assert (ids == tokenizer.mask_token_id).sum() > 0.5 * chosen.sum()


def test_pretraining_data_rejects_bad_input(tokenizer, corpus):
    with pytest.raises(ValueError, match="at least one sentence"):
        PretrainingData([["a cat ."], []], tokenizer)
    with pytest.raises(ValueError, match="at least 2 documents in each split"):
        PretrainingData(corpus[:3], tokenizer)
    with pytest.raises(ValueError, match="val_fraction"):
        PretrainingData(corpus, tokenizer, val_fraction=1.0)
    with pytest.raises(ValueError, match="no document with two sentences"):
        PretrainingData([["tom wakes up ."]] * 10, tokenizer)
    with pytest.raises(ValueError, match="split must be one of"):
        PretrainingData(corpus, tokenizer).get_batch("test", 2, np.random.default_rng(0))


# ---- labelled texts ----------------------------------------------------------------------------
def test_labelled_batches_are_cropped_encodings_with_labels(tokenizer, rng):
    texts = ["tom eats pie .", "the pie is tasty .", "mia eats soup . the soup is awful ."]
    data = LabelledTextData({"train": (texts, np.array([0, 1, 0])),
                             "val": (texts[:1], np.array([1]))}, tokenizer, context_length=32)
    ids, segments, attention, labels = data.rows("train", np.array([0, 1]))
    expected = tokenizer.batch_encode(texts[:2])
    np.testing.assert_array_equal(ids, expected["input_ids"])     # cropped to the longer of two
    np.testing.assert_array_equal(attention, expected["attention_mask"])
    np.testing.assert_array_equal(labels, [0, 1])
    batch = data.get_batch("train", 5, rng)
    assert batch[0].shape[0] == 5 and batch[3].shape == (5,)
    assert data.rows("val")[0].shape == (1, 6)
    short = LabelledTextData({"train": (texts, np.array([0, 1, 0])), "val": (texts, np.zeros(3, int))},
                             tokenizer, context_length=4)
    assert short.rows("train")[0].shape == (3, 4)                  # truncated to context_length


def test_labelled_data_rejects_bad_input(tokenizer):
    with pytest.raises(ValueError, match="needs the splits"):
        LabelledTextData({"train": (["a ."], np.array([0]))}, tokenizer, 8)
    with pytest.raises(ValueError, match="expected 2 integer labels"):
        LabelledTextData({"train": (["a .", "b ."], np.array([0])),
                          "val": (["a ."], np.array([0]))}, tokenizer, 8)
