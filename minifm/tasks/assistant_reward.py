"""The reward model of the assistant stages: preference pairs from the SFT model's own samples,
ranked by the judges, and a Bradley–Terry reward model trained on them (Ouyang et al. 2022,
section 3.5).

Lesson: "From GPT to assistant" (issue 12). Dimension letters: N pairs, B batch, T time.

    pairs = preference_data(sft_model, tokenizer, examples("train", 100, rng), k=4, rng=rng)
    reward_model, metrics = reward_stage(sft_model, tokenizer)   # sample, judge, train
    pair_accuracy(reward_model, pairs)                   # share with r(chosen) > r(rejected)

Pairs: for each prompt, ``k`` answers sampled at ``SAMPLE_TEMPERATURE`` from the SFT model
(each a row ``prompt + response``, ``<|end|>`` included when it came) and, with ``variants`` (off
by default; measured at 200 prompts per task only: lesson 15), two judged variants of
the first sample, built from the SFT model's own words: the first sample *rambling* on (its
answer followed by the request's first sentence) and a *swapped* answer (the first sample for
the next prompt of the same task: fluent, in the task's form, and most often wrong for this
context). Every pair the judges strictly order (``data.assistant.preference_pairs``: correct
over wrong, a refusal over compliance on an off-limits request, the shorter of two correct
answers) is kept as (chosen, rejected). A confident SFT model samples the same answer ``k``
times, and the judges make no pair of equal answers: without the variants most prompts give no
pair, and the pairs that come teach the reward model nothing about *which* answer fits *this*
prompt. A prompt whose candidates the judges cannot tell apart gives no pair.
The reward model starts from the SFT model's weights with a fresh scalar head.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple, Sequence

import numpy as np

from minifm.data.assistant import (Example, encode_prompt, examples, preference_pairs,
                                   render_prompt)
from minifm.data.assistant.chat import marker_ids
from minifm.models.gpt import GPT
from minifm.models.reward import RewardModel
from minifm.tasks.assistant import (EVAL_PER_TASK, WORLD_SEED, check_world, evaluation_examples,
                                    generate_conversations, response_words)
from minifm.tasks.assistant_policy import pad_rows
from minifm.tokenizers.word import WordTokenizer
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer

SAMPLES_PER_PROMPT = 4           # answers sampled per prompt
SAMPLE_TEMPERATURE = 1.0         # their temperature
REWARD_PROMPTS_PER_TASK = 1000   # SFT training prompts per task whose samples are trained on
# few steps: the pairs are few (a confident SFT model samples the same answer k times on most
# prompts), and longer runs memorise them (300 steps on 200 prompts' pairs: the validation
# loss rose from step 100 on)
REWARD_DEFAULTS = TrainConfig(steps=150, batch_size=32, lr=1e-3, min_lr=1e-4, warmup_steps=20,
                              eval_interval=50, eval_batches=5)


class PreferencePairs(NamedTuple):
    """(chosen, rejected) conversation rows, right-padded with [PAD], and each pair's task."""

    chosen: np.ndarray           # (N, T) int64
    rejected: np.ndarray         # (N, T) int64
    tasks: list[str]             # (N,)


def answer_ids(tokenizer: WordTokenizer, row: Sequence[int]) -> list[int]:
    """The answer's ids in a conversation row: after ``<|assistant|>``, up to ``<|end|>``."""
    _, assistant, end_id = marker_ids(tokenizer)
    answer = list(row[list(row).index(assistant) + 1:])
    return answer[:answer.index(end_id)] if end_id in answer else answer


def first_sentence(tokenizer: WordTokenizer, example: Example) -> list[int]:
    """The ids of the request's first sentence (up to its first ".", "?" or ":")."""
    words = example.message.split()
    cut = next((i + 1 for i, w in enumerate(words) if w in (".", "?", ":")), len(words))
    return tokenizer.encode(" ".join(words[:cut]), add_special_tokens=False)


