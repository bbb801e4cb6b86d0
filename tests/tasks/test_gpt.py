"""minifm/tasks/gpt.py: corpora, tokenizers, model sizes, generation and the judged scores."""

import numpy as np
import pytest

from minifm.data.corpora import grammar_corpus
from minifm.models.gpt import GPT, GPTConfig
from minifm.tasks.gpt import (CORPORA, build_tokenizer, chance, complete, corpus_score,
                              corpus_text, grammaticality, model_config, new_model,
                              pretrained_data, start_prompt)
from minifm.tokenizers import CharTokenizer


@pytest.fixture(scope="module")
def tiny():
    """An untrained 1-layer GPT on the grammar corpus's characters, and its tokenizer."""
    tokenizer = CharTokenizer.train(grammar_corpus(50, seed=0) + "0123456789+=")
    config = GPTConfig(vocab_size=tokenizer.vocab_size, context_length=16, n_layer=1,
                       n_embd=16, n_head=2)
    return GPT(config, rng=np.random.default_rng(0)), tokenizer


class AddingMachine:
    """Stands in for a GPT that has learned to add: greedy "generation" of the sum of the
    prompt ``a+b=``, then newlines; any other prompt is continued with newlines."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, idx, max_new_tokens, temperature, top_k, top_p, rng=None):
        rows = []
        for ids in idx:
            prompt = self.tokenizer.decode(ids.tolist())
            a, b = prompt.removesuffix("=").split("+")
            answer = (str(int(a) + int(b)) + "\n" * max_new_tokens)[:max_new_tokens]
            rows.append(ids.tolist() + self.tokenizer.encode(answer))
        return np.array(rows)


def test_every_corpus_has_its_text_and_unknown_ones_are_refused():
    for name in CORPORA:
        assert len(corpus_text(name)) > 10_000, name
    assert corpus_text("grammar") == corpus_text("grammar")          # fixed, whatever the run
    assert "+" in corpus_text("arithmetic", digits=1)
    with pytest.raises(ValueError, match="unknown corpus 'poetry'"):
        corpus_text("poetry")


def test_build_tokenizer_char_and_bpe():
    text = "the quick brown fox jumps over the lazy dog. " * 20
    assert build_tokenizer("char", text).vocab_size == len(set(text))
    assert build_tokenizer("bpe", text, 260).vocab_size == 260
    with pytest.raises(ValueError, match="--vocab-size applies to --tokenizer bpe"):
        build_tokenizer("char", text, 300)
    with pytest.raises(ValueError, match="choose char or bpe"):
        build_tokenizer("wordpiece", text)


def test_model_config_applies_the_overrides_given_and_refuses_huge_presets():
    config = model_config("classroom", 30, n_layer=3, n_head=None, context_length=64)
    assert (config.vocab_size, config.n_layer, config.context_length) == (30, 3, 64)
    assert config.n_head == GPTConfig().n_head                       # None keeps the preset's
    with pytest.raises(ValueError, match="for counting"):
        model_config("gpt3-175b", 50257)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        model_config("huge", 30)


def test_new_model_draws_from_the_init_stream():
    """The ``init`` stream is [seed, 2], as before named streams: runs stay reproducible."""
    config = GPTConfig(vocab_size=11, context_length=8, n_layer=1, n_embd=8)
    a, b = new_model(config, 5), GPT(config, rng=np.random.default_rng([5, 2]))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(p.data, q.data), name
    assert not np.array_equal(new_model(config, 6).wte.weight.data, a.wte.weight.data)


def test_complete_batches_prompts_of_any_length_like_one_at_a_time(tiny):
    model, tokenizer = tiny
    prompts = ["the cat ", "a dog", "the cat ", "every bird that "]
    together = complete(model, tokenizer, prompts, 8, stop=None)
    alone = [complete(model, tokenizer, [p], 8, stop=None)[0] for p in prompts]
    assert together == alone and all(len(t) == 8 for t in together)
    assert together[0] == together[2]                                 # greedy: same prompt
    cut = complete(model, tokenizer, prompts, 8, stop="e")
    assert cut == [t.split("e")[0] for t in together]


def test_start_prompt_is_a_newline_or_the_first_token():
    assert start_prompt(CharTokenizer.train("ab\nc")) == "\n"
    assert start_prompt(CharTokenizer.train("cab")) == "a"           # sorted characters


def test_grammaticality_counts_complete_sentences_only():
    texts = ["the cat sleeps. the cat sleep. the dog", "two dogs run. dogs"]
    assert grammaticality(texts) == (2 / 3, 3)
    assert grammaticality(["no period"]) == (0.0, 0)


def test_chance_of_a_guess_on_each_corpus():
    assert chance("agreement") == 0.5                                 # yes or no, half each
    assert chance("arithmetic", digits=2) == 1 / 199                  # sums 0 .. 198
    assert chance("grammar") is None
    with pytest.raises(ValueError, match="unknown corpus"):
        chance("poetry")


def test_corpus_score_judges_a_model_that_adds_correctly_as_perfect(tiny):
    _, tokenizer = tiny
    score = corpus_score("arithmetic", AddingMachine(tokenizer), tokenizer, n=20, digits=2)
    assert score == ("exact-match accuracy", 1.0, 1 / 199)


def test_corpus_score_of_an_untrained_model_on_every_corpus(tiny):
    model, tokenizer = tiny
    for corpus in CORPORA:
        score = corpus_score(corpus, model, tokenizer, n=10, digits=1)
        assert 0.0 <= score.value <= 1.0 and score.chance == chance(corpus, digits=1), corpus
    assert corpus_score("agreement", model, tokenizer, n=10).value == 0.0   # never says yes/no


def test_pretrained_data_names_the_vocabulary_it_needs():
    tokenizer = CharTokenizer.train("abc ")
    data = pretrained_data("abc cab " * 10, tokenizer, context_length=4)
    assert data.context_length == 4 and len(data) == 80
    with pytest.raises(ValueError, match="pre-trained tokenizer's vocabulary"):
        pretrained_data("abd", tokenizer, context_length=1)
