"""The tour's BERT stop: pre-train a tiny BERT on the stories, fill in blanks before and after,
then fine-tune it and measure what pre-training transferred."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from minifm.data.stories import story_corpus
from minifm.models.bert import BertForPreTraining
from minifm.plots.training import save_loss_curve
from minifm.tasks.bert import (CORPUS_SEED, FINETUNE_DEFAULTS, N_DOCUMENTS, N_LABELLED,
                               TRAIN_DEFAULTS, measure_transfer, model_config,
                               pretraining_accuracy, pretraining_chance, probe_lines, story_data)
from minifm.training.seeds import stream
from minifm.training.trainer import Trainer

# Sized for the tour: no dropout (a short run has nothing to regularise, and it learns faster),
# 600 pre-training steps at a larger learning rate than the lessons' 3,000 (masked-LM accuracy
# reaches ~74 % against their ~77 %), and 100 fine-tuning steps instead of 150 (the transfer
# gain was the same, +16 points, on the three seeds).
DROPOUT = 0.0
TRAIN_CONFIG = dataclasses.replace(TRAIN_DEFAULTS, steps=600, lr=3e-3, min_lr=3e-4,
                                   eval_interval=200)
FINETUNE_CONFIG = dataclasses.replace(FINETUNE_DEFAULTS, steps=100)
SEEDS = (0, 1, 2)


def stop(out_dir: Path) -> dict[str, Any]:
    """Pre-train a tiny BERT on the stories; fill in blanks before and after; fine-tune it.

    Returns the numbers the tour prints and tests check: validation loss, masked-LM and
    next-sentence accuracy before and after, the top guess for each probe before and after,
    the transfer measurement, and the loss plot's path.
    """
    tokenizer, data = story_data(N_DOCUMENTS)
    model = BertForPreTraining(model_config("classroom", tokenizer.vocab_size, dropout=DROPOUT),
                               rng=stream(TRAIN_CONFIG.seed, "init"))
    print(f"The story corpus: {len(data.lengths):,} sentences such as "
          f"{' '.join(story_corpus(1, seed=CORPUS_SEED)[0][:3])!r}.\nA BERT with "
          f"{model.num_parameters():,} parameters learns to fill in masked words and to tell "
          "whether sentence B follows sentence A.")
    print("\nBefore pre-training, fill in the blank (top guesses):")
    before = pretraining_accuracy(model, data)
    guesses_before, lines = probe_lines(model, tokenizer)
    print("\n".join(lines))
    trainer = Trainer(model, data, TRAIN_CONFIG, out_dir=out_dir, tokenizer=tokenizer,
                      family="bert")
    loss_before = trainer.evaluate()
    print(f"\nPre-training for {TRAIN_CONFIG.steps} steps (validation loss now {loss_before:.3f})"
          " ...")
    metrics = trainer.run()
    plot = save_loss_curve(trainer.history, out_dir, "BERT pre-training on the stories", "bert")
    after = pretraining_accuracy(model, data)
    print("\nAfter pre-training:")
    guesses_after, lines = probe_lines(model, tokenizer)
    print("\n".join(lines))
    chance = pretraining_chance(model.config)
    print(f"masked-LM accuracy {before['mlm_accuracy']:.0%} -> {after['mlm_accuracy']:.0%} "
          f"(chance {chance['mlm_accuracy']:.1%}), next-sentence accuracy "
          f"{before['nsp_accuracy']:.0%} -> {after['nsp_accuracy']:.0%} (chance "
          f"{chance['nsp_accuracy']:.0%})")
    print(f"\nFine-tuning on {N_LABELLED} labelled sentences ('... the pie is tasty .' -> liked), "
          "tested on sentences with adjectives no labelled sentence has ...")
    transfer = measure_transfer(model.bert, tokenizer, SEEDS, train_config=FINETUNE_CONFIG)
    print(f"held-out accuracy: pre-trained {transfer['pretrained_mean']:.0%}, from scratch "
          f"{transfer['scratch_mean']:.0%} (same data, same {FINETUNE_CONFIG.steps} steps; "
          f"chance {transfer['chance']:.0%})")
    print(f"loss curve: {plot}")
    return {"loss_before": loss_before, "loss_after": metrics["final_val_loss"],
            "mlm_accuracy_before": before["mlm_accuracy"],
            "mlm_accuracy_after": after["mlm_accuracy"],
            "nsp_accuracy_before": before["nsp_accuracy"],
            "nsp_accuracy_after": after["nsp_accuracy"],
            "guesses_before": guesses_before, "guesses_after": guesses_after,
            "transfer": transfer, "plot": plot}
