"""RL on the assistant world: REINFORCE with group-normalised advantages (GRPO's baseline, Shao
et al. 2024, section 4.1) and a k3 KL leash to the frozen SFT model, against the reward model.

Lesson: "From GPT to assistant" (issue 12; the policy gradient with a KL penalty).
Dimension letters: N prompts per step, G samples per prompt, B = N * G rows, T time, V
vocabulary.

    policy, metrics = rl_stage(sft_model, reward_model, tokenizer, kl=0.05)

One step (``functional.policy_gradient`` has the maths and says why not PPO-clip):

    rows = G answers sampled at temperature 1 for each of N training prompts    (B, T + 1)
    R = reward_model(rows)  (B,) -> (N, G);   A = group_advantages(R)  (N, G) -> (B,)
    loss = policy_gradient(policy logits, targets, reference log-probs, A, beta=kl)
    dlogits -> the tied head and the trunk (tasks.assistant_policy.lm_logits_backward)

With ``reward_model=None`` the reward is the judges' own partial-credit score of each sample
(``data.assistant.judge``): not a learned proxy but the measure itself, an upper reference for
what RL on this world can reach. The history logs, every ``log_interval`` steps, the mean
reward of the samples, their judged accuracy and the KL per token (k3, at the sampled tokens),
each averaged over those steps, so a reward that rises while the judged accuracy falls (reward
hacking) shows.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from minifm.atomic import atomic_write
from minifm.data.assistant import Example, examples, judge, render_prompt
from minifm.functional.policy_gradient import (group_advantages, policy_gradient_backward,
                                               policy_gradient_forward)
from minifm.functional.sequence_logprob import token_logprob_forward
from minifm.models.gpt import GPT
from minifm.models.reward import RewardModel
from minifm.tasks.assistant import (EVAL_PER_TASK, SFT_PER_TASK, WORLD_SEED, check_world,
                                    generate_conversations, response_words)
from minifm.tasks.assistant_policy import (check_reference, judged_against_reference, lm_logits,
                                           lm_logits_backward, pad_rows, row_targets)
from minifm.tokenizers.word import WordTokenizer
from minifm.training.checkpoint import load_checkpoint, save_checkpoint
from minifm.training.optim import AdamW, clip_grad_norm, cosine_with_warmup, param_groups
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig

KL_DEFAULT = 0.05                # beta of the k3 penalty (GRPO uses 0.04)
GROUP = 4                        # G samples per prompt
# batch_size = N prompts per step (B = N * G rows). Measured against the 61.5 % reward model
# (issue 12's runs): 150 steps at lr 1e-4 keep the SFT model's judged accuracy (86.0 %
# seen with kl 0.05, 85.4 % without; SFT 83.6 %) at a KL of 0.02 per token; 300 steps at lr 3e-4
# hack the reward model (sample reward -0.37 -> 0.79, judged accuracy 88 % -> 6 % without the
# leash; kl 0.05 only slows it: 9 %, KL 2.2 per token).
RL_DEFAULTS = TrainConfig(steps=150, batch_size=8, lr=1e-4, min_lr=1e-5, warmup_steps=10,
                          log_interval=10)


def load_reward_run(path: str | os.PathLike) -> RewardModel:
    """The reward model of a ``reward`` run folder (or its checkpoint.npz)."""
    model = load_checkpoint(path, family="reward").build_model()
    if not isinstance(model, RewardModel):
        raise ValueError(f"{path} does not hold a reward model (from `minifm reward`)")
    return model


def check_reward_model(reward_model: RewardModel | None, policy: GPT) -> None:
    """The reward model must read the policy's vocabulary (None: the judges score)."""
    if reward_model is None:
        return
    if not isinstance(reward_model, RewardModel):
        raise TypeError(f"reward_model must be a RewardModel (or None for the judges' score), "
                        f"got {type(reward_model).__name__}")
    if reward_model.config.trunk_config() != policy.config:
        raise ValueError(f"the reward model's trunk must have the policy's config; got "
                         f"{reward_model.config.trunk_config()} and {policy.config}")


def score_samples(reward_model: RewardModel | None, rows: np.ndarray, prompts: Sequence[Example],
                  answers: Sequence[str]) -> np.ndarray:
    """Rewards (B,) of conversation rows (B, T + 1): the reward model's scores, or with
    ``reward_model=None`` the judges' partial credit of each answer to its prompt."""
    if reward_model is None:
        return np.array([judge(e, a).score for e, a in zip(prompts, answers)], dtype=np.float64)
    with reward_model.evaluating():
        return reward_model(rows)[0].astype(np.float64)              # (B, T + 1) -> (B,)


def sample_groups(policy: GPT, tokenizer: WordTokenizer, prompts: Sequence[Example],
                  group: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, list[Example], list[str]]:
    """``group`` answers sampled at temperature 1 for each prompt: the rows (B, T + 1),
    right-padded, B = len(prompts) * group (a prompt's samples side by side), each row's
    example and its answer's words."""
    texts = [render_prompt(e.message) for e in prompts for _ in range(group)]
    rows = pad_rows(generate_conversations(policy, tokenizer, texts, temperature=1.0, rng=rng),
                    tokenizer.pad_id)                                # (B, T + 1)
    answers = [response_words(tokenizer, r) for r in rows.tolist()]
    return rows, [e for e in prompts for _ in range(group)], answers


