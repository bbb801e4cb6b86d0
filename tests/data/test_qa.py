"""Questions about the stories world (answers are spans), their encoding as token spans, and
SQuAD's exact match and token F1 on hand-worked cases."""

import numpy as np
import pytest

from minifm.data.qa import (MAX_WORDS, QAData, QAExample, encode_qa, exact_match, normalize_answer,
                            qa_examples, squad_scores, token_f1)
from minifm.tokenizers.wordpiece import WordPieceTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "what", "does", "mia", "eat", "?",
         "for", "lunch", "eats", "so", "##up", "."]


@pytest.fixture
def tok():
    return WordPieceTokenizer(VOCAB)


def test_questions_name_one_of_the_two_characters_and_answers_are_spans():
    for e in qa_examples(300, seed=4):
        assert 0 <= e.start <= e.end < len(e.context)
        name = next(w for w in e.question.split()[2:] if w in e.context)
        assert e.context.count(name) >= 1 and e.answer
        assert len(e.question.split()) + len(e.context) <= MAX_WORDS


def test_an_answer_is_the_first_to_the_last_wordpiece_of_its_words(tok):
    context = ["for", "lunch", "mia", "eats", "soup", "."]
    ids, segments, word_of, span = encode_qa(tok, "what does mia eat ?", context, 16, (4, 4))
    # [CLS] what does mia eat ? [SEP] for lunch mia eats so ##up . [SEP]
    assert ids == [2, 5, 6, 7, 8, 9, 3, 10, 11, 7, 12, 13, 14, 15, 3]
    assert segments == [0] * 7 + [1] * 8
    assert word_of == [-1] * 7 + [0, 1, 2, 3, 4, 4, 5, -1]
    assert span == (11, 12)


def test_encoding_rejects_empty_or_too_long_inputs(tok):
    with pytest.raises(ValueError, match="context is empty"):
        encode_qa(tok, "what does mia eat ?", [], 16)
    with pytest.raises(ValueError, match="15 tokens long.*the question alone 5.*at most 12"):
        encode_qa(tok, "what does mia eat ?", ["for", "lunch", "mia", "eats", "soup", "."], 12)
    with pytest.raises(ValueError, match="not a span"):
        encode_qa(tok, "what ?", ["soup"], 16, (0, 1))


def test_batches_hold_token_spans(tok, rng):
    ex = [QAExample("what does mia eat ?", ["mia", "eats", "soup", "."], 2, 2),
          QAExample("what ?", ["soup"], 0, 0)]
    data = QAData({"train": ex, "val": ex[:1]}, tok, 16)
    ids, segments, attention, starts, ends = data.rows("train")
    assert ids.shape == (2, 13) and attention[1].sum() == 7
    assert starts.tolist() == [9, 4] and ends.tolist() == [10, 5]
    assert data.get_batch("val", 2, rng)[3].tolist() == [9, 9]


def test_squad_normalisation_and_scores_on_hand_worked_cases():
    assert normalize_answer("The  Park!") == "park"
    assert exact_match("the park", "Park.") == 1.0 and exact_match("park bench", "park") == 0.0
    # "reads a book" vs "reads the book": articles dropped, both "reads book": F1 1
    assert token_f1("reads a book", "reads the book") == 1.0
    # "plays football well" vs "plays football": 2 shared, P 2/3, R 1, F1 = 0.8
    assert token_f1("plays football well", "plays football") == pytest.approx(0.8)
    assert token_f1("swims", "reads a book") == 0.0
    assert token_f1("the", "") == 1.0 and token_f1("a", "park") == 0.0
    assert squad_scores(["park", "plays football well"], ["the park", "plays football"]) == \
        pytest.approx({"exact_match": 0.5, "f1": 0.9})
