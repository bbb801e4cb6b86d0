"""Minimal pairs from the grammar, and continuation log-probabilities checked by brute force."""

from __future__ import annotations

import numpy as np
import pytest

from minifm.analysis.agreement import (agreement_pairs, continuation_logprobs,
                                       pair_from_sentence, verb_agreement_accuracy)
from minifm.data.corpora import grammar_corpus, grammar_sentence, parse_sentence
from minifm.models.gpt import GPT, GPTConfig
from minifm.tokenizers import CharTokenizer

TOKENIZER = CharTokenizer.train(grammar_corpus(200))


def _model(rng, context_length=48) -> GPT:
    config = GPTConfig(vocab_size=TOKENIZER.vocab_size, context_length=context_length,
                       n_layer=2, n_head=2, n_embd=16)
    return GPT(config, rng=rng, dtype=np.float64)


def test_pair_of_a_sentence_with_an_attractor():
    pair = pair_from_sentence("the small cat that chases two mice sleeps.")
    assert pair.prompt == "\nthe small cat that chases two mice"
    assert (pair.right, pair.wrong, pair.attractor) == (" sleeps.", " sleep.", True)


def test_pairs_without_an_attractor():
    assert pair_from_sentence("the dogs run.") == pair_from_sentence("the dogs run.")
    pair = pair_from_sentence("a cat sees two dogs.")      # the plural noun comes after the verb
    assert (pair.prompt, pair.right, pair.wrong, pair.attractor) == \
        ("\na cat", " sees ", " see ", False)
    assert pair_from_sentence("these dogs that see a bird run.").attractor
    with pytest.raises(ValueError, match="not a sentence of the grammar"):
        pair_from_sentence("sleeps the cat.")


def test_right_continuations_agree_and_wrong_ones_do_not():
    rng = np.random.default_rng(3)
    for _ in range(200):
        sentence = grammar_sentence(rng)
        pair = pair_from_sentence(sentence)
        line = "\n" + sentence
        assert line.startswith(pair.prompt + pair.right)    # the sentence as it was written
        rest = line[len(pair.prompt + pair.right):]
        wrong = pair.prompt + pair.wrong + rest              # the main verb in the other number
        assert parse_sentence(wrong.strip()) == (True, False)
    assert all(p.attractor for p in agreement_pairs(30, seed=3, attractors_only=True))


def test_logprobs_match_one_sequence_at_a_time(rng):
    model = _model(rng)
    prompts = ["\nthe cat", "\ntwo dogs that see a bird", "\na"]
    conts = [" sleeps.", " run.", " fox"]
    batched = continuation_logprobs(model, TOKENIZER, prompts, conts, batch_size=2)
    for prompt, cont, got in zip(prompts, conts, batched):
        p, c = TOKENIZER.encode(prompt), TOKENIZER.encode(cont)
        ids = np.array([p + c])
        logits = model(ids)[0][0]                                   # (T, V)
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        expected = sum(logp[len(p) - 1 + i, tok] for i, tok in enumerate(c))
        assert got == pytest.approx(expected, abs=1e-10)


def test_long_prompts_keep_their_last_context_tokens(rng):
    model = _model(rng, context_length=12)
    long_prompt = "\nthe small cat that chases two mice"
    kept = TOKENIZER.decode(TOKENIZER.encode(long_prompt + " runs.")[-12:-len(" runs.")])
    assert np.allclose(continuation_logprobs(model, TOKENIZER, [long_prompt], [" runs."]),
                       continuation_logprobs(model, TOKENIZER, [kept], [" runs."]), atol=1e-12)
    with pytest.raises(ValueError, match="needs 1 to 11"):
        continuation_logprobs(model, TOKENIZER, ["\na"], [" cat that chases a dog"])


def test_accuracy_of_swapped_pairs_is_the_complement(rng):
    model = _model(rng)
    pairs = agreement_pairs(40, seed=5)
    swapped = [type(p)(p.prompt, p.wrong, p.right, p.attractor) for p in pairs]
    accuracy = verb_agreement_accuracy(model, TOKENIZER, pairs)
    assert 0.0 < accuracy < 1.0                             # a random model: some of each
    assert verb_agreement_accuracy(model, TOKENIZER, swapped) == pytest.approx(1 - accuracy)
