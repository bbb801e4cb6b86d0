"""The tour's assistant stop: a small GPT pre-trained on the assistant world's plain text, then
fine-tuned on its conversations (SFT), judged per task by the world's exact judges before and
after, with a few real exchanges and the refusal and false-refusal rates.

Lesson 15, "From GPT to assistant"; ``minifm chat OUT/assistant`` talks to the result.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from minifm.data.assistant import TaskScore, world_tokenizer
from minifm.models.gpt import GPT
from minifm.plots.assistant import save_plots
from minifm.plots.training import save_loss_curve
from minifm.tasks.assistant import (PRETRAIN_DEFAULTS, SFT_DEFAULTS, evaluate, model_config,
                                    pretrain, score_table, sft)
from minifm.tasks.assistant_chat import reply
from minifm.tasks.gpt import new_model
from minifm.tokenizers.word import WordTokenizer

SEED = 1337
# The sizes that learned fastest per second of one core (issue 18's runs): a 2-layer GPT of
# width 64; a short pre-training (it barely moves the judged figures at this length) and most of
# the time in SFT, at batch 16 and a high learning rate (8e-3 held 59 % of held-out prompts
# against 44 % at 5e-3, 68 % and 67.5 % of seen ones).
SIZES = {"n_layer": 2, "n_head": 4, "n_embd": 64}
PRETRAIN = dataclasses.replace(PRETRAIN_DEFAULTS, steps=200, batch_size=16, lr=5e-3, min_lr=5e-4,
                               warmup_steps=20, eval_interval=100, eval_batches=2)
SFT = dataclasses.replace(SFT_DEFAULTS, steps=900, batch_size=16, lr=8e-3, min_lr=8e-4,
                          warmup_steps=30, eval_interval=300, eval_batches=2)
EVAL_PER_TASK = 40               # judged prompts per task and split
REQUESTS = ("add 4 and 7 , then double it",
            "translate to zin : the small cat sees a dog .",
            "tom has a red kite . emma has a blue ball . who has the kite ?",
            "sam has a red hat . the secret word of tom is moon . what is the secret word of "
            "tom ?")


def _judged(model: GPT, tokenizer: WordTokenizer, stage: str) -> dict[str, dict[str, TaskScore]]:
    return {f"{stage} {split}": evaluate(model, tokenizer, split, EVAL_PER_TASK)
            for split in ("seen", "heldout")}


def _exchanges(model: GPT, tokenizer: WordTokenizer, when: str) -> list[str]:
    """Print the model's greedy answer to each of ``REQUESTS``; return the answers."""
    answers = [reply(model, tokenizer, request) for request in REQUESTS]
    print(f"\n{when}:")
    for request, answer in zip(REQUESTS, answers):
        print(f"  you>       {request}\n  assistant> {answer or '(nothing)'}")
    return answers


def stop(out_dir: Path) -> dict[str, Any]:
    """Pre-train a small GPT on the assistant world's text, fine-tune it on conversations, and
    let the judges score it per task before and after.

    Returns the numbers the tour prints and tests check: the judged scores of every stage and
    split (``{"base seen": {task: TaskScore}, ...}``), the overall seen and held-out accuracy
    before and after SFT, the SFT model's refusal and false-refusal rates on held-out prompts,
    the answers to ``REQUESTS`` before and after, and the plots' paths.
    """
    tokenizer = world_tokenizer()
    model = new_model(model_config(tokenizer, **SIZES), SEED)
    print(f"The assistant world: five tasks (question answering, translation into Zin, Sum "
          f"programs, summaries, and refusing to tell a secret), each with an exact judge.\n"
          f"A GPT of {model.num_parameters():,} parameters first reads the world's text as "
          f"plain lines (no request is ever followed by its answer), {PRETRAIN.steps} steps ...")
    pre = pretrain(model, tokenizer, PRETRAIN)
    print(f"pre-training: validation loss {pre['final_val_loss']:.3f}")
    scores = _judged(model, tokenizer, "base")
    before = _exchanges(model, tokenizer, "Before fine-tuning (the pre-trained base, prompted "
                                          "in the chat format it never saw)")
    print(f"\nSupervised fine-tuning on conversations, the loss on the answers only, "
          f"{SFT.steps} steps of {SFT.batch_size} ...")
    tuned = sft(model, tokenizer, SFT, out_dir=out_dir)
    scores.update(_judged(model, tokenizer, "sft"))
    after = _exchanges(model, tokenizer, "After fine-tuning")
    heldout = scores["sft heldout"]["overall"]
    print(f"\nJudged accuracy (%) on {EVAL_PER_TASK} prompts per task; 'heldout' prompts have "
          f"names, word pairs or phrasings never fine-tuned on:\n{score_table(scores)}")
    print(f"overall judged accuracy {scores['base seen']['overall'].accuracy:.0%} -> "
          f"{scores['sft seen']['overall'].accuracy:.0%} on seen prompts, "
          f"{scores['base heldout']['overall'].accuracy:.0%} -> {heldout.accuracy:.0%} on "
          f"held-out ones; off-limits requests refused {heldout.refusal_rate:.0%}, allowed ones "
          f"refused {heldout.false_refusal_rate:.0%} (held-out)")
    plots = [save_loss_curve(tuned["history"], out_dir, "SFT on the assistant world", "gpt"),
             *save_plots(out_dir, judged=scores)]
    print(f"plots: {', '.join(str(p) for p in plots)}\ntry: python -m minifm chat {out_dir}")
    return {"judged": scores,
            "accuracy_before": scores["base seen"]["overall"].accuracy,
            "accuracy_after": scores["sft seen"]["overall"].accuracy,
            "heldout_before": scores["base heldout"]["overall"].accuracy,
            "heldout_after": heldout.accuracy,
            "refusal_rate": heldout.refusal_rate,
            "false_refusal_rate": heldout.false_refusal_rate,
            "answers_before": before, "answers_after": after, "plots": plots}
