"""The assistant stages on a GPT: pre-training on the world's text, supervised fine-tuning on
its conversations (the response-only loss), greedy answers and the judges' scores.

Lesson: "From GPT to assistant" (issue 12). Dimension letters: B batch, T time (positions),
V vocabulary, L conversation row length (L - 1 <= the context length).

    tokenizer = world_tokenizer()                             # the world's words and markers
    base = new_model(model_config(tokenizer), seed=1337)
    pretrain(base, tokenizer)                                 # plain text, no chat format
    sft(base, tokenizer)                                      # responses only, the same model
    answer(base, tokenizer, ["<|user|> add 2 and 3 <|assistant|>"])   # e.g. ["2 + 3"]
    evaluate(base, tokenizer, "heldout")                      # {"qa": TaskScore, ..., "overall"}

Pre-training text (what the base model knows before it sees a conversation): every message and
every reference answer of ``PRETRAIN_PER_TASK`` training examples per task, each on a line of
its own (``[BOS] words [EOS]``), the lines shuffled so that no answer follows its request. The
base model thus reads the contexts, the stories, English and Zin sentences, the requests for
programs and Sum programs, and the refusal sentence, but never a request followed by its answer
and never a chat marker: what it must learn in fine-tuning is the format and the mapping. Like
fine-tuning's examples, the text has no held-out part (no held-out name, pair or phrasing).

Every data set here (pre-training lines, fine-tuning conversations, validation rows, the
evaluation prompts) is drawn from ``WORLD_SEED``'s named streams, so every run sees the same
world; a run's own seed sets only its initial weights and its batches.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from minifm.data.assistant import (SPLITS, TASKS, ChatData, Example, TaskScore, aggregate,
                                   answer_of, examples, parse_prompt, render_prompt,
                                   world_tokenizer)
from minifm.data.assistant.chat import marker_ids
from minifm.data.text import TokenData
from minifm.functional.sequence_logprob import response_targets
from minifm.models.gpt import GPT, GPTConfig
from minifm.tasks.gpt import load_pretrained
from minifm.tokenizers.word import WordTokenizer
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer

WORLD_SEED = 0                   # the world's data are the same whatever the run's seed
CONTEXT_LENGTH = 48              # the longest conversation has 47 tokens; a GPT reads L - 1
MAX_ANSWER_TOKENS = 16           # the longest reference answer has 11 tokens with <|end|>
PRETRAIN_PER_TASK = 1000         # training examples per task whose words make the text
SFT_PER_TASK = 1000              # fine-tuning conversations per task
VAL_PER_TASK = 40                # conversations per task for the trainer's validation loss
EVAL_PER_TASK = 100              # judged prompts per task and split

MODEL_DEFAULTS = dict(context_length=CONTEXT_LENGTH, n_layer=3, n_head=4, n_embd=96)
# 1500 steps each: about 2 minutes of one core per stage (pre-training, SFT from it, SFT from
# scratch and their evaluations took 6.3 minutes of CPU in all)
PRETRAIN_DEFAULTS = TrainConfig(steps=1500, batch_size=32, lr=3e-3, min_lr=3e-4, warmup_steps=50,
                                eval_interval=100, eval_batches=5)
SFT_DEFAULTS = TrainConfig(steps=1500, batch_size=32, lr=2e-3, min_lr=2e-4, warmup_steps=30,
                           eval_interval=100, eval_batches=5)


# ---- the world, the model -----------------------------------------------------------------------
def model_config(tokenizer: WordTokenizer, **overrides: Any) -> GPTConfig:
    """A GPT for the assistant world: ``MODEL_DEFAULTS`` with every override that is not None."""
    fields = {**MODEL_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    config = GPTConfig(vocab_size=tokenizer.vocab_size, **fields)
    check_world(tokenizer, config)
    return config


def check_world(tokenizer: WordTokenizer, config: GPTConfig) -> None:
    """Refuse a tokenizer that is not the assistant world's, or a model config that cannot
    read it (another vocabulary size, or a context shorter than ``CONTEXT_LENGTH``)."""
    world = world_tokenizer()
    if not isinstance(tokenizer, WordTokenizer) or tokenizer.vocab != world.vocab:
        kind = (f"a word tokenizer of {tokenizer.vocab_size} words"
                if isinstance(tokenizer, WordTokenizer) else type(tokenizer).__name__)
        raise ValueError(f"the tokenizer must be the assistant world's (a word tokenizer of "
                         f"{world.vocab_size} words, minifm.data.assistant.world_tokenizer()), "
                         f"got {kind}")
    if config.vocab_size != world.vocab_size:
        raise ValueError(f"the model's vocab_size must be the assistant world's "
                         f"{world.vocab_size}, got {config.vocab_size}")
    if config.context_length < CONTEXT_LENGTH:
        raise ValueError(f"the model's context_length must be at least {CONTEXT_LENGTH} (the "
                         f"longest conversation), got {config.context_length}")


def load_run(path: str | os.PathLike) -> tuple[GPT, WordTokenizer]:
    """The GPT and tokenizer of a pre-training or fine-tuning run folder (or its
    checkpoint.npz), refused if they are not of the assistant world."""
    model, tokenizer = load_pretrained(path)
    check_world(tokenizer, model.config)
    return model, tokenizer


# ---- pre-training -------------------------------------------------------------------------------
def pretrain_text(n_per_task: int = PRETRAIN_PER_TASK, seed: int = WORLD_SEED) -> list[str]:
    """The pre-training lines: each message and each reference answer of ``n_per_task``
    training examples per task, shuffled (see the module docstring)."""
    drawn = examples("train", n_per_task, stream(seed, "assistant_pretrain_text"))
    lines = [text for e in drawn for text in (e.message, e.response)]
    order = stream(seed, "assistant_pretrain_order").permutation(len(lines))
    return [lines[i] for i in order]


def pretrain_data(tokenizer: WordTokenizer, lines: Sequence[str],
                  context_length: int = CONTEXT_LENGTH) -> TokenData:
    """The lines as one stream ``[BOS] line [EOS] [BOS] line [EOS] ...`` cut into next-token
    windows of ``context_length`` (the last tenth of the stream validates)."""
    ids = [i for line in lines for i in tokenizer.encode(line)]
    return TokenData(np.array(ids, dtype=np.int64), context_length)


def pretrain(model: GPT, tokenizer: WordTokenizer, config: TrainConfig = PRETRAIN_DEFAULTS, *,
             n_per_task: int = PRETRAIN_PER_TASK, out_dir: str | os.PathLike | None = None,
             quiet: bool = False) -> dict[str, Any]:
    """Train ``model`` in place on the pre-training text; returns the trainer's metrics (and
    writes them, with a ``gpt`` checkpoint, to ``out_dir`` if given)."""
    check_world(tokenizer, model.config)
    data = pretrain_data(tokenizer, pretrain_text(n_per_task), model.config.context_length)
    trainer = Trainer(model, data, config, out_dir=out_dir, tokenizer=tokenizer, family="gpt",
                      quiet=quiet)
    return trainer.run()


# ---- supervised fine-tuning ---------------------------------------------------------------------
class SFTData:
    """Conversations served to the Trainer as ``(idx, targets)``: GPT's input and the
    response-only targets (``IGNORE_INDEX`` on the prompt and padding, so the prompt's
    positions get exactly zero loss and zero gradient)."""

    def __init__(self, train: Sequence[Example], val: Sequence[Example],
                 tokenizer: WordTokenizer, context_length: int = CONTEXT_LENGTH):
        self.splits = {"train": ChatData(train, tokenizer, context_length),
                       "val": ChatData(val, tokenizer, context_length)}

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """idx (B, L - 1) and targets (B, L - 1) of ``batch_size`` random conversations."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        tokens, mask = self.splits[split].get_batch(batch_size, rng)      # (B, L) each
        return response_targets(tokens, mask)                             # (B, L - 1) each


