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


def stop(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Pre-train a tiny BERT on the stories; fill in blanks before and after; fine-tune it.

    Returns the numbers the tour prints and tests check: validation loss, masked-LM and
    next-sentence accuracy before and after, the top guess for each probe before and after,
    the transfer measurement, and the loss plot's path.
    """
    tokenizer, data = story_data(300 if quick else N_DOCUMENTS)
    size = {"n_layer": 1, "n_embd": 32, "n_inner": 128} if quick else {}
    model = BertForPreTraining(model_config("classroom", tokenizer.vocab_size, **size),
                               rng=stream(TRAIN_DEFAULTS.seed, "init"))
    train_config = TRAIN_DEFAULTS
    if quick:
        train_config = dataclasses.replace(TRAIN_DEFAULTS, steps=60, warmup_steps=10,
                                           eval_interval=30, eval_batches=2)
    print(f"The story corpus: {len(data.lengths):,} sentences such as "
          f"{' '.join(story_corpus(1, seed=CORPUS_SEED)[0][:3])!r}.\nA BERT with "
          f"{model.num_parameters():,} parameters learns to fill in masked words and to tell "
          "whether sentence B follows sentence A.")
    print("\nBefore pre-training, fill in the blank (top guesses):")
    before = pretraining_accuracy(model, data)
    guesses_before, lines = probe_lines(model, tokenizer)
    print("\n".join(lines))
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=tokenizer,
                      family="bert", quiet=quick)
    loss_before = trainer.evaluate()
    print(f"\nPre-training for {train_config.steps} steps (validation loss now {loss_before:.3f})"
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
    finetune_config = dataclasses.replace(FINETUNE_DEFAULTS, steps=20) if quick \
        else FINETUNE_DEFAULTS
    seeds = (0,) if quick else (0, 1, 2)
    print(f"\nFine-tuning on {N_LABELLED} labelled sentences ('... the pie is tasty .' -> liked), "
          "tested on sentences with adjectives no labelled sentence has ...")
    transfer = measure_transfer(model.bert, tokenizer, seeds, train_config=finetune_config)
    print(f"held-out accuracy: pre-trained {transfer['pretrained_mean']:.0%}, from scratch "
          f"{transfer['scratch_mean']:.0%} (same data, same {finetune_config.steps} steps; "
          f"chance {transfer['chance']:.0%})")
    print(f"loss curve: {plot}")
    return {"loss_before": loss_before, "loss_after": metrics["final_val_loss"],
            "mlm_accuracy_before": before["mlm_accuracy"],
            "mlm_accuracy_after": after["mlm_accuracy"],
            "nsp_accuracy_before": before["nsp_accuracy"],
            "nsp_accuracy_after": after["nsp_accuracy"],
            "guesses_before": guesses_before, "guesses_after": guesses_after,
            "transfer": transfer, "plot": plot}
