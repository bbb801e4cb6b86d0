"""Probing a grammar BERT: labels read off the grammar, states aligned with words, a tiny run."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.tasks.probes import (PARTS_OF_SPEECH, PROPERTIES, SETTINGS, probe_grammar_bert,
                                 pretrain_grammar_bert, sentence_states, word_labels)

QUICK = SETTINGS["tiny"]


@pytest.fixture(scope="module")
def tiny_bert():
    return pretrain_grammar_bert(QUICK)


def test_word_labels_follow_the_grammar():
    assert word_labels("the") == (PARTS_OF_SPEECH.index("determiner"), None)
    assert word_labels("mice") == (PARTS_OF_SPEECH.index("noun"), 1)
    assert word_labels("cat") == (PARTS_OF_SPEECH.index("noun"), 0)
    assert word_labels("chases")[0] == word_labels("sleep")[0] == PARTS_OF_SPEECH.index("verb")
    assert word_labels(".")[0] == PARTS_OF_SPEECH.index("period")
    with pytest.raises(ValueError, match="not a word"):
        word_labels("wizard")


def test_states_line_up_with_the_words(tiny_bert):
    model, tokenizer = tiny_bert
    states, words, labels = sentence_states(model, tokenizer,
                                            ["the big cats sleep.", "a dog sees the mice."])
    # 5 + 6 word positions (the period is a word), every layer and the embeddings
    assert states.shape == (model.config.n_layer + 1, 11, model.config.n_embd)
    assert [tokenizer.vocab[i] for i in words] == "the big cats sleep . a dog sees the mice .".split()
    assert list(labels["noun number"]) == [-1, -1, 1, -1, -1, -1, 0, -1, -1, 1, -1]
    # at "the", "big" the noun ahead is "cats" (pl); at "a" it is "dog", at the second "the" "mice"
    assert list(labels["number ahead"]) == [1, 1, -1, -1, -1, 0, -1, -1, 1, -1, -1]


def test_tiny_run_reports_every_property_and_layer(tiny_bert):
    reports = probe_grammar_bert(*tiny_bert, QUICK)
    assert set(reports) == set(PROPERTIES)
    for layer_reports in reports.values():
        assert len(layer_reports) == QUICK.bert.n_layer + 1
        for r in layer_reports:
            assert 0 <= r.task_accuracy <= 1 and 0 <= r.control_accuracy <= 1
            assert np.isclose(r.selectivity, r.task_accuracy - r.control_accuracy)
