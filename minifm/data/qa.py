"""Extractive questions about the stories world, their encoding as answer spans, and SQuAD's
exact match and token F1 (Rajpurkar et al. 2016, "SQuAD: 100,000+ Questions for Machine
Comprehension of Text", section 6 and its official evaluation script).

Dimensions: B batch, T time (tokens), N words of a context.

A context is the day of two characters of ``minifm.data.stories``, told in the stories' own
sentences; a question asks about one of them, and its answer is a span of the context's words:

    context   tom wakes up early . it is rainy today . so he takes his umbrella . mia wakes up
              early . then she walks to the park . at the park she plays football .
    question  what does mia do at the park ?
    answer    plays football                         (words 32..33 of the context)

Since both characters do similar things, the question's name decides which span is right. The
model reads ``[CLS] question [SEP] context [SEP]`` (segments 0 and 1); the answer's start is the
first WordPiece of its first word, its end the last WordPiece of its last word.

    data = QAData({"train": qa_examples(400, seed=1), "val": qa_examples(200, seed=2)}, tok, 64)
    ids, segments, attention, starts, ends = data.get_batch("train", 16, rng)

Lesson: lessons/12_bert_at_work.md.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import NamedTuple, Sequence

import numpy as np

from minifm.data.ner import pad_rows, word_pieces
from minifm.data.stories import CHARACTERS, FOODS, OUTINGS, PETS, WEATHER
from minifm.tokenizers.wordpiece import WordPieceTokenizer

SPLITS = ("train", "val")
EPISODES = (2, 1)           # at most this many episodes in the first and the second day
MAX_WORDS = 45              # question + context words; a longer draw is drawn again, so that
                            # with [CLS], two [SEP] and the question words "what", "does",
                            # "where" in pieces it fits a 64-token BERT

class QAExample(NamedTuple):
    question: str
    context: list[str]          # the context's words (N)
    start: int                  # first word of the answer
    end: int                    # last word of the answer (inclusive)

    @property
    def answer(self) -> str:
        return " ".join(self.context[self.start:self.end + 1])


def _pick(rng: np.random.Generator, items: Sequence) -> object:
    items = list(items)
    return items[int(rng.integers(len(items)))]


def _day(rng: np.random.Generator, name: str, pron: str, poss: str, max_episodes: int
         ) -> tuple[list[list[str]], list[tuple[str, int, int, int]]]:
    """A character's sentences (lists of words) and questions about them: (question, sentence
    index, first answer word, last answer word) with word indices inside the sentence."""
    sentences = [f"{name} wakes up early .".split()]
    questions: list[tuple[str, int, int, int]] = []
    kinds = ("weather", "pet", "outing", "lunch")
    chosen = rng.choice(len(kinds), size=int(rng.integers(1, max_episodes + 1)), replace=False)
    for episode in [kinds[int(i)] for i in np.sort(chosen)]:
        k = len(sentences)
        if episode == "weather":
            weather = _pick(rng, WEATHER)
            sentences += [f"it is {weather} today .".split(),
                          f"so {pron} takes {poss} {WEATHER[weather]} .".split()]
            questions.append((f"what does {name} take ?", k + 1, 4, 4))
        elif episode == "pet":
            pet = _pick(rng, PETS)
            sentences += [f"{name} feeds {poss} {pet} .".split(),
                          f"the {pet} {PETS[pet]} .".split()]
            questions.append((f"what does {name} feed ?", k, 3, 3))
        elif episode == "outing":
            place = _pick(rng, OUTINGS)
            activity = OUTINGS[place].split()
            sentences += [f"then {pron} walks to the {place} .".split(),
                          f"at the {place} {pron}".split() + activity + ["."]]
            questions.append((f"where does {name} walk to ?", k, 4, 5))
            questions.append((f"what does {name} do at the {place} ?", k + 1, 4,
                              3 + len(activity)))
        else:
            food = _pick(rng, FOODS)
            sentences.append(f"for lunch {name} eats {food} .".split())
            questions.append((f"what does {name} eat for lunch ?", k, 4, 4))
    return sentences, questions


def qa_example(rng: np.random.Generator) -> QAExample:
    """One context (two different characters' days) and one question about it, together at
    most ``MAX_WORDS`` words."""
    while True:
        example = _draw(rng)
        if len(example.question.split()) + len(example.context) <= MAX_WORDS:
            return example


def _draw(rng: np.random.Generator) -> QAExample:
    first, second = rng.choice(len(CHARACTERS), size=2, replace=False)
    words: list[str] = []
    candidates: list[tuple[str, int, int]] = []
    for c, max_episodes in zip((first, second), EPISODES):
        sentences, questions = _day(rng, *CHARACTERS[int(c)], max_episodes)
        offsets = np.cumsum([len(words)] + [len(s) for s in sentences])
        words += [w for s in sentences for w in s]
        candidates += [(q, int(offsets[k]) + a, int(offsets[k]) + b) for q, k, a, b in questions]
    # a question both characters' days could answer the same way is fine: it names one of them
    question, start, end = candidates[int(rng.integers(len(candidates)))]
    return QAExample(question, words, start, end)


def qa_examples(n: int, seed: int = 0) -> list[QAExample]:
    """``n`` question-context-answer examples drawn with ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [qa_example(rng) for _ in range(n)]


# ---- encoding --------------------------------------------------------------------------------
def encode_qa(tokenizer: WordPieceTokenizer, question: str, context: Sequence[str],
              context_length: int, answer: tuple[int, int] | None = None
              ) -> tuple[list[int], list[int], list[int], tuple[int, int] | None]:
    """``[CLS] question [SEP] context [SEP]``: ids (T), segments (T), the context word of each
    token (-1 outside the context) and, given the answer's (first, last) word, its (start, end)
    token positions. Raises for an empty question or context, or an input longer than
    ``context_length`` (the model has no positions beyond it)."""
    if not context:
        raise ValueError("the context is empty: there is nothing to take an answer from")
    q = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(question))
    if not q:
        raise ValueError("the question is empty")
    pieces, owner = word_pieces(tokenizer, context)
    T = len(q) + len(pieces) + 3
    if T > context_length:
        raise ValueError(f"question and context are {T} tokens long with [CLS] and two [SEP] "
                         f"(the question alone {len(q)}); the model reads at most "
                         f"{context_length}: shorten them")
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids = [cls] + q + [sep] + pieces + [sep]
    segments = [0] * (len(q) + 2) + [1] * (len(pieces) + 1)
    word_of = [-1] * (len(q) + 2) + owner + [-1]
    span = None
    if answer is not None:
        first, last = answer
        if not 0 <= first <= last < len(context):
            raise ValueError(f"answer words ({first}, {last}) are not a span of the "
                             f"{len(context)}-word context")
        span = (word_of.index(first), len(word_of) - 1 - word_of[::-1].index(last))
    return ids, segments, word_of, span


