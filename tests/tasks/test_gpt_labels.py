"""minifm/tasks/gpt_labels.py: labelled lines whose one target is the label, their accuracy and
chance, and the errors for a tokenizer or context that cannot hold the task."""

import contextlib

import numpy as np
import pytest

from minifm.data.corpora import agreement_corpus
from minifm.functional.losses import IGNORE_INDEX
from minifm.tasks.gpt_labels import LabelledLines, agreement_task, label_accuracy, label_chance
from minifm.tokenizers import CharTokenizer

TOKENIZER = CharTokenizer.train(agreement_corpus(200, seed=0) + " yes no")
EXAMPLES = {"train": [("the cat sleeps.", "yes"), ("the cats sleeps.", "no"),
                      ("a dog runs.", "yes")],
            "val": [("the dogs run.", "yes"), ("the dog run.", "no"), ("a cat naps.", "yes")]}


class Stub:
    """A "model" whose logits put all mass on ``answer(x)`` at every position."""

    def __init__(self, answer):
        self.answer = answer

    def evaluating(self):
        return contextlib.nullcontext()

    def __call__(self, x):
        logits = np.zeros((*x.shape, TOKENIZER.vocab_size))
        logits[..., self.answer(x)] = 1.0
        return logits, None


def test_each_row_has_one_target_the_first_token_of_its_label():
    data = LabelledLines(TOKENIZER, EXAMPLES, context_length=64)
    x, y = data.batch("train", np.arange(3))
    assert x.shape == y.shape == (3, len("the cats sleeps. no") - 1)
    assert ((y != IGNORE_INDEX).sum(axis=1) == 1).all()
    for row, (text, label) in zip(range(3), EXAMPLES["train"]):
        at = int((y[row] != IGNORE_INDEX).argmax())
        assert TOKENIZER.decode(x[row, :at + 1].tolist()) == text + " "     # sees text + space
        assert TOKENIZER.decode([int(y[row, at])]) == label[0]
    assert x[2, len("a dog runs. yes") - 1:].tolist() == [0] * 4            # right padding


def test_accuracy_and_chance_of_labelled_lines():
    data = LabelledLines(TOKENIZER, EXAMPLES, context_length=64)
    yes = TOKENIZER.encode("y")[0]
    assert label_accuracy(Stub(lambda x: yes), data) == pytest.approx(2 / 3)   # always "yes"
    assert label_chance(data) == pytest.approx(2 / 3)                       # the commoner label
    no = TOKENIZER.encode("n")[0]
    assert label_accuracy(Stub(lambda x: no), data, "train") == pytest.approx(1 / 3)


def test_rows_longer_than_the_context_are_left_out_and_none_fitting_is_an_error():
    data = LabelledLines(TOKENIZER, EXAMPLES, context_length=len("a dog runs. yes") - 1)
    assert len(data) == 1 and len(data.rows["val"]) == 2     # 15 characters each, at most
    with pytest.raises(ValueError, match="no train example fits the context of 5 tokens"):
        LabelledLines(TOKENIZER, EXAMPLES, context_length=5)


def test_a_tokenizer_without_the_tasks_characters_is_refused():
    with pytest.raises(ValueError, match="pre-trained tokenizer's vocabulary"):
        agreement_task(CharTokenizer.train("abc "), 64)