def same_task_neighbour(prompts: Sequence[Example], n: int) -> int:
    """The next prompt after ``n`` of the same task (cyclically; ``n`` itself if it is its
    task's only one)."""
    same = [i for i, e in enumerate(prompts) if e.task == prompts[n].task]
    return same[(same.index(n) + 1) % len(same)]


def candidates(tokenizer: WordTokenizer, prompts: Sequence[Example], rows: list[list[int]],
               k: int, n: int, max_length: int) -> list[list[int]]:
    """Prompt ``n``'s candidate rows: its ``k`` sampled rows, then two variants of its first
    sample, *rambling* (the answer, then the request's first sentence) and *swapped* (the first
    answer sampled for the same task's next prompt), each left out if its answer is empty or
    its row longer than ``max_length``."""
    prompt = encode_prompt(tokenizer, prompts[n].message)
    end_id = marker_ids(tokenizer)[2]
    mine = answer_ids(tokenizer, rows[n * k])
    other = answer_ids(tokenizer, rows[same_task_neighbour(prompts, n) * k])
    variants = [mine + first_sentence(tokenizer, prompts[n]) if mine else [], other]
    extra = [prompt + v + [end_id] for v in variants if v]
    return rows[n * k:(n + 1) * k] + [r for r in extra if len(r) <= max_length]


