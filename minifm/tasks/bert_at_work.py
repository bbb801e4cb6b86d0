"""BERT at work: fine-tune a pre-trained encoder (a ``train bert`` run, or the real MiniLM) on
sentiment, named entities or extractive questions, fully or with LoRA adapters; score it; use it.

    result = finetune("out/bert", "ner", lora_rank=4, out_dir="out/bert-ner")
    result["scores"]                          # {"precision", "recall", "f1"} on held-out names
    model, tokenizer, task = load_finetuned("out/bert-ner")
    tag_text(model, tokenizer, "olga works at initech .")   # [("PER", "olga"), ("ORG", "initech")]
    answer_question(model, tokenizer, context, question)    # ("plays football", 7.3)

A full fine-tuning run writes ``checkpoint.npz`` (family ``bert-ner``, ``bert-qa`` or
``bert-classifier``); a LoRA run writes only ``adapters.npz``: the adapters, the new head and a
note of the base run, which ``load_finetuned`` loads again underneath. Scores: accuracy
(sentiment), CoNLL entity P/R/F1 (``minifm.data.ner``), SQuAD EM / F1 (``minifm.data.qa``).
Lesson: lessons/12_bert_at_work.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minifm.atomic import atomic_write
from minifm.data.bert_data import LabelledTextData
from minifm.data.ner import TAGS, NERData, bio_entities, encode_tagged, entity_scores, \
    ner_sentences
from minifm.data.qa import QAData, encode_qa, qa_examples, squad_scores
from minifm.models.bert import Bert, BertForSequenceClassification
from minifm.models.bert_heads import (IGNORE_INDEX, BertForQuestionAnswering,
                                      BertForTokenClassification, best_span, context_mask)
from minifm.nn.lora import apply_lora, is_adapter, load_lora_state_dict
from minifm.nn.module import Module
from minifm.pretrained import load_bert, minilm_path
from minifm.tasks.bert import accuracy, load_pretrained, sentiment_data
from minifm.tokenizers.wordpiece import WordPieceTokenizer
from minifm.training.checkpoint import CHECKPOINT_NAME, load_checkpoint
from minifm.training.optim import AdamW, param_groups
from minifm.training.seeds import stream
from minifm.training.trainer import TrainConfig, Trainer

TASKS = ("sentiment", "ner", "qa")
FAMILY = {"sentiment": "bert-classifier", "ner": "bert-ner", "qa": "bert-qa"}
TASK_OF_FAMILY = {family: task for task, family in FAMILY.items()}
HEADS = {"sentiment": ("classifier.",), "ner": ("classifier.",), "qa": ("qa_outputs.",)}
LORA_TARGETS = {"qv": ("h.*.attn.c_attn", "qv"),   # the paper's choice (Hu et al. 2021, 7.1)
                "all": ("h.*", None)}              # every Linear of every block
ADAPTERS_NAME = "adapters.npz"
N_TRAIN = {"sentiment": 32, "ner": 400, "qa": 800}
N_VAL = {"sentiment": 400, "ner": 200, "qa": 200}
MAX_ANSWER_TOKENS = 8
EVAL_ROWS = 64                       # rows per inference batch (bounds MiniLM's memory)
FINETUNE_DEFAULTS = TrainConfig(steps=500, batch_size=16, lr=1e-3, min_lr=1e-4, warmup_steps=20,
                                eval_interval=500, eval_batches=4)


# ---- encoders, heads and data -------------------------------------------------------------------
def load_encoder(run: str | os.PathLike) -> tuple[Bert, WordPieceTokenizer]:
    """The encoder and tokenizer of ``run``: ``"minilm"`` (all-MiniLM-L6-v2) or a ``train
    bert`` run (a folder or its checkpoint.npz)."""
    if str(run) == "minilm":
        encoder, tokenizer = load_bert(minilm_path())
        return encoder, tokenizer
    model, tokenizer = load_pretrained(run)
    return model.bert, tokenizer


def task_model(task: str, encoder: Bert, seed: int, *, scratch: bool = False) -> Module:
    """The task's model on ``encoder``'s architecture: its weights copied in, or (``scratch``)
    random ones from the same stream as the head."""
    check_task(task)
    config = encoder.config
    if task == "sentiment":
        model: Module = BertForSequenceClassification(
            dataclasses.replace(config, n_classes=2, pooler=True),
            rng=stream(seed, "task_head_init"))
    elif task == "ner":
        model = BertForTokenClassification(dataclasses.replace(config, n_classes=len(TAGS)),
                                           rng=stream(seed, "task_head_init"))
    else:
        model = BertForQuestionAnswering(config, rng=stream(seed, "task_head_init"))
    if not scratch:
        if task == "sentiment" and not config.pooler:
            raise ValueError("the sentiment head reads the pooler, and this encoder has none")
        model.bert.load_state_dict(encoder.state_dict())
    return model


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")


def task_data(task: str, tokenizer: WordPieceTokenizer, context_length: int,
              n_train: int | None = None, n_val: int | None = None) -> Any:
    """The labelled data of ``task`` (train and held-out "val" splits; seeds fixed)."""
    check_task(task)
    n_train = N_TRAIN[task] if n_train is None else n_train
    n_val = N_VAL[task] if n_val is None else n_val
    if n_train < 2 or n_val < 1:
        raise ValueError(f"need at least 2 training and 1 held-out examples, got {n_train} and "
                         f"{n_val}")
    if task == "sentiment":
        return sentiment_data(tokenizer, n_train, n_val, context_length)
    if task == "ner":
        return NERData({"train": ner_sentences(n_train, "train", seed=1),
                        "val": ner_sentences(n_val, "val", seed=2)}, tokenizer, context_length)
    return QAData({"train": qa_examples(n_train, seed=1), "val": qa_examples(n_val, seed=2)},
                  tokenizer, context_length)


def add_lora(model: Module, task: str, rank: int, alpha: float, seed: int,
             targets: str = "qv") -> list[str]:
    """Put LoRA adapters on the encoder's ``targets`` (``LORA_TARGETS``); returns the names of
    the parameters to train: the adapters and the task head."""
    if targets not in LORA_TARGETS:
        raise ValueError(f"LoRA targets must be one of {', '.join(LORA_TARGETS)}, got {targets!r}")
    pattern, parts = LORA_TARGETS[targets]
    apply_lora(model.bert, pattern, rank, alpha, rng=stream(seed, "lora_init"), parts=parts)
    return [n for n, _ in model.named_parameters()
            if is_adapter(n) or n.startswith(HEADS[task])]


def only_train(trainer: Trainer, names: Sequence[str]) -> None:
    """Give ``trainer`` an AdamW over the named parameters only (the rest stay frozen: not
    updated, not decayed, not in the gradient norm)."""
    keep = set(names)
    groups = []
    for group in param_groups(trainer.model, trainer.config.weight_decay):
        chosen = [(n, p) for n, p in zip(group["names"], group["params"]) if n in keep]
        if chosen:
            groups.append({"params": [p for _, p in chosen], "names": [n for n, _ in chosen],
                           "weight_decay": group["weight_decay"]})
    cfg = trainer.config
    trainer.optimizer = AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


# ---- scores -------------------------------------------------------------------------------------
def _chunks(n: int) -> list[np.ndarray]:
    return [np.arange(i, min(i + EVAL_ROWS, n)) for i in range(0, n, EVAL_ROWS)]


def ner_tags(model: BertForTokenClassification, ids: np.ndarray, segments: np.ndarray,
             attention: np.ndarray, first: Sequence[Sequence[int]]) -> list[list[str]]:
    """Each row's predicted tag per word, read off the word's first WordPiece (eval mode)."""
    with model.evaluating():
        logits, _ = model(ids, segments, attention)                    # (B, T, K)
    best = logits.argmax(-1)                                           # (B, T)
    return [[TAGS[best[b, t]] for t in row] for b, row in enumerate(first)]


def ner_scores(model: BertForTokenClassification, data: NERData, split: str = "val"
               ) -> dict[str, float]:
    """Entity-level precision, recall and F1 (exact span match) on ``split``."""
    gold, pred = [], []
    for index in _chunks(len(data.sentences[split])):
        ids, segments, attention, labels = data.rows(split, index)
        first = [np.flatnonzero(row != IGNORE_INDEX) for row in labels]   # the words' first pieces
        pred += ner_tags(model, ids, segments, attention, first)
        gold += [data.sentences[split][i][1] for i in index]
    return entity_scores(gold, pred)


def qa_spans(model: BertForQuestionAnswering, ids: np.ndarray, segments: np.ndarray,
             attention: np.ndarray, max_answer_length: int = MAX_ANSWER_TOKENS
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best answer span (start, end, score) of each row (eval mode)."""
    with model.evaluating():
        (start, end), _ = model(ids, segments, attention)              # (B, T) each
    return best_span(start, end, context_mask(segments, attention, ids.shape), max_answer_length)


