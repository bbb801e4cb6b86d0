"""Bias inherited from data, measured: a GPT and a BERT trained on a corpus where occupations take
"he" or "she" 80/20 (``minifm.data.occupations``), how much of that skew each one learns, and how
much is left after fine-tuning on balanced text; and WEAT (Caliskan et al. 2017) on the real
MiniLM's embeddings with word sets written here.

Dimensions: B batch, T time, V vocabulary, E embedding width; J occupations.

The learned skew of one occupation is the model's share of "she" between the two pronouns,
    share = p(she) / (p(he) + p(she)),
averaged over the corpus's templates: for the GPT p is the probability of the continuation
"she " or "he " after the words before the pronoun (a product over characters), for the BERT
the fill-mask probability of the word at a [MASK] in the pronoun's place. A model that copies
the data has share 0.8 on the she-leaning jobs and 0.2 on the he-leaning ones.

    report = measure_bias(BiasSetting())
    report.data_before, report.gpt_before, report.gpt_after    # (J,) each
Lesson: the scale, bias and interpretability lesson (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from minifm.analysis.weat import WeatResult, weat
from minifm.data.bert_data import PretrainingData
from minifm.data.occupations import (OCCUPATIONS, TEMPLATES, documents, occupation_sentences,
                                     she_shares)
from minifm.data.text import TokenData
from minifm.functional.sequence_logprob import token_logprob_forward
from minifm.models.bert import Bert, BertConfig, BertForPreTraining
from minifm.models.gpt import GPT, GPTConfig
from minifm.tokenizers import CharTokenizer
from minifm.tokenizers.wordpiece import WordPieceTokenizer
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer

SKEWED_SEED, BALANCED_SEED = 42, 43       # the two corpora's text


@dataclass(frozen=True)
class BiasSetting:
    """Corpus sizes, model sizes and the two training recipes (pre-training, fine-tuning)."""

    skew: float = 0.8
    n_sentences: int = 3000
    gpt: GPTConfig = GPTConfig(context_length=48, n_layer=2, n_head=2, n_embd=48)
    bert: BertConfig = BertConfig(context_length=32, n_layer=2, n_head=2, n_embd=48, n_inner=192)
    pretrain: TrainConfig = TrainConfig(steps=600, batch_size=16, lr=3e-3, min_lr=3e-4,
                                        warmup_steps=30, eval_interval=600, eval_batches=2)
    finetune: TrainConfig = TrainConfig(steps=150, batch_size=16, lr=1e-3, min_lr=1e-4,
                                        warmup_steps=10, eval_interval=150, eval_batches=2)


_QUICK = TrainConfig(steps=3, batch_size=4, eval_interval=3, eval_batches=1)
SETTINGS = {"classroom": BiasSetting(),
            "tiny": BiasSetting(n_sentences=200, pretrain=_QUICK, finetune=_QUICK)}


@dataclass(frozen=True)
class BiasReport:
    """Shares of "she" per occupation (order ``OCCUPATIONS``): in the skewed training text, and
    learned by each model before and after fine-tuning on the balanced text."""

    data_before: np.ndarray       # (J,) the skewed corpus, counted
    data_after: np.ndarray        # (J,) the balanced corpus, counted
    gpt_before: np.ndarray        # (J,)
    gpt_after: np.ndarray         # (J,)
    bert_before: np.ndarray       # (J,)
    bert_after: np.ndarray        # (J,)


def _two_way_share(logp_he: float, logp_she: float) -> float:
    """p(she) / (p(he) + p(she)) from two log probabilities, without overflow."""
    return float(1.0 / (1.0 + np.exp(logp_he - logp_she)))


def gpt_she_share(model: GPT, tokenizer: CharTokenizer, job: str) -> float:
    """The GPT's share of "she" after ``job``, averaged over the templates (module docstring).
    Each text starts at a line start, as the corpus's lines do."""
    shares = []
    for before, _ in TEMPLATES:
        prefix = "\n" + before.format(job=job) + " "
        logps = []
        for pronoun in ("he ", "she "):
            ids = np.array([tokenizer.encode(prefix + pronoun)], dtype=np.int64)   # (1, T + 1)
            with model.evaluating():
                logits, _ = model(ids[:, :-1])                                     # (1, T, V)
            logp, _ = token_logprob_forward(logits, ids[:, 1:])                    # (1, T)
            logps.append(float(logp[0, len(prefix) - 1:].sum()))   # the pronoun's characters
        shares.append(_two_way_share(*logps))
    return float(np.mean(shares))


