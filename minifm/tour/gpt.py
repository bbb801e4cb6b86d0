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
from minifm.tasks.gpt import (CORPUS_SEED, TRAIN_DEFAULTS, build_tokenizer, grammaticality,
                              model_config, new_model, sample_lines)
from minifm.tokenizers import Tokenizer
from minifm.training.trainer import Trainer

# Byte-pair merges on the grammar corpus run out at 395 tokens: by then every word (with its
# leading space) is one token, so the model predicts words, as a character model must learn to
# spell before it can learn agreement. A sentence is ~8 tokens (~30 characters), so a context of
# 16 lets the verb see its subject, and 600 steps at a larger learning rate than the lessons'
# are enough (a character model needs 1,500 steps of 64 characters for ~80 %).
CONTEXT_LENGTH = 16
TRAIN_CONFIG = dataclasses.replace(TRAIN_DEFAULTS, steps=600, lr=5e-3, min_lr=5e-4,
                                   eval_interval=200)
N_SAMPLES, SAMPLE_TOKENS = 20, 100            # judged: ~250 complete sentences after training


def _show(model: GPT, tokenizer: Tokenizer, when: str) -> float:
    """Print three samples and the share of grammatical sentences; return the share."""
    texts = sample_lines(model, tokenizer, N_SAMPLES, SAMPLE_TOKENS, rng=np.random.default_rng(0))
    share, total = grammaticality(texts)
    print(f"\n{when} training, three samples:")
    for t in texts[:3]:
        print("   ", t.strip().split("\n")[0][:100])
    print(f"grammatical: {share:.0%} of {total} complete sentences sampled")
    return share


def stop(out_dir: Path) -> dict[str, Any]:
    """Train a tiny GPT on the grammar corpus; show samples and grammaticality before and after.

    Returns the numbers the tour prints and tests check: the validation loss and the share of
    grammatical sampled sentences before and after training, and the loss plot's path.
    """
    text = grammar_corpus(2000, seed=CORPUS_SEED)
    tokenizer = build_tokenizer("bpe", text)
    config = model_config("classroom", tokenizer.vocab_size, context_length=CONTEXT_LENGTH)
    data = TokenData.from_text(text, tokenizer, config.context_length)
    model = new_model(config, TRAIN_CONFIG.seed)

    print(f"The grammar corpus: {len(text):,} characters of sentences like "
          f"{text.splitlines()[0]!r}.\nByte-pair merges turn it into {len(data):,} tokens of a "
          f"{tokenizer.vocab_size}-token vocabulary: every word is one token. A GPT with "
          f"{model.num_parameters():,} parameters learns to continue the text, one word at a "
          "time; the grammar's parser judges what it writes.")
    before = _show(model, tokenizer, "Before")
    trainer = Trainer(model, data, TRAIN_CONFIG, out_dir=out_dir, tokenizer=tokenizer,
                      family="gpt")
    loss_before = trainer.evaluate()
    print(f"\nTraining for {TRAIN_CONFIG.steps} steps of {TRAIN_CONFIG.batch_size} windows of "
          f"{CONTEXT_LENGTH} tokens (validation loss now {loss_before:.3f}; guessing uniformly "
          f"among {tokenizer.vocab_size} tokens gives ln {tokenizer.vocab_size} = "
          f"{np.log(tokenizer.vocab_size):.3f}) ...")
    metrics = trainer.run()
    plot = save_loss_curve(trainer.history, out_dir, "GPT on the grammar corpus", "gpt")
    after = _show(model, tokenizer, "After")
    print(f"\nvalidation loss {loss_before:.3f} -> {metrics['final_val_loss']:.3f}; "
          f"grammatical sentences {before:.0%} -> {after:.0%}; loss curve: {plot}")
    return {"loss_before": loss_before, "loss_after": metrics["final_val_loss"],
            "grammatical_before": before, "grammatical_after": after, "plot": plot}