def policy_gradient_step(policy: GPT, reference: GPT, tokenizer: WordTokenizer,
                         rows: np.ndarray, advantages: np.ndarray, kl: float
                         ) -> tuple[float, float]:
    """ADD the gradient of the surrogate loss of ``rows`` (B, T + 1) with ``advantages`` (B,)
    and KL coefficient ``kl`` into the policy's .grad (no optimizer step). A row with no
    response token (the sample stopped at once) is left out. Returns the loss and the KL per
    token (k3 at the sampled tokens)."""
    idx, targets = row_targets(rows, tokenizer)                      # (B, T) each
    answered = (targets >= 0).any(axis=1)
    idx, targets, advantages = idx[answered], targets[answered], advantages[answered]
    with reference.evaluating():
        ref_logprobs = token_logprob_forward(lm_logits(reference, idx)[0], targets)[0]
    logits, x = lm_logits(policy, idx)                               # (B, T, V), (B, T, C)
    loss, cache = policy_gradient_forward(logits, targets, ref_logprobs,
                                          advantages.astype(logits.dtype), kl)
    lm_logits_backward(policy, x, policy_gradient_backward(1.0, cache))
    return loss, cache.kl


def rl_step(policy: GPT, reference: GPT, reward_model: RewardModel | None,
            tokenizer: WordTokenizer, prompts: Sequence[Example], group: int, kl: float,
            rng: np.random.Generator) -> dict[str, float]:
    """Sample, score, and ADD the policy gradient into the policy's .grad; the step's figures:
    loss, mean reward, KL per token and the samples' judged accuracy."""
    rows, repeated, answers = sample_groups(policy, tokenizer, prompts, group, rng)
    rewards = score_samples(reward_model, rows, repeated, answers)   # (B,)
    advantages = group_advantages(rewards.reshape(len(prompts), group)).ravel()   # (N, G) -> (B,)
    loss, kl_per_token = policy_gradient_step(policy, reference, tokenizer, rows, advantages, kl)
    return {"loss": loss, "reward": float(rewards.mean()), "kl_per_token": kl_per_token,
            "judged_accuracy": float(np.mean([judge(e, a).correct
                                              for e, a in zip(repeated, answers)]))}


def rl_stage(sft_model: GPT, reward_model: RewardModel | None, tokenizer: WordTokenizer,
             kl: float = KL_DEFAULT, config: TrainConfig = RL_DEFAULTS, *, group: int = GROUP,
             n_per_task: int = SFT_PER_TASK, eval_per_task: int = EVAL_PER_TASK,
             out_dir: str | os.PathLike | None = None, quiet: bool = False
             ) -> tuple[GPT, dict[str, Any]]:
    """The whole stage: a policy copied from ``sft_model`` trained for ``config.steps`` steps of
    ``config.batch_size`` prompts (from the SFT training prompts, ``n_per_task`` per task) x
    ``group`` samples, with AdamW on the warmup + cosine schedule, KL coefficient ``kl`` (0: no
    leash) to ``sft_model`` itself; then ``judged_against_reference``. Returns the policy and
    the metrics (written, with a ``gpt`` checkpoint of the policy, to ``out_dir`` if given)."""
    check_world(tokenizer, sft_model.config)
    check_reward_model(reward_model, sft_model)
    if isinstance(kl, bool) or not isinstance(kl, (int, float)) or not kl >= 0:
        raise ValueError(f"kl must be a number >= 0 (0: no KL penalty), got {kl!r}")
    if isinstance(group, bool) or not isinstance(group, int) or group < 2:
        raise ValueError(f"group must be an int >= 2 (samples per prompt to compare), got "
                         f"{group!r}")
    policy = copy.deepcopy(sft_model)
    check_reference(policy, sft_model)
    train = examples("train", n_per_task, stream(WORLD_SEED, "assistant_examples"))
    prompt_rng = stream(config.seed, "assistant_rl_prompts")
    sample_rng = stream(config.seed, "assistant_rl_samples")
    optimizer = AdamW(param_groups(policy, config.weight_decay), lr=config.lr,
                      betas=config.betas, eps=config.eps)
    history: list[dict[str, Any]] = []              # one row per log_interval steps:
    window: list[dict[str, float]] = []             # the means of that many steps' figures
    start = time.perf_counter()
    for step in tqdm(range(config.steps), disable=quiet or None, desc="rl"):
        optimizer.zero_grad()
        chosen = [train[i] for i in prompt_rng.integers(len(train), size=config.batch_size)]
        row = rl_step(policy, sft_model, reward_model, tokenizer, chosen, group, kl, sample_rng)
        norm = clip_grad_norm(optimizer.parameters(), config.grad_clip or float("inf"))
        optimizer.lr = cosine_with_warmup(step, config.lr, config.min_lr, config.warmup_steps,
                                          config.steps)
        optimizer.step()
        window.append({"grad_norm": norm, **row})
        if (step + 1) % config.log_interval == 0 or step == config.steps - 1:
            history.append({"step": step + 1, "lr": optimizer.lr,
                            **{k: float(np.mean([w[k] for w in window])) for k in window[0]}})
            window = []
    metrics: dict[str, Any] = {
        "family": "gpt", "kl_coefficient": float(kl), "group": group,
        "reward": "judges" if reward_model is None else "reward model",
        "steps_done": config.steps, "seconds": time.perf_counter() - start,
        "train_config": {**vars(config), "betas": list(config.betas)}, "history": history,
        **judged_against_reference(policy, sft_model, tokenizer, eval_per_task)}
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        save_checkpoint(os.path.join(out_dir, "checkpoint.npz"), model=policy,
                        optimizer=optimizer, step=config.steps, rng=sample_rng,
                        train_config=config, tokenizer=tokenizer, family="gpt",
                        extra={"history": history})
        text = json.dumps(metrics, indent=1).encode("utf-8")
        atomic_write(os.path.join(out_dir, "metrics.json"), lambda f: f.write(text))
    return policy, metrics
