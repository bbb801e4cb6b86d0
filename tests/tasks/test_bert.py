"""minifm.tasks.bert: model sizes, filling in blanks, the probes, accuracies in eval mode, the
classifier's seeded start, and transfer learning: pre-training beats training from scratch."""

import dataclasses

import numpy as np
import pytest

from minifm.models.bert import BertConfig, BertForPreTraining
from minifm.tasks.bert import (FINETUNE_DEFAULTS, PROBES, accuracy, check_fits, classifier,
                               fill_mask, measure_transfer, model_config, pretrain,
                               pretraining_accuracy, probe_lines, sentiment_data, story_data)
from minifm.training.trainer import TrainConfig

TINY = {"n_layer": 1, "n_embd": 16, "n_head": 2, "n_inner": 32}
STEPS = TrainConfig(steps=20, batch_size=4, eval_interval=10, eval_batches=2, warmup_steps=5)


@pytest.fixture(scope="module")
def pretrained():
    """A tiny BERT pre-trained for 20 steps on 60 stories: (model, tokenizer, data)."""
    return pretrain(STEPS, n_documents=60, **TINY)


def test_pretrain_trains_the_given_size_and_leaves_it_in_train_mode(pretrained):
    model, tokenizer, data = pretrained
    assert isinstance(model, BertForPreTraining) and model.training
    assert (model.config.n_layer, model.config.n_embd) == (1, 16)
    assert model.config.vocab_size == tokenizer.vocab_size and data.tokenizer is tokenizer


def test_fill_mask_probabilities_are_sorted_and_sum_below_one(pretrained):
    model, tokenizer, _ = pretrained
    guesses = fill_mask(model, tokenizer, "the cat [MASK] .", top_k=5)
    probs = [p for _, p in guesses[0]]
    assert len(guesses) == 1 and probs == sorted(probs, reverse=True) and sum(probs) <= 1
    two = fill_mask(model, tokenizer, "the [MASK] barks .", "tom feeds his [MASK] .", top_k=2)
    assert len(two) == 2 and all(len(g) == 2 for g in two)


def test_fill_mask_is_deterministic_and_restores_train_mode():
    """Dropout is off while guessing (eval mode), and the model's mode is put back."""
    tokenizer, _ = story_data(60)
    model = BertForPreTraining(model_config("classroom", tokenizer.vocab_size, dropout=0.5,
                                            **TINY), rng=np.random.default_rng(0))
    first = fill_mask(model, tokenizer, "the cat [MASK] .")
    assert model.training and fill_mask(model, tokenizer, "the cat [MASK] .") == first
    model.eval()
    fill_mask(model, tokenizer, "the cat [MASK] .")
    assert not model.training


def test_probe_lines_show_each_probe_with_its_top_guess(pretrained):
    model, tokenizer, _ = pretrained
    tops, lines = probe_lines(model, tokenizer)
    assert len(tops) == len(lines) == len(PROBES)
    for (a, b, rule), top, line in zip(PROBES, tops, lines):
        assert fill_mask(model, tokenizer, a, b)[0][0][0] == top
        assert line.startswith(f"  {a} {b}") and f"[{rule}]: {top} " in line


def test_pretraining_accuracy_is_a_share_and_keeps_the_mode(pretrained):
    model, _, data = pretrained
    acc = pretraining_accuracy(model, data)
    assert set(acc) == {"mlm_accuracy", "nsp_accuracy"}
    assert all(0 <= v <= 1 for v in acc.values()) and model.training
    assert pretraining_accuracy(model, data) == acc                # the same fresh pairs


def test_classifier_copies_the_encoder_or_starts_from_seeded_random_weights(pretrained):
    model, _, _ = pretrained
    copied = classifier(model.config, model.bert, 3, seed=0)
    assert copied.config.n_classes == 3
    for name, value in model.bert.state_dict().items():
        np.testing.assert_array_equal(copied.bert.state_dict()[name], value)
    a, b = classifier(model.config, None, 2, seed=4), classifier(model.config, None, 2, seed=4)
    np.testing.assert_array_equal(a.classifier.weight.data, b.classifier.weight.data)
    other = classifier(model.config, None, 2, seed=5)
    assert not np.array_equal(a.classifier.weight.data, other.classifier.weight.data)


def test_accuracy_is_the_share_of_argmax_labels(pretrained):
    model, tokenizer, _ = pretrained
    data = sentiment_data(tokenizer, 8, 20, model.config.context_length)
    clf = classifier(model.config, model.bert, 2, seed=0)
    *inputs, labels = data.rows("val")
    with clf.evaluating():
        expected = np.mean(clf(*inputs)[0].argmax(-1) == labels)
    assert accuracy(clf, data, "val") == expected and clf.training


def test_measure_transfer_reports_both_starts_per_seed(pretrained):
    model, tokenizer, _ = pretrained
    config = dataclasses.replace(FINETUNE_DEFAULTS, steps=3, batch_size=4)
    result = measure_transfer(model.bert, tokenizer, seeds=(0, 1), n_labelled=4,
                              train_config=config, n_held_out=10)
    assert len(result["pretrained"]) == len(result["scratch"]) == 2
    assert result["margin"] == pytest.approx(result["pretrained_mean"] - result["scratch_mean"])
    assert (result["seeds"], result["n_labelled"], result["steps"]) == ([0, 1], 4, 3)


def test_model_config_fill_mask_and_check_fits_reject_bad_input(pretrained):
    with pytest.raises(ValueError, match="unknown preset 'tiny'"):
        model_config("tiny", 100)
    with pytest.raises(ValueError, match="too large to train here"):
        model_config("bert-large", 100, n_layer=400)
    model, tokenizer, data = pretrained
    with pytest.raises(ValueError, match="this model reads at most 64"):
        fill_mask(model, tokenizer, "the [MASK] . " + "tom eats pie . " * 20)
    with pytest.raises(ValueError, match="no \\[MASK\\] token in 'a cat .' / 'b .'"):
        fill_mask(model, tokenizer, "a cat .", "b .")
    check_fits(data, model.config)                                 # the stories fit 64
    short = BertConfig(vocab_size=tokenizer.vocab_size, context_length=data.longest_pair - 1)
    with pytest.raises(ValueError, match=f"longest sentence pair has {data.longest_pair} tokens "
                                         f"but context_length is {data.longest_pair - 1}"):
        check_fits(data, short)


@pytest.mark.slow
def test_pretraining_transfers_to_adjectives_no_labelled_sentence_has():
    """``minifm train bert`` then ``finetune-bert --compare`` with their defaults (classroom
    BERT, 3000 pre-training steps; 32 labelled sentences, 150 fine-tuning steps), three seeds.
    About 80 s of CPU time on one core."""
    model, tokenizer, data = pretrain()
    assert pretraining_accuracy(model, data)["mlm_accuracy"] > 0.7
    result = measure_transfer(model.bert, tokenizer, seeds=(0, 1, 2))
    # from scratch, a held-out adjective is an untrained embedding: chance, give or take
    assert result["scratch_mean"] < 0.65
    assert result["pretrained_mean"] > result["scratch_mean"] + 0.2