def sft_data(tokenizer: WordTokenizer, n_per_task: int = SFT_PER_TASK,
             context_length: int = CONTEXT_LENGTH, seed: int = WORLD_SEED) -> SFTData:
    """``n_per_task`` training conversations per task and ``VAL_PER_TASK`` validation ones
    (drawn like the "seen" split, from their own stream)."""
    train = examples("train", n_per_task, stream(seed, "assistant_examples"))
    val = examples("seen", VAL_PER_TASK, stream(seed, "assistant_val"))
    return SFTData(train, val, tokenizer, context_length)


def sft(model: GPT, tokenizer: WordTokenizer, config: TrainConfig = SFT_DEFAULTS, *,
        n_per_task: int = SFT_PER_TASK, out_dir: str | os.PathLike | None = None,
        quiet: bool = False) -> dict[str, Any]:
    """Fine-tune ``model`` in place on the conversations with the response-only loss (a
    pre-trained base, or a fresh model for the from-scratch baseline); returns the metrics."""
    check_world(tokenizer, model.config)
    data = sft_data(tokenizer, n_per_task, model.config.context_length)
    trainer = Trainer(model, data, config, out_dir=out_dir, tokenizer=tokenizer, family="gpt",
                      quiet=quiet)
    return trainer.run()


# ---- answers and their judged scores ------------------------------------------------------------
def generate_conversations(model: GPT, tokenizer: WordTokenizer, prompts: Sequence[str],
                           max_new_tokens: int = MAX_ANSWER_TOKENS, temperature: float = 0.0,
                           rng: np.random.Generator | None = None) -> list[list[int]]:
    """Each chat prompt ``<|user|> message <|assistant|>`` and the model's response to it, as
    one row of ids: the prompt, then the generated tokens up to and including the first
    ``<|end|>`` (all of them if none came; a [PAD] ends the row before it). At most
    ``max_new_tokens`` are generated, never past the context, with the KV cache, greedy at
    temperature 0 (else sampled from ``rng``). Prompts of one length form one batch."""
    check_world(tokenizer, model.config)
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of chat prompts, got a single str")
    encoded = [tokenizer.encode(render_prompt(parse_prompt(p)), add_special_tokens=False)
               for p in prompts]
    T_max = model.config.context_length
    too_long = [len(ids) for ids in encoded if len(ids) >= T_max]
    if too_long:
        raise ValueError(f"a prompt has {too_long[0]} tokens; it must be shorter than the "
                         f"context_length {T_max} to leave room for an answer")
    end = marker_ids(tokenizer)[2]
    out: list[list[int]] = [[] for _ in prompts]
    for length in sorted({len(ids) for ids in encoded}):
        rows = [i for i, ids in enumerate(encoded) if len(ids) == length]
        idx = np.array([encoded[i] for i in rows], dtype=np.int64)            # (B, length)
        ids = model.generate(idx, min(max_new_tokens, T_max - length), temperature=temperature,
                             rng=rng)                                          # (B, length + new)
        for i, new in zip(rows, ids[:, length:].tolist()):
            stops = [k + 1 for k, t in enumerate(new) if t == end]
            stops += [k for k, t in enumerate(new) if t == tokenizer.pad_id]
            out[i] = encoded[i] + new[:min(stops, default=len(new))]
    return out