def preference_data(model: GPT, tokenizer: WordTokenizer, prompts: Sequence[Example], k: int,
                    rng: np.random.Generator, temperature: float = SAMPLE_TEMPERATURE,
                    variants: bool = False) -> PreferencePairs:
    """The judged preference pairs of ``k`` answers sampled at ``temperature`` to each of
    ``prompts`` and (with ``variants``) the rambling and swapped variants of the first one (see
    the module docstring). An empty result (no prompt with two answers the judges can tell
    apart) is a ValueError: there is nothing to train or measure on."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an int >= 2 (answers per prompt to compare), got {k!r}")
    if not prompts:
        raise ValueError("preference_data needs at least one prompt")
    texts = [render_prompt(e.message) for e in prompts for _ in range(k)]
    rows = generate_conversations(model, tokenizer, texts, temperature=temperature, rng=rng)
    chosen, rejected, tasks = [], [], []
    for n, example in enumerate(prompts):
        group = (candidates(tokenizer, prompts, rows, k, n, model.config.context_length)
                 if variants else rows[n * k:(n + 1) * k])
        for i, j in preference_pairs(example, [response_words(tokenizer, r) for r in group]):
            chosen.append(group[i])
            rejected.append(group[j])
            tasks.append(example.task)
    if not chosen:
        raise ValueError(f"no preference pairs: the judges could not tell apart any of the "
                         f"answers to each of the {len(prompts)} prompts ({k} sampled each)")
    return PreferencePairs(pad_rows(chosen, tokenizer.pad_id),
                           pad_rows(rejected, tokenizer.pad_id),
                           tasks)


class PairData:
    """Preference pairs served to the Trainer as ``(chosen, rejected)`` batches."""

    def __init__(self, train: PreferencePairs, val: PreferencePairs, pad_id: int):
        self.splits, self.pad_id = {"train": train, "val": val}, pad_id

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(B, T) chosen and (B, T') rejected rows of ``batch_size`` random pairs."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        pairs = self.splits[split]
        rows = rng.integers(len(pairs.tasks), size=batch_size)
        chosen, rejected = pairs.chosen[rows], pairs.rejected[rows]
        # cut the padding every row of the batch has (keeps each step as short as it can be)
        return (chosen[:, :int((chosen != self.pad_id).sum(axis=1).max())],
                rejected[:, :int((rejected != self.pad_id).sum(axis=1).max())])


def new_reward_model(sft_model: GPT, tokenizer: WordTokenizer, seed: int) -> RewardModel:
    """A reward model with the SFT model's trunk and a head from the run's stream."""
    check_world(tokenizer, sft_model.config)
    return RewardModel.from_gpt(sft_model, pad_id=tokenizer.pad_id,
                                rng=stream(seed, "assistant_reward_head"))


def pair_accuracy(model: RewardModel, pairs: PreferencePairs) -> dict[str, float]:
    """The share of pairs whose chosen row gets the higher reward, per task and ``"overall"``
    (a tie counts as wrong)."""
    with model.evaluating():
        r_chosen, _ = model(pairs.chosen)                             # (N, T) -> (N,)
        r_rejected, _ = model(pairs.rejected)
    right = r_chosen > r_rejected                                     # (N,)
    tasks = np.array(pairs.tasks)
    out = {t: float(right[tasks == t].mean()) for t in dict.fromkeys(pairs.tasks)}
    out["overall"] = float(right.mean())
    return out


def judged_pairs(sft_model: GPT, tokenizer: WordTokenizer, seed: int, *,
                 n_per_task: int = REWARD_PROMPTS_PER_TASK, k: int = SAMPLES_PER_PROMPT,
                 eval_per_task: int = EVAL_PER_TASK, variants: bool = False
                 ) -> dict[str, PreferencePairs]:
    """The stage's pairs, sampled from ``sft_model`` with run seed ``seed``: on ``n_per_task``
    of its training prompts per task ("train"), on the "seen" and on the "heldout" evaluation
    prompts (with ``variants``, the judged variants too: see ``preference_data``). The reward
    model and DPO (``tasks.assistant_dpo``) learn from the same pairs."""
    rng = stream(seed, "assistant_reward_samples")
    prompts = {"train": examples("train", n_per_task, stream(WORLD_SEED, "assistant_examples")),
               "seen": evaluation_examples("seen", eval_per_task),
               "heldout": evaluation_examples("heldout", eval_per_task)}
    return {split: preference_data(sft_model, tokenizer, chosen, k, rng, variants=variants)
            for split, chosen in prompts.items()}


def reward_stage(sft_model: GPT, tokenizer: WordTokenizer, config: TrainConfig = REWARD_DEFAULTS,
                 *, n_per_task: int = REWARD_PROMPTS_PER_TASK, k: int = SAMPLES_PER_PROMPT,
                 eval_per_task: int = EVAL_PER_TASK, variants: bool = False,
                 pairs: dict[str, PreferencePairs] | None = None,
                 out_dir: str | os.PathLike | None = None, quiet: bool = False
                 ) -> tuple[RewardModel, dict[str, Any]]:
    """The whole stage: pairs sampled from ``sft_model`` on ``n_per_task`` of its training
    prompts per task (to train on), on the "seen" evaluation prompts (validation) and on the
    "heldout" ones (the measure) (``judged_pairs``, with ``variants`` if asked, unless given, as
    DPO takes them), a reward model from its weights trained on them, and its pair accuracy on
    each. Returns the model and the trainer's metrics with ``"pairs"`` (counts) and
    ``"pair_accuracy"`` ({split: {task: share}}) added."""
    if pairs is None:
        pairs = judged_pairs(sft_model, tokenizer, config.seed, n_per_task=n_per_task, k=k,
                             eval_per_task=eval_per_task, variants=variants)
    model = new_reward_model(sft_model, tokenizer, config.seed)
    trainer = Trainer(model, PairData(pairs["train"], pairs["seen"], tokenizer.pad_id), config,
                      out_dir=out_dir, tokenizer=tokenizer, family="reward", quiet=quiet)
    metrics = trainer.run()                                  # the Bradley–Terry loss
    metrics["pairs"] = {split: len(p.tasks) for split, p in pairs.items()}
    metrics["pair_accuracy"] = {split: pair_accuracy(model, p) for split, p in pairs.items()}
    return model, trainer.write_metrics(metrics)
