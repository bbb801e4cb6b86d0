"""The NER world (held-out names, BIO tags), labels on first WordPieces, batches, and the
CoNLL entity scores on hand-worked cases."""

import numpy as np
import pytest

from minifm.data.ner import (DATES_TRAIN, HELD_OUT, HELD_OUT_WORDS, IGNORE_INDEX, TAG_ID, TAGS,
                             NERData, bio_entities, encode_tagged, entity_scores, ner_sentences,
                             word_pieces)
from minifm.tokenizers.wordpiece import WordPieceTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "olga", "st", "##one", "works", "at",
         "in", "##it", "##ech", ".", "ac", "##me"]


@pytest.fixture
def tok():
    return WordPieceTokenizer(VOCAB)


def test_sentences_have_one_bio_tag_per_word_and_held_out_names_only_in_val():
    seen = {"train": set(), "val": set()}
    for split in ("train", "val"):
        for words, tags in ner_sentences(300, split, seed=3):
            assert len(words) == len(tags) and set(tags) <= set(TAGS)
            for kind, a, b in bio_entities(tags):
                name = " ".join(words[a:b])
                assert split == "train" or name in HELD_OUT[kind]
                assert split == "val" or kind != "DATE" or name in DATES_TRAIN
                seen[split].update(words[a:b])
    assert not seen["train"] & HELD_OUT_WORDS                # no held-out word in fine-tuning
    assert len(seen["train"]) > 200                           # invented names: hardly repeated


def test_the_first_wordpiece_carries_the_label_and_continuations_are_ignored(tok):
    words, tags = ["olga", "stone", "works", "at", "initech", "."], \
        ["B-PER", "I-PER", "O", "O", "B-ORG", "O"]
    assert word_pieces(tok, ["stone", "initech"]) == ([6, 7, 10, 11, 12], [0, 0, 1, 1, 1])
    ids, labels, first = encode_tagged(tok, words, tags, context_length=16)
    # [CLS] olga st ##one works at in ##it ##ech . [SEP]
    assert ids == [2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 3]
    I = IGNORE_INDEX
    assert labels == [I, TAG_ID["B-PER"], TAG_ID["I-PER"], I, 0, 0, TAG_ID["B-ORG"], I, I, 0, I]
    assert first == [1, 2, 4, 5, 6, 9]


def test_encoding_rejects_unknown_tags_and_too_long_sentences(tok):
    with pytest.raises(ValueError, match="'B-FOOD' is not in the tag set"):
        encode_tagged(tok, ["olga"], ["B-FOOD"], 8)
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        encode_tagged(tok, ["olga", "works"], ["O"], 8)
    with pytest.raises(ValueError, match="5 tokens long.*at most 4"):
        encode_tagged(tok, ["olga", "stone"], ["B-PER", "I-PER"], 4)


def test_batches_are_padded_with_ignored_labels(tok, rng):
    data = NERData({"train": [(["olga", "works"], ["B-PER", "O"]),
                              (["olga", "stone", "works"], ["B-PER", "I-PER", "O"])],
                    "val": [(["acme"], ["B-ORG"])]}, tok, 16)
    ids, segments, attention, labels = data.rows("train")
    assert ids.shape == segments.shape == attention.shape == labels.shape == (2, 6)
    assert attention[0].tolist() == [1, 1, 1, 1, 0, 0] and ids[0, 4:].tolist() == [0, 0]
    assert labels[0, 4:].tolist() == [IGNORE_INDEX] * 2 and not segments.any()
    assert data.get_batch("val", 3, rng)[0].shape == (3, 4)    # [CLS] ac ##me [SEP]


def test_bio_entities_follow_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-DATE"]
    # a stray I- opens an entity; B- after I- of the same kind starts a new one; I- of another
    # kind ends the entity before it and opens its own
    assert bio_entities(tags) == [("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6), ("ORG", 6, 7),
                                  ("DATE", 7, 8)]
    assert bio_entities(["O", "O"]) == []


def test_entity_scores_on_a_hand_worked_case():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-DATE", "I-DATE"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O", "B-DATE", "I-DATE"]]
    # gold entities: PER 0-2, LOC 3, ORG 0, DATE 2-4 (4); predicted: PER 0-1 (wrong span), LOC 3,
    # ORG 0, DATE 2-4 (4). Correct 3: precision 3/4, recall 3/4, F1 3/4
    assert entity_scores(gold, pred) == pytest.approx({"precision": 0.75, "recall": 0.75,
                                                       "f1": 0.75})
    pred = [["O", "O", "O", "B-LOC"], ["B-ORG", "O", "B-LOC", "I-LOC"]]
    # predicted LOC 3, ORG 0, LOC 2-4: 2 of 3 correct; recall 2/4; F1 = 2 * (2/3 * 1/2) / (7/6)
    s = entity_scores(gold, pred)
    assert (s["precision"], s["recall"]) == pytest.approx((2 / 3, 0.5))
    assert s["f1"] == pytest.approx(4 / 7)
    assert entity_scores([["O"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="3 gold tags but 2 predicted"):
        entity_scores([["O", "O", "O"]], [["O", "O"]])


def test_split_names_are_checked():
    with pytest.raises(ValueError, match="split must be one of"):
        ner_sentences(3, "test")