def span_words(word_of: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """The context words (first, last) covered by the token span start..end."""
    return word_of[start], word_of[end]


class QAData:
    """QA examples per split, encoded once, as batches for ``BertForQuestionAnswering``."""

    def __init__(self, splits: dict[str, Sequence[QAExample]], tokenizer: WordPieceTokenizer,
                 context_length: int):
        if set(splits) != set(SPLITS):
            raise ValueError(f"QAData needs the splits {SPLITS}, got {sorted(splits)}")
        self.examples = {s: list(rows) for s, rows in splits.items()}
        self.arrays: dict[str, tuple[np.ndarray, ...]] = {}
        self.word_of: dict[str, list[list[int]]] = {}
        for split, rows in self.examples.items():
            if not rows:
                raise ValueError(f"split {split!r} has no examples")
            enc = [encode_qa(tokenizer, e.question, e.context, context_length, (e.start, e.end))
                   for e in rows]
            self.word_of[split] = [e[2] for e in enc]
            self.arrays[split] = (pad_rows([e[0] for e in enc], tokenizer.pad_token_id),
                                  pad_rows([e[1] for e in enc], 0),
                                  pad_rows([[1] * len(e[0]) for e in enc], 0),
                                  np.array([e[3][0] for e in enc], np.int64),
                                  np.array([e[3][1] for e in enc], np.int64))

    def rows(self, split: str, index: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(input_ids, token_type_ids, attention_mask) (B, T) and (start, end) (B,) of the given
        rows (default all), cropped to the longest of them."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        ids, segments, attention, starts, ends = self.arrays[split]
        index = np.arange(len(ids)) if index is None else index
        T = int(attention[index].sum(axis=1).max())
        return (ids[index, :T], segments[index, :T], attention[index, :T], starts[index],
                ends[index])

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, ...]:
        """``batch_size`` rows drawn with replacement (see ``rows``)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.rows(split, rng.integers(len(self.examples[split]), size=batch_size))


# ---- SQuAD's scores --------------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single
    spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the normalised words as bags (shared words counted with multiplicity); when either
    side has no words, 1.0 if both are empty, else 0.0 (SQuAD 2.0's rule)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """Mean exact match and mean token F1 over the questions (each in [0, 1])."""
    if len(predictions) != len(golds) or not golds:
        raise ValueError(f"need one prediction per gold answer, got {len(predictions)} and "
                         f"{len(golds)}")
    return {"exact_match": float(np.mean([exact_match(p, g) for p, g in zip(predictions, golds)])),
            "f1": float(np.mean([token_f1(p, g) for p, g in zip(predictions, golds)]))}
