"""The assistant world's splits, its tokenizer, and conversations as (tokens, response mask) rows.

Lesson: "From GPT to assistant" (issue 12). Dimension letters: N conversations, B batch,
L row length (prompt + response; a GPT reads L - 1 of them, so L - 1 <= its context length).

    tok = world_tokenizer()                                   # one word-level vocabulary, V = 248
    train = examples("train", 200, rng)                       # 200 per task, no held-out part
    data = ChatData(train, tok, context_length=64)
    tokens, mask = data.get_batch(16, rng)                    # (16, L) ids, (16, L) bool

Splits: "train" and "seen" draw from the same distribution (every example without a held-out
part; "seen" is for evaluating on the training distribution, with its own generator) and
"heldout" only examples with at least one held-out part (a held-out name, word combination or
task/entity pair; each task module says which). Examples are drawn and kept or thrown back by
that rule (rejection sampling), so the held-out parts never reach the training split.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from minifm.data.assistant import codegen, harmless, qa, summary, translation
from minifm.data.assistant.chat import MARKERS, encode_conversation, encode_prompt
from minifm.data.assistant.example import TASKS, Example
from minifm.tokenizers.word import WordTokenizer

SPLITS = ("train", "seen", "heldout")
GENERATORS = {qa.TASK: qa.generate, translation.TASK: translation.generate,
              codegen.TASK: codegen.generate, summary.TASK: summary.generate,
              harmless.TASK: harmless.generate}
MAX_TRIES = 1000          # draws per kept example before giving up (the rarest part is ~5 %)


def world_tokenizer() -> WordTokenizer:
    """The world's word-level tokenizer: the chat markers, then every word of every task
    (held-out names included, so a held-out example never needs [UNK]) in sorted order."""
    vocab = set().union(*(m.WORDS for m in (qa, translation, codegen, summary, harmless)))
    return WordTokenizer(list(MARKERS) + sorted(vocab))


def examples(split: str, n_per_task: int, rng: np.random.Generator,
             tasks: Sequence[str] = TASKS) -> list[Example]:
    """``n_per_task`` examples of each task in ``tasks`` for ``split``, task by task in turn."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    unknown = [t for t in tasks if t not in GENERATORS]
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty list of {TASKS}, got {list(tasks)}")
    if isinstance(n_per_task, bool) or not isinstance(n_per_task, int) or n_per_task < 1:
        raise ValueError(f"n_per_task must be a positive int, got {n_per_task!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator, got {type(rng).__name__}")
    want_held_out = split == "heldout"
    out = []
    for _ in range(n_per_task):
        for task in tasks:
            for _ in range(MAX_TRIES):
                example = GENERATORS[task](rng)
                if bool(example.held_out) == want_held_out:
                    out.append(example)
                    break
            else:  # pragma: no cover - every task's held-out parts are common enough
                raise RuntimeError(f"no {split} example of task {task} in {MAX_TRIES} draws")
    return out


class ChatData:
    """Conversations as right-padded token rows and their response masks, served in batches."""

    def __init__(self, examples: Sequence[Example], tokenizer: WordTokenizer,
                 context_length: int):
        """examples: the conversations; context_length: the GPT's, so every row must hold at
        most ``context_length + 1`` tokens (the model reads all but the last)."""
        if not examples:
            raise ValueError("ChatData needs at least one example")
        rows = [encode_conversation(tokenizer, e.message, e.response) for e in examples]
        lengths = np.array([len(ids) for ids, _ in rows])
        if lengths.max() > context_length + 1:
            i = int(lengths.argmax())
            raise ValueError(f"a {examples[i].task} conversation has {lengths[i]} tokens, more "
                             f"than context_length + 1 = {context_length + 1}; use a longer "
                             "context")
        N, L = len(rows), int(lengths.max())
        self.examples, self.tokenizer, self.lengths = list(examples), tokenizer, lengths
        self.tokens = np.full((N, L), tokenizer.pad_id, dtype=np.int64)   # (N, L)
        self.mask = np.zeros((N, L), dtype=bool)                          # (N, L)
        for i, (ids, mask) in enumerate(rows):
            self.tokens[i, :len(ids)] = ids
            self.mask[i, :len(ids)] = mask

    def __len__(self) -> int:
        return len(self.examples)

    def get_batch(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``batch_size`` random rows (with replacement): tokens (B, L) int64 and their response
        mask (B, L) bool, cut to the longest row in the batch."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        rows = rng.integers(len(self), size=batch_size)
        L = int(self.lengths[rows].max())
        return self.tokens[rows, :L], self.mask[rows, :L]                # (B, L) each

    def prompt_ids(self) -> list[list[int]]:
        """Each example's prompt ids (up to ``<|assistant|>``), to generate answers from."""
        return [encode_prompt(self.tokenizer, e.message) for e in self.examples]


class LengthStats(NamedTuple):
    """Token counts of one task's conversations."""

    prompt_mean: float
    prompt_max: int
    total_mean: float            # prompt + response + <|end|>
    total_max: int


def length_stats(examples: Sequence[Example], tokenizer: WordTokenizer) -> dict[str, LengthStats]:
    """Per task and ``"overall"``: mean and longest prompt and whole conversation, in tokens."""
    prompts = [len(encode_prompt(tokenizer, e.message)) for e in examples]
    totals = [len(encode_conversation(tokenizer, e.message, e.response)[0]) for e in examples]
    groups = {t: [i for i, e in enumerate(examples) if e.task == t] for t in TASKS}
    groups["overall"] = list(range(len(examples)))
    return {t: LengthStats(float(np.mean([prompts[i] for i in idx])), max(prompts[i] for i in idx),
                           float(np.mean([totals[i] for i in idx])), max(totals[i] for i in idx))
            for t, idx in groups.items() if idx}