def qa_scores(model: BertForQuestionAnswering, data: QAData, split: str = "val"
              ) -> dict[str, float]:
    """SQuAD exact match and token F1 on ``split``."""
    predictions, golds = [], []
    for index in _chunks(len(data.examples[split])):
        ids, segments, attention, _, _ = data.rows(split, index)
        starts, ends, _ = qa_spans(model, ids, segments, attention)
        for i, s, e in zip(index, starts, ends):
            example, word_of = data.examples[split][i], data.word_of[split][i]
            predictions.append(" ".join(example.context[word_of[s]:word_of[e] + 1]))
            golds.append(example.answer)
    return squad_scores(predictions, golds)


def task_scores(task: str, model: Module, data: Any, split: str = "val") -> dict[str, float]:
    """accuracy (sentiment), precision/recall/f1 (ner) or exact_match/f1 (qa) on ``split``."""
    if task == "sentiment":
        return {"accuracy": accuracy(model, data, split)}
    return ner_scores(model, data, split) if task == "ner" else qa_scores(model, data, split)


# ---- fine-tuning --------------------------------------------------------------------------------
def finetune(run: str | os.PathLike | None, task: str,
             train_config: TrainConfig = FINETUNE_DEFAULTS, *,
             lora_rank: int | None = None, lora_alpha: float = 8.0, lora_targets: str = "qv",
             scratch: bool = False, n_train: int | None = None, n_val: int | None = None,
             out_dir: str | os.PathLike | None = None, quiet: bool = True,
             metrics_out: str | os.PathLike | None = None,
             encoder: tuple[Bert, WordPieceTokenizer] | None = None) -> dict[str, Any]:
    """Fine-tune ``run``'s encoder on ``task`` (``scratch``: the same architecture from random
    weights), fully or (``lora_rank``) through LoRA adapters; score it on the held-out split.

    ``encoder`` passes an already loaded (encoder, tokenizer) of ``run``, to load it once for
    many runs (``run`` may then be None, for an encoder that is not saved anywhere; a LoRA run
    of it cannot be saved). Returns the model, its tokenizer, the scores, the trainable and
    total parameter counts, seconds per step (wall time of the run over its steps, the final
    validation included) and the trainer's metrics; with ``out_dir``, the run is saved there.
    """
    check_task(task)
    if run is None and (encoder is None or (lora_rank is not None and out_dir is not None)):
        raise ValueError("finetune needs run (a train-bert run or 'minilm'), unless an encoder "
                         "is given and no LoRA run is saved")
    if lora_rank is not None and (isinstance(lora_rank, bool) or lora_rank < 1):
        raise ValueError(f"the LoRA rank must be >= 1 (--lora R), got {lora_rank}")
    base, tokenizer = load_encoder(run) if encoder is None else encoder
    data = task_data(task, tokenizer, base.config.context_length, n_train, n_val)
    model = task_model(task, base, train_config.seed, scratch=scratch)
    trainable = [n for n, _ in model.named_parameters()]
    if lora_rank is not None:
        trainable = add_lora(model, task, lora_rank, lora_alpha, train_config.seed, lora_targets)
    full = lora_rank is None and out_dir is not None
    trainer = Trainer(model, data, train_config, out_dir=out_dir, tokenizer=tokenizer,
                      family=FAMILY[task] if full else None, quiet=quiet, metrics_out=metrics_out)
    only_train(trainer, trainable)
    started = time.perf_counter()
    metrics = trainer.run()
    seconds = time.perf_counter() - started
    shapes = dict(model.named_parameters())
    n_trainable = sum(shapes[n].data.size for n in trainable)
    result = {"task": task, "run": str(run), "scratch": scratch, "lora_rank": lora_rank,
              "lora_alpha": lora_alpha if lora_rank else None, "lora_targets":
              lora_targets if lora_rank else None, "steps": train_config.steps,
              "scores": task_scores(task, model, data) if not metrics["stopped_early"] else {},
              "trainable_params": n_trainable, "total_params": model.num_parameters(),
              "trainable_share": n_trainable / model.num_parameters(),
              "seconds_per_step": seconds / max(metrics["steps_done"], 1),
              "stopped_early": metrics["stopped_early"]}
    trainer.write_metrics({**metrics, **result})
    if lora_rank is not None and out_dir is not None:
        save_adapters(Path(out_dir) / ADAPTERS_NAME, model, trainable, result)
    return {**result, "model": model, "tokenizer": tokenizer}


