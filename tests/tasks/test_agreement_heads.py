"""The agreement-heads measurement on a tiny random GPT: shapes, and each number re-derived."""

from __future__ import annotations

import numpy as np

from minifm.analysis.agreement import agreement_pairs, verb_agreement_accuracy
from minifm.analysis.heads import ablate_heads
from minifm.data.corpora import grammar_corpus
from minifm.models.gpt import GPT, GPTConfig
from minifm.tasks.agreement_heads import agreement_heads, held_out_windows
from minifm.tokenizers import CharTokenizer


def test_agreement_heads_report_matches_direct_ablation(rng):
    tokenizer = CharTokenizer.train(grammar_corpus(200))
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=48, n_layer=2,
                          n_head=2, n_embd=16), rng=rng)
    report = agreement_heads(model, tokenizer, n_pairs=30, seed=7)
    assert report.drops.shape == report.attractor_drops.shape == report.loss_rise.shape == (2, 2)
    attracted = agreement_pairs(30, 8, attractors_only=True)
    assert report.attractor_accuracy == verb_agreement_accuracy(model, tokenizer, attracted)
    with ablate_heads(model, [(1, 0)]):
        ablated = verb_agreement_accuracy(model, tokenizer, attracted)
        x, y = held_out_windows(tokenizer, 48)
        with model.evaluating():
            ablated_loss = model(x, y)[1]
    assert report.attractor_drops[1, 0] == report.attractor_accuracy - ablated
    assert np.isclose(report.loss_rise[1, 0], ablated_loss - report.loss, atol=1e-12)
    assert report.loss > np.log(tokenizer.vocab_size) - 0.5   # an untrained model: near uniform


def test_held_out_windows_are_next_token_pairs():
    tokenizer = CharTokenizer.train(grammar_corpus(200))
    x, y = held_out_windows(tokenizer, 16, n_windows=5)
    assert x.shape == y.shape == (5, 16)
    assert np.array_equal(x.ravel()[1:], y.ravel()[:-1])
