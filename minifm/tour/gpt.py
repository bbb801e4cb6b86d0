"""The tour's GPT stop: a tiny GPT learns the toy grammar, judged by the grammar's parser."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from minifm.data.corpora import grammar_corpus
from minifm.data.text import TokenData
from minifm.models.gpt import GPT
from minifm.plots.training import save_loss_curve
from minifm.tasks.gpt import (CORPUS_SEED, TRAIN_DEFAULTS, grammaticality, model_config,
                              new_model, sample_lines)
from minifm.tokenizers import CharTokenizer, Tokenizer
from minifm.training.trainer import Trainer


def _show(model: GPT, tokenizer: Tokenizer, when: str, quick: bool) -> float:
    """Print three samples and the share of grammatical sentences; return the share."""
    n_samples, length = (4, 60) if quick else (20, 200)
    texts = sample_lines(model, tokenizer, n_samples, length, rng=np.random.default_rng(0))
    share, total = grammaticality(texts)
    print(f"\n{when} training, three samples:")
    for t in texts[:3]:
        print("   ", t.strip().split("\n")[0][:100])
    print(f"grammatical: {share:.0%} of {total} complete sentences sampled")
    return share


def stop(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Train a tiny GPT on the grammar corpus; show samples and grammaticality before and after.

    Returns the numbers the tour prints and tests check: the validation loss and the share of
    grammatical sampled sentences before and after training, and the loss plot's path.
    """
    text = grammar_corpus(300 if quick else 2000, seed=CORPUS_SEED)
    tokenizer = CharTokenizer.train(text)
    # Sentences run to ~50 characters: a context of 64 lets the model see the subject from the
    # verb that must agree with it.
    size = {"n_layer": 1, "n_embd": 32, "context_length": 16} if quick else {"context_length": 64}
    config = model_config("classroom", tokenizer.vocab_size, **size)
    data = TokenData.from_text(text, tokenizer, config.context_length)
    if quick:
        train_config = dataclasses.replace(TRAIN_DEFAULTS, steps=40, warmup_steps=5,
                                           eval_interval=20, eval_batches=2)
    else:
        train_config = dataclasses.replace(TRAIN_DEFAULTS, steps=1500, eval_interval=250)
    model = new_model(config, train_config.seed)

    print(f"The grammar corpus: {len(text):,} characters of sentences like "
          f"{text.splitlines()[0]!r}.\nA GPT with {model.num_parameters():,} parameters learns "
          "to continue them, one character at a time.")
    before = _show(model, tokenizer, "Before", quick)
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=tokenizer,
                      family="gpt", quiet=quick)
    loss_before = trainer.evaluate()
    print(f"\nTraining for {train_config.steps} steps (validation loss now {loss_before:.3f}; "
          f"guessing uniformly among {tokenizer.vocab_size} characters gives "
          f"ln {tokenizer.vocab_size} = {np.log(tokenizer.vocab_size):.3f}) ...")
    metrics = trainer.run()
    plot = save_loss_curve(trainer.history, out_dir, "GPT on the grammar corpus", "gpt")
    after = _show(model, tokenizer, "After", quick)
    print(f"\nvalidation loss {loss_before:.3f} -> {metrics['final_val_loss']:.3f}; "
          f"grammatical sentences {before:.0%} -> {after:.0%}; loss curve: {plot}")
    return {"loss_before": loss_before, "loss_after": metrics["final_val_loss"],
            "grammatical_before": before, "grammatical_after": after, "plot": plot}
