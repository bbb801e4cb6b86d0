"""Learned-skew measurements on models whose answer is known, a tiny end-to-end run, and WEAT on
the real MiniLM (skipped when it is not installed)."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from minifm.data.occupations import OCCUPATIONS, occupation_sentences
from minifm.pretrained import minilm_path
from minifm.tasks.bias import (SETTINGS, WEAT_TESTS, bert_she_share, gpt_she_share,
                               measure_bias, weat_tests)
from minifm.tokenizers import CharTokenizer
from minifm.tokenizers.wordpiece import WordPieceTokenizer


class Constant:
    """A stand-in model: the same logits everywhere (``row`` over the vocabulary)."""

    def __init__(self, row: np.ndarray, bert: bool = False):
        self.row, self.bert = row, bert

    @contextmanager
    def evaluating(self):
        yield self

    def __call__(self, idx, *rest):
        logits = np.broadcast_to(self.row, idx.shape + self.row.shape).copy()   # (B, T, V)
        return (SimpleNamespace(mlm_logits=logits) if self.bert else logits), None


def test_uniform_gpt_prefers_the_shorter_pronoun_by_one_character():
    tokenizer = CharTokenizer.train("\n" + "\n".join(occupation_sentences(50)))
    V = tokenizer.vocab_size
    # p("he ") = V^-3, p("she ") = V^-4: share = V^-4 / (V^-3 + V^-4) = 1 / (V + 1)
    share = gpt_she_share(Constant(np.zeros(V)), tokenizer, "nurse")
    assert share == pytest.approx(1 / (V + 1), rel=1e-6)


def test_bert_share_reads_the_two_pronoun_logits():
    tokenizer = WordPieceTokenizer.train(occupation_sentences(50), 64)
    row = np.zeros(tokenizer.vocab_size)
    row[tokenizer.convert_tokens_to_ids(["she"])[0]] = np.log(4.0)    # p(she) = 4 p(he)
    assert bert_she_share(Constant(row, bert=True), tokenizer, "pilot") == pytest.approx(0.8)


def test_tiny_run_measures_every_occupation():
    r = measure_bias(SETTINGS["tiny"])
    for shares in r.__dict__.values():
        assert shares.shape == (len(OCCUPATIONS),)
        assert np.all((shares >= 0) & (shares <= 1))
    # the counted skews: she-leaning jobs above a half before, all near a half after
    assert r.data_before[4:].min() > 0.5 > r.data_before[:4].max()
    assert np.abs(r.data_after - 0.5).max() < 0.3


def test_weat_sets_are_disjoint_and_of_one_size():
    for sets in WEAT_TESTS.values():
        words = [w for s in sets for w in s]
        assert len(set(words)) == len(words) and {len(s) for s in sets} == {8}


try:
    MINILM = minilm_path()
except FileNotFoundError:
    MINILM = None


@pytest.mark.skipif(MINILM is None, reason="the MiniLM package is not installed")
def test_weat_on_minilm_gives_exact_p_values():
    from minifm.pretrained import load_bert

    results = weat_tests(*load_bert(MINILM))
    assert set(results) == set(WEAT_TESTS)
    for r in results.values():
        assert r.exact and r.n_partitions == 12870 and 0 <= r.p_value <= 1
        assert abs(r.effect_size) <= 2
