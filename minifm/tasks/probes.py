"""What a BERT pre-trained on the grammar corpus holds at each layer, read by linear probes with
the control task of Hewitt & Liang (2019): each word's part of speech, each noun's number, and
at each determiner and adjective the number of the noun ahead.

Dimensions: B batch (sentences), T time, C width, L layers; N word positions probed.

    model, tokenizer = pretrain_grammar_bert(ProbeSetting())
    reports = probe_grammar_bert(model, tokenizer, ProbeSetting())
    reports["part of speech"][l].task_accuracy, .control_accuracy    # l = 0 (embeddings) .. L

Part of speech and noun number are properties of the word type, so even the embeddings (layer
0) can carry them: the control task, a random label per word type, shows how much of a probe's
accuracy a probe of this size gets from memorising types. The number of the noun that a
determiner or adjective comes before is in some of those words ("two", "a") but not in others
("the cat" / "the cats", "big"): only context can give it there, so the embeddings fall short
where the layers above need not. Selectivity (task minus control) is the number to compare
across layers. Train and test positions come from disjoint sentences.
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from minifm.analysis.probes import ProbeReport, probe_layers
from minifm.analysis.states import bert_layer_states
from minifm.data.bert_data import PretrainingData
from minifm.data.corpora import (ADJECTIVES, DETERMINERS, INTRANSITIVE, NOUNS, PL, SG,
                                 TRANSITIVE, grammar_corpus)
from minifm.data.occupations import documents
from minifm.models.bert import BertConfig, BertForPreTraining
from minifm.tokenizers.wordpiece import WordPieceTokenizer
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer

PRETRAIN_SEED, PROBE_SEED = 44, 45       # the BERT's training text; the probed sentences
PARTS_OF_SPEECH = ("determiner", "adjective", "noun", "verb", "that", "period")
NUMBERS = (SG, PL)
# property -> number of classes. "number ahead" is, at each determiner and adjective, the number
# of the noun they come before: "two" and "a" tell it, "the" and every adjective do not
PROPERTIES = {"part of speech": len(PARTS_OF_SPEECH), "noun number": len(NUMBERS),
              "number ahead": len(NUMBERS)}
_BEFORE_NOUN = (PARTS_OF_SPEECH.index("determiner"), PARTS_OF_SPEECH.index("adjective"))


@dataclass(frozen=True)
class ProbeSetting:
    """The BERT, its pre-training, and how many fresh sentences the probes see."""

    bert: BertConfig = BertConfig(context_length=40, n_layer=2, n_head=2, n_embd=48,
                                  n_inner=192)
    pretrain: TrainConfig = TrainConfig(steps=600, batch_size=16, lr=3e-3, min_lr=3e-4,
                                        warmup_steps=30, eval_interval=600, eval_batches=2)
    n_pretrain_sentences: int = 3000
    n_train_sentences: int = 300
    n_test_sentences: int = 200
    probe_steps: int = 300
    seed: int = 0                # the control task's labels


SETTINGS = {"classroom": ProbeSetting(),
            "tiny": ProbeSetting(n_pretrain_sentences=60,
                                 pretrain=TrainConfig(steps=3, batch_size=4, eval_interval=3,
                                                      eval_batches=1),
                                 n_train_sentences=30, n_test_sentences=20, probe_steps=30)}


def word_labels(word: str) -> tuple[int, int | None]:
    """(part-of-speech index, noun-number index or None) of one word of the grammar."""
    if word in [d for ds in DETERMINERS.values() for d in ds]:
        return PARTS_OF_SPEECH.index("determiner"), None
    if word in ADJECTIVES:
        return PARTS_OF_SPEECH.index("adjective"), None
    for pair in NOUNS:
        if word in pair:
            return PARTS_OF_SPEECH.index("noun"), pair.index(word)
    if any(word in pair for pair in INTRANSITIVE + TRANSITIVE):
        return PARTS_OF_SPEECH.index("verb"), None
    if word in ("that", "."):
        return PARTS_OF_SPEECH.index("that" if word == "that" else "period"), None
    raise ValueError(f"{word!r} is not a word of the grammar corpus")


def pretrain_grammar_bert(setting: ProbeSetting
                          ) -> tuple[BertForPreTraining, WordPieceTokenizer]:
    """A BERT pre-trained (masked LM and next sentence) on grammar sentences, in documents of
    three, with a word-level WordPiece vocabulary (every word of the grammar is one token)."""
    sentences = grammar_corpus(setting.n_pretrain_sentences, seed=PRETRAIN_SEED).splitlines()
    tokenizer = WordPieceTokenizer.train(sentences, 128)
    model = BertForPreTraining(replace(setting.bert, vocab_size=tokenizer.vocab_size),
                               rng=stream(setting.pretrain.seed, "init"))
    Trainer(model, PretrainingData(documents(sentences), tokenizer), setting.pretrain,
            quiet=True).run()
    return model, tokenizer


def sentence_states(model: BertForPreTraining, tokenizer: WordPieceTokenizer,
                    sentences: list[str]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Each word position of ``sentences`` read at every layer: states (L + 1, N, C), word ids
    (N,), and the labels of each property in ``PROPERTIES``, (N,) each, -1 where the property
    does not apply."""
    enc = tokenizer.batch_encode(sentences)
    states = bert_layer_states(model.bert, enc["input_ids"], enc["token_type_ids"],
                               enc["attention_mask"])                  # (L + 1, B, T, C)
    special = np.isin(enc["input_ids"], [tokenizer.cls_token_id, tokenizer.sep_token_id,
                                         tokenizer.pad_token_id])
    labels: dict[str, list[int]] = {name: [] for name in PROPERTIES}
    for row, keep in zip(enc["input_ids"], ~special):
        words = [tokenizer.vocab[i] for i in row[keep]]
        tags = [word_labels(w) for w in words]
        for t, (pos, number) in enumerate(tags):
            labels["part of speech"].append(pos)
            labels["noun number"].append(-1 if number is None else number)
            # the next noun's number; a BERT reads both ways, so context can tell it
            ahead = next(n for _, n in tags[t:] if n is not None) if pos in _BEFORE_NOUN else -1
            labels["number ahead"].append(ahead)
    where = np.nonzero(~special)                                         # N word positions
    return (states[:, where[0], where[1]], enc["input_ids"][where],   # (L+1, B, T, C) -> (L+1, N, C)
            {name: np.array(v, dtype=np.int64) for name, v in labels.items()})


def probe_grammar_bert(model: BertForPreTraining, tokenizer: WordPieceTokenizer,
                       setting: ProbeSetting) -> dict[str, list[ProbeReport]]:
    """A probe of every property in ``PROPERTIES`` at every layer, each with its control task,
    on fresh sentences (train and test disjoint)."""
    sentences = grammar_corpus(setting.n_train_sentences + setting.n_test_sentences,
                               seed=PROBE_SEED).splitlines()
    train_h, train_words, train_labels = sentence_states(
        model, tokenizer, sentences[:setting.n_train_sentences])
    test_h, test_words, test_labels = sentence_states(
        model, tokenizer, sentences[setting.n_train_sentences:])
    rng = stream(setting.seed, "probe_control")
    reports = {}
    for name, n_classes in PROPERTIES.items():
        a, b = train_labels[name] >= 0, test_labels[name] >= 0          # where it applies
        reports[name] = probe_layers(list(train_h[:, a]), train_words[a], train_labels[name][a],
                                     list(test_h[:, b]), test_words[b], test_labels[name][b],
                                     n_classes, rng=rng, steps=setting.probe_steps)
    return reports