def answer(model: GPT, tokenizer: WordTokenizer, prompts: Sequence[str],
           max_new_tokens: int = MAX_ANSWER_TOKENS) -> list[str]:
    """The model's greedy answer to each chat prompt: the words it generates up to the first
    ``<|end|>`` (the marker itself left out; see ``generate_conversations``)."""
    rows = generate_conversations(model, tokenizer, prompts, max_new_tokens)
    return [response_words(tokenizer, row) for row in rows]


def response_words(tokenizer: WordTokenizer, row: Sequence[int]) -> str:
    """The answer in a conversation row: its words after ``<|assistant|>``, up to ``<|end|>``."""
    assistant = marker_ids(tokenizer)[1]
    return answer_of(tokenizer.decode(list(row[list(row).index(assistant) + 1:])))[0]


def evaluation_examples(split: str, n_per_task: int = EVAL_PER_TASK,
                        seed: int = WORLD_SEED) -> list[Example]:
    """The judged prompts of ``"seen"`` (the training distribution) or ``"heldout"`` (every one
    with a held-out part), the same for every run."""
    if split not in SPLITS[1:]:
        raise ValueError(f"split must be 'seen' or 'heldout', got {split!r}")
    return examples(split, n_per_task, stream(seed, f"assistant_{split}"))


def evaluate(model: GPT, tokenizer: WordTokenizer, split: str,
             n_per_task: int = EVAL_PER_TASK) -> dict[str, TaskScore]:
    """The judges' figures of ``model``'s greedy answers on ``split``, per task (``TASKS``
    order) and ``"overall"``."""
    chosen = evaluation_examples(split, n_per_task)
    answers = answer(model, tokenizer, [render_prompt(e.message) for e in chosen])
    return aggregate(chosen, answers)


def score_table(scores: dict[str, dict[str, TaskScore]]) -> str:
    """Judged accuracy per task and overall, one row per ``{name: evaluate(...)}`` entry, and
    the refusal and false-refusal rates (in %)."""
    head = ["stage"] + list(TASKS) + ["overall", "refusal", "false refusal"]
    rows = [head]
    for name, by_task in scores.items():
        overall = by_task["overall"]
        rows.append([name] + [f"{100 * by_task[t].accuracy:.1f}" if t in by_task else "-"
                              for t in TASKS + ("overall",)]
                    + [f"{100 * r:.1f}" if r is not None else "-"
                       for r in (overall.refusal_rate, overall.false_refusal_rate)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