def bert_she_share(model: BertForPreTraining, tokenizer: WordPieceTokenizer, job: str) -> float:
    """The BERT's fill-mask share of "she" at the pronoun, averaged over the templates."""
    he, she = tokenizer.convert_tokens_to_ids(["he", "she"])
    shares = []
    for before, after in TEMPLATES:
        enc = tokenizer(f"{before.format(job=job)} [MASK] {after}")
        at = int(np.flatnonzero(enc["input_ids"] == tokenizer.mask_token_id)[0])
        with model.evaluating():
            out, _ = model(enc["input_ids"][None], enc["token_type_ids"][None])
        logits = out.mlm_logits[0, at]                                             # (V,)
        shares.append(_two_way_share(float(logits[he]), float(logits[she])))
    return float(np.mean(shares))


def _shares(measure: Callable[[Any, Any, str], float], model: GPT | BertForPreTraining,
            tokenizer: CharTokenizer | WordPieceTokenizer) -> np.ndarray:
    """(J,) shares of "she", one per occupation, by ``measure`` (one of the two above)."""
    return np.array([measure(model, tokenizer, job) for job in OCCUPATIONS])


def measure_bias(setting: BiasSetting) -> BiasReport:
    """Train a GPT and a BERT on the skewed corpus, measure, fine-tune both on the balanced
    corpus, measure again (see the module docstring)."""
    skewed = occupation_sentences(setting.n_sentences, setting.skew, seed=SKEWED_SEED)
    balanced = occupation_sentences(setting.n_sentences, 0.5, seed=BALANCED_SEED)
    data_before = np.array([she_shares(skewed)[job] for job in OCCUPATIONS])
    data_after = np.array([she_shares(balanced)[job] for job in OCCUPATIONS])

    char = CharTokenizer.train("\n" + "\n".join(skewed) + "\n")
    T = setting.gpt.context_length

    def lines(sentences: list[str]) -> TokenData:
        return TokenData.from_text("\n" + "\n".join(sentences) + "\n", char, T)

    gpt = GPT(replace(setting.gpt, vocab_size=char.vocab_size),
              rng=stream(setting.pretrain.seed, "init"))
    Trainer(gpt, lines(skewed), setting.pretrain, quiet=True).run()
    gpt_before = _shares(gpt_she_share, gpt, char)
    Trainer(gpt, lines(balanced), setting.finetune, quiet=True).run()
    gpt_after = _shares(gpt_she_share, gpt, char)

    words = WordPieceTokenizer.train(skewed, 64)
    bert = BertForPreTraining(replace(setting.bert, vocab_size=words.vocab_size),
                              rng=stream(setting.pretrain.seed, "init"))
    Trainer(bert, PretrainingData(documents(skewed), words), setting.pretrain, quiet=True).run()
    bert_before = _shares(bert_she_share, bert, words)
    Trainer(bert, PretrainingData(documents(balanced), words), setting.finetune, quiet=True).run()
    bert_after = _shares(bert_she_share, bert, words)
    return BiasReport(data_before, data_after, gpt_before, gpt_after, bert_before, bert_after)


# ---- WEAT on a real encoder ---------------------------------------------------------------------
# Word sets written for minifm. The categories follow Caliskan et al. (2017), Table 1: flowers and
# insects with pleasant and unpleasant words (their baseline, a bias everyone shares), and male
# and female terms with career and family words (their WEAT 6 uses names; terms here).
WEAT_TESTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "flowers/insects vs pleasant/unpleasant": (
        ("rose", "tulip", "daisy", "lily", "orchid", "violet", "poppy", "lilac"),
        ("ant", "wasp", "flea", "cockroach", "mosquito", "spider", "beetle", "termite"),
        ("joy", "love", "peace", "gift", "laughter", "friend", "happy", "gentle"),
        ("filth", "agony", "poison", "disaster", "hatred", "sickness", "rotten", "murder")),
    "male/female terms vs career/family": (
        ("he", "man", "boy", "father", "son", "brother", "husband", "uncle"),
        ("she", "woman", "girl", "mother", "daughter", "sister", "wife", "aunt"),
        ("office", "salary", "business", "career", "manager", "profession", "company", "engineer"),
        ("home", "children", "family", "wedding", "parents", "marriage", "relatives", "cousins")),
}


def word_embeddings(encoder: Bert, tokenizer: WordPieceTokenizer,
                    words: tuple[str, ...]) -> np.ndarray:
    """Each word alone as a sentence, through the encoder's mean-pooled sentence embedding:
    (n,) words -> (n, E)."""
    enc = tokenizer.batch_encode(list(words))
    return encoder.sentence_embedding(enc["input_ids"], enc["token_type_ids"],
                                      enc["attention_mask"]).astype(np.float64)


def weat_tests(encoder: Bert, tokenizer: WordPieceTokenizer) -> dict[str, WeatResult]:
    """Every test of ``WEAT_TESTS`` on ``encoder``, exact permutation p-values (12,870
    partitions of 16 words)."""
    return {name: weat(*(word_embeddings(encoder, tokenizer, s) for s in sets))
            for name, sets in WEAT_TESTS.items()}