def save_adapters(path: Path, model: Module, names: Sequence[str], result: dict[str, Any]) -> None:
    """Write only the trained parameters (adapters and head) and how to rebuild the rest."""
    params = dict(model.named_parameters())
    meta = {key: result[key] for key in ("task", "run", "lora_rank", "lora_alpha", "lora_targets")}
    meta["run"] = meta["run"] if meta["run"] == "minilm" else str(Path(meta["run"]).resolve())
    arrays = {f"param/{n}": params[n].data for n in names}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))


def load_finetuned(run: str | os.PathLike) -> tuple[Module, WordPieceTokenizer, str]:
    """A fine-tuned run's (model in eval mode, tokenizer, task): a folder (or file) holding a
    full ``checkpoint.npz`` or a LoRA run's ``adapters.npz`` (whose base run is loaded too)."""
    path = Path(run)
    adapters = path if path.name == ADAPTERS_NAME else path / ADAPTERS_NAME
    if adapters.is_file():
        with np.load(adapters, allow_pickle=False) as f:
            meta = json.loads(bytes(f["meta"]).decode("utf-8"))
            state = {k.removeprefix("param/"): f[k] for k in f.files if k.startswith("param/")}
        task = meta["task"]
        encoder, tokenizer = load_encoder(meta["run"])
        model = task_model(task, encoder, 0)
        add_lora(model, task, meta["lora_rank"], meta["lora_alpha"], 0, meta["lora_targets"])
        load_lora_state_dict(model, {k: v for k, v in state.items() if is_adapter(k)})
        params = dict(model.named_parameters())
        for name, value in state.items():
            if not is_adapter(name):
                params[name].data[...] = value
        return model.eval(), tokenizer, task
    if not (path.is_file() or (path / CHECKPOINT_NAME).is_file()):
        raise FileNotFoundError(f"{path} is not a fine-tuned BERT run: no {CHECKPOINT_NAME} or "
                                f"{ADAPTERS_NAME} (make one with `minifm finetune-bert`)")
    ckpt = load_checkpoint(path)
    if ckpt.family not in TASK_OF_FAMILY:
        raise ValueError(f"{path} holds a {ckpt.family!r} model, not a fine-tuned BERT "
                         f"({', '.join(TASK_OF_FAMILY)})")
    return ckpt.build_model().eval(), ckpt.require_tokenizer(), TASK_OF_FAMILY[ckpt.family]


