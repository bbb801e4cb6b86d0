"""DPO on the assistant world: the SFT model trained directly on the judged preference pairs,
against a frozen reference copy of itself (Rafailov et al. 2023, eq. 7).

Lesson: "From GPT to assistant" (issue 12; the DPO gradient and why it needs no reward model).
Dimension letters: N pairs, B pairs in a batch, T time (positions), V vocabulary.

    policy, metrics = dpo_stage(sft_model, tokenizer, beta=0.1)

The gradient runs from the loss down to every GPT weight:

    s = log pi(y | x)        sequence_logprob_forward on the policy's logits, chosen and rejected
    loss = dpo(s_c, s_r, ref_c, ref_r, beta)            functional.preference
    ds = dpo_backward(...)   (2B,)  ->  dlogits = sequence_logprob_backward(ds)   (2B, T, V)
    ->  the tied head and the trunk (tasks.assistant_policy.lm_logits_backward)

The reference is frozen, so its log-probabilities of every pair are computed once, before
training, and served with the pairs: it never runs a backward. The pairs are the reward
model's (``tasks.assistant_reward.judged_pairs``: the SFT model's sampled answers, ordered by
the judges), drawn with the same run seed, so DPO and the reward model learn from the same data.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np

from minifm.functional.preference import (DPOStats, dpo_backward, dpo_forward,
                                          dpo_implicit_rewards, dpo_stats)
from minifm.functional.sequence_logprob import sequence_logprob_backward, sequence_logprob_forward
from minifm.models.gpt import GPT
from minifm.nn.module import Module
from minifm.tasks.assistant import EVAL_PER_TASK, check_world
from minifm.tasks.assistant_policy import (check_reference, judged_against_reference, lm_logits,
                                           lm_logits_backward, row_targets, sequence_logprobs)
from minifm.tasks.assistant_reward import (REWARD_PROMPTS_PER_TASK, SAMPLES_PER_PROMPT,
                                           PreferencePairs, judged_pairs)
from minifm.tokenizers.word import WordTokenizer
from minifm.training.checkpoint import save_checkpoint
from minifm.training.trainer import TrainConfig, Trainer

BETAS = (0.05, 0.1, 0.5)         # the sweep of ``minifm dpo --beta``
# lr 5e-5: measured from the 83.6 % SFT model on its 3384 judged pairs, 200 steps at lr 3e-4
# drift far from it (KL 1.27 / 0.61 / 0.15 per token at beta 0.05 / 0.1 / 0.5) and lose judged
# accuracy (60.0 / 68.8 / 80.4 % seen); at 5e-5, beta 0.1 keeps it (85.2 % seen, KL 0.025)
DPO_DEFAULTS = TrainConfig(steps=200, batch_size=32, lr=5e-5, min_lr=5e-6, warmup_steps=20,
                           eval_interval=50, eval_batches=5)


class DPOObjective(Module):
    """The DPO loss of a policy GPT on preference batches. Child: ``policy`` (the only
    parameters); the reference enters as its precomputed log-probabilities.

    ``(r_chosen, r_rejected), loss = objective(chosen, rejected, ref_chosen, ref_rejected)``
    then ``objective.backward()``. ``batch_stats`` holds the ``dpo_stats`` of the last batch
    seen in training mode (None before one).
    """

    batch_stats: DPOStats | None = None

    def __init__(self, policy: GPT, tokenizer: WordTokenizer, beta: float):
        check_world(tokenizer, policy.config)
        dpo_implicit_rewards(*np.zeros((4, 1)), beta)                # checks beta > 0
        self.policy, self.tokenizer, self.beta = policy, tokenizer, float(beta)
        self.config = policy.config

    def forward(self, chosen: np.ndarray, rejected: np.ndarray, ref_chosen: np.ndarray,
                ref_rejected: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], float]:
        """chosen (B, Tc), rejected (B, Tr): conversation rows, right-padded; ref_chosen,
        ref_rejected (B,): the reference's sequence log-probs of them. Returns the implicit
        rewards (each (B,)) and the DPO loss."""
        B, pad = chosen.shape[0], self.tokenizer.pad_id
        if rejected.shape[0] != B:
            raise ValueError(f"chosen and rejected must hold the same B pairs, got {B} and "
                             f"{rejected.shape[0]} rows")
        rows = np.full((2 * B, max(chosen.shape[1], rejected.shape[1])), pad, dtype=np.int64)
        rows[:B, :chosen.shape[1]] = chosen                          # (2B, T + 1): chosen rows,
        rows[B:, :rejected.shape[1]] = rejected                      # then the rejected ones
        idx, targets = row_targets(rows, self.tokenizer)             # (2B, T) each
        logits, x = lm_logits(self.policy, idx)                      # (2B, T, V), (2B, T, C)
        s, lp_cache = sequence_logprob_forward(logits, targets)      # (2B,)
        ref_c, ref_r = (np.asarray(r, dtype=s.dtype) for r in (ref_chosen, ref_rejected))
        loss, dpo_cache = dpo_forward(s[:B], s[B:], ref_c, ref_r, self.beta)
        self._cache = (x, lp_cache, dpo_cache)
        rewards = dpo_implicit_rewards(s[:B], s[B:], ref_c, ref_r, self.beta)
        if self.training:                       # the last training batch's, for the history
            self.batch_stats = dpo_stats(*rewards)
        return rewards, loss

    def backward(self) -> None:
        """Gradient of the last forward's loss; ADDS into every policy parameter's .grad."""
        x, lp_cache, dpo_cache = self._pop_cache()
        dpi_c, dpi_r = dpo_backward(1.0, dpo_cache)                  # (B,) each
        # fwd: s = sum_t logp(response tokens)  =>  dlogits from ds, row by row
        dlogits = sequence_logprob_backward(np.concatenate([dpi_c, dpi_r]), lp_cache)
        lm_logits_backward(self.policy, x, dlogits)                  # (2B, T, V) -> weights


class DPOData:
    """Preference pairs with the reference's log-probs, served as ``(chosen, rejected,
    ref_chosen, ref_rejected)`` batches; splits "train" and "val"."""

    def __init__(self, splits: dict[str, PreferencePairs], reference: GPT,
                 tokenizer: WordTokenizer):
        for split, p in splits.items():
            if not p.tasks:
                raise ValueError(f"DPO: no preference pairs in split {split!r}; there is "
                                 "nothing to learn from (see tasks.assistant_reward.judged_pairs)")
        self.splits = {s: (p, sequence_logprobs(reference, p.chosen, tokenizer),
                           sequence_logprobs(reference, p.rejected, tokenizer))
                       for s, p in splits.items()}
        self.pad_id = tokenizer.pad_id

    def get_batch(self, split: str, batch_size: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        pairs, ref_c, ref_r = self.splits[split]
        rows = rng.integers(len(pairs.tasks), size=batch_size)
        chosen, rejected = pairs.chosen[rows], pairs.rejected[rows]
        # cut the padding every row of the batch has
        return (chosen[:, :int((chosen != self.pad_id).sum(axis=1).max())],
                rejected[:, :int((rejected != self.pad_id).sum(axis=1).max())],
                ref_c[rows], ref_r[rows])


def implicit_reward_accuracy(policy: GPT, reference: GPT, tokenizer: WordTokenizer,
                             pairs: PreferencePairs, beta: float) -> dict[str, float]:
    """``dpo_stats`` of the implicit rewards beta * log(pi / ref) on ``pairs``: the share with
    r(chosen) > r(rejected) ("accuracy"), the mean rewards and their margin."""
    check_reference(policy, reference)
    pi_c, pi_r, ref_c, ref_r = (sequence_logprobs(m, rows, tokenizer) for m in (policy, reference)
                                for rows in (pairs.chosen, pairs.rejected))
    return dict(vars(dpo_stats(*dpo_implicit_rewards(pi_c, pi_r, ref_c, ref_r, beta))))


def dpo_stage(sft_model: GPT, tokenizer: WordTokenizer, beta: float = 0.1,
              config: TrainConfig = DPO_DEFAULTS, *, n_per_task: int = REWARD_PROMPTS_PER_TASK,
              k: int = SAMPLES_PER_PROMPT, eval_per_task: int = EVAL_PER_TASK,
              pairs: dict[str, PreferencePairs] | None = None,
              out_dir: str | os.PathLike | None = None, quiet: bool = False
              ) -> tuple[GPT, dict[str, Any]]:
    """The whole stage: the judged pairs (``judged_pairs``, unless given), a policy copied from
    ``sft_model`` trained with DPO against ``sft_model`` itself as the frozen reference
    (validated on the "seen" pairs; each history row adds the implicit-reward ``margin`` and
    ``reward_accuracy`` of its training batch, ``dpo_stats``), then measured: implicit-reward
    accuracy on each split's pairs, and ``judged_against_reference`` (judged scores, the judges'
    preference over the SFT answers, KL per token). Returns the policy and the metrics (written with a ``gpt``
    checkpoint of the policy to ``out_dir`` if given); ``sft_model`` is left unchanged."""
    check_world(tokenizer, sft_model.config)
    if pairs is None:
        pairs = judged_pairs(sft_model, tokenizer, config.seed, n_per_task=n_per_task, k=k,
                             eval_per_task=eval_per_task)
    policy = copy.deepcopy(sft_model)
    objective = DPOObjective(policy, tokenizer, beta)
    data = DPOData({"train": pairs["train"], "val": pairs["seen"]}, sft_model, tokenizer)
    trainer = Trainer(objective, data, config, out_dir=out_dir, quiet=quiet,
                      extra_metrics=lambda o: {"margin": o.batch_stats.margin,
                                               "reward_accuracy": o.batch_stats.accuracy})
    metrics = trainer.run()                                  # the DPO loss
    metrics.update(family="gpt", beta=float(beta),
                   pairs={split: len(p.tasks) for split, p in pairs.items()},
                   implicit_reward={split: implicit_reward_accuracy(policy, sft_model, tokenizer,
                                                                    p, beta)
                                    for split, p in pairs.items()},
                   **judged_against_reference(policy, sft_model, tokenizer, eval_per_task))
    if out_dir is not None:
        save_checkpoint(os.path.join(out_dir, "checkpoint.npz"), model=policy,
                        optimizer=trainer.optimizer, step=trainer.step, rng=trainer.rng,
                        train_config=config, tokenizer=tokenizer, family="gpt",
                        extra={"history": trainer.history})
    return policy, trainer.write_metrics(metrics)