# ---- using a fine-tuned model -------------------------------------------------------------------
def _words(tokenizer: WordPieceTokenizer, text: str, what: str) -> list[str]:
    words = tokenizer.basic.tokenize(text)
    if not words:
        raise ValueError(f"the {what} is empty")
    return words


def tag_text(model: BertForTokenClassification, tokenizer: WordPieceTokenizer, text: str
             ) -> list[tuple[str, str]]:
    """The entities of ``text`` as (kind, words), in order."""
    words = _words(tokenizer, text, "text")
    ids, _, first = encode_tagged(tokenizer, words, None, model.config.context_length)
    ids_arr = np.array([ids], np.int64)
    tags = ner_tags(model, ids_arr, np.zeros_like(ids_arr), np.ones_like(ids_arr), [first])[0]
    return [(kind, " ".join(words[a:b])) for kind, a, b in bio_entities(tags)]


def answer_question(model: BertForQuestionAnswering, tokenizer: WordPieceTokenizer,
                    context: str, question: str, max_answer_length: int = MAX_ANSWER_TOKENS
                    ) -> tuple[str, float]:
    """The best answer span of ``context`` for ``question`` and its score (start + end logit)."""
    words = _words(tokenizer, context, "context")
    ids, segments, word_of, _ = encode_qa(tokenizer, question, words, model.config.context_length)
    ids_arr, seg_arr = np.array([ids], np.int64), np.array([segments], np.int64)
    starts, ends, scores = qa_spans(model, ids_arr, seg_arr, np.ones_like(ids_arr),
                                    max_answer_length)
    first, last = word_of[starts[0]], word_of[ends[0]]
    return " ".join(words[first:last + 1]), float(scores[0])


def compare_transfer(run: str | os.PathLike | None, task: str, seeds: Sequence[int] = (0, 1, 2),
                     train_config: TrainConfig = FINETUNE_DEFAULTS, *,
                     encoder: tuple[Bert, WordPieceTokenizer] | None = None, **kwargs: Any
                     ) -> dict[str, Any]:
    """Fine-tune ``run``'s encoder (or the given ``encoder``) and the same architecture from
    scratch, per seed (same data, steps and hyperparameters; ``kwargs`` go to ``finetune``);
    returns the scores of each and their means."""
    encoder = load_encoder(run) if encoder is None else encoder
    out: dict[str, Any] = {"seeds": list(seeds), "pretrained": [], "scratch": []}
    for seed in seeds:
        config = dataclasses.replace(train_config, seed=seed)
        for name in ("pretrained", "scratch"):
            result = finetune(run, task, config, scratch=name == "scratch", encoder=encoder,
                              **kwargs)
            out[name].append(result["scores"])
    for name in ("pretrained", "scratch"):
        out[f"{name}_mean"] = {k: float(np.mean([s[k] for s in out[name]]))
                               for k in out[name][0]}
    return out
