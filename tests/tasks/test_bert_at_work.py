"""BERT at work end to end on a tiny pre-trained BERT: fine-tuning each task fully and with LoRA
(only adapters and head move, only they are saved), loading a run back, tagging, answering,
the scores, and the real MiniLM (slow)."""

import dataclasses

import numpy as np
import pytest

from minifm.nn.lora import is_adapter, lora_layers
from minifm.pretrained import minilm_path
from minifm.tasks.bert import pretrain
from minifm.tasks.bert_at_work import (ADAPTERS_NAME, answer_question, finetune,
                                       load_encoder, load_finetuned, tag_text, task_data,
                                       task_model)
from minifm.training.checkpoint import save_checkpoint
from minifm.training.optim import AdamW
from minifm.training.trainer import TrainConfig

QUICK = TrainConfig(steps=6, batch_size=4, lr=1e-3, warmup_steps=1, eval_interval=6,
                    eval_batches=1)
SMALL = dict(n_layer=1, n_embd=16, n_head=2, n_inner=32)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny BERT pre-trained for 10 steps, saved as a `train bert` run."""
    model, tokenizer, _ = pretrain(TrainConfig(steps=10, batch_size=4, eval_interval=10,
                                               eval_batches=1), n_documents=300, **SMALL)
    out = tmp_path_factory.mktemp("bert")
    save_checkpoint(out / "checkpoint.npz", model=model, optimizer=AdamW(model.parameters(), 1e-3),
                    step=10, rng=np.random.default_rng(0), train_config=None,
                    tokenizer=tokenizer, family="bert")
    return out


@pytest.mark.parametrize("task,keys", [("sentiment", {"accuracy"}),
                                       ("ner", {"precision", "recall", "f1"}),
                                       ("qa", {"exact_match", "f1"})])
def test_full_finetuning_saves_a_checkpoint_that_loads_back(run, tmp_path, task, keys):
    result = finetune(run, task, QUICK, n_train=8, n_val=4, out_dir=tmp_path)
    assert set(result["scores"]) == keys
    assert all(0.0 <= v <= 1.0 for v in result["scores"].values())
    assert result["trainable_share"] == 1.0 and result["seconds_per_step"] > 0
    model, _, loaded_task = load_finetuned(tmp_path)
    assert loaded_task == task
    for (name, p), (_, q) in zip(model.named_parameters(), result["model"].named_parameters()):
        assert np.array_equal(p.data, q.data), name


@pytest.mark.parametrize("task", ["ner", "qa"])
def test_lora_trains_only_adapters_and_head_and_saves_only_them(run, tmp_path, task):
    encoder, _ = load_encoder(run)
    start = task_model(task, encoder, QUICK.seed)             # the head before training
    result = finetune(run, task, QUICK, lora_rank=2, n_train=8, n_val=4, out_dir=tmp_path)
    model = result["model"]
    assert 0 < result["trainable_share"] < 0.2
    assert set(lora_layers(model.bert)) == {"h.0.attn.c_attn"}
    frozen = encoder.state_dict()
    for name, p in model.bert.named_parameters():
        if not is_adapter(name):
            assert np.array_equal(p.data, frozen[name]), name   # the encoder did not move
    head = "classifier" if task == "ner" else "qa_outputs"
    assert not np.array_equal(getattr(model, head).weight.data, getattr(start, head).weight.data)
    assert not (tmp_path / "checkpoint.npz").exists()
    with np.load(tmp_path / ADAPTERS_NAME) as f:
        saved = {k.removeprefix("param/") for k in f.files if k != "meta"}
    assert saved == {"bert.h.0.attn.c_attn.lora_A", "bert.h.0.attn.c_attn.lora_B",
                     f"{head}.weight", f"{head}.bias"}
    loaded, _, loaded_task = load_finetuned(tmp_path)
    assert loaded_task == task
    for (name, p), (_, q) in zip(loaded.named_parameters(), model.named_parameters()):
        assert np.array_equal(p.data, q.data), name


def test_tag_text_and_answer_question_give_spans_of_the_input(run, tmp_path):
    ner = finetune(run, "ner", QUICK, n_train=8, n_val=4)
    for kind, words in tag_text(ner["model"], ner["tokenizer"], "olga works at initech ."):
        assert kind in {"PER", "LOC", "ORG", "DATE"} and words in "olga works at initech ."
    qa = finetune(run, "qa", QUICK, n_train=8, n_val=4)
    context = "tom wakes up early . for lunch tom eats soup ."
    answer, score = answer_question(qa["model"], qa["tokenizer"], context,
                                    "what does tom eat for lunch ?")
    assert answer and answer in context and np.isfinite(score)


def test_bad_input_is_refused_clearly(run, tmp_path):
    qa = finetune(run, "qa", QUICK, n_train=8, n_val=4)
    model, tokenizer = qa["model"], qa["tokenizer"]
    with pytest.raises(ValueError, match="context is empty"):
        answer_question(model, tokenizer, "  ", "what ?")
    with pytest.raises(ValueError, match="at most 64"):
        answer_question(model, tokenizer, "soup .", "what " * 70 + "?")
    with pytest.raises(ValueError, match="task must be one of sentiment, ner, qa"):
        finetune(run, "pos", QUICK)
    with pytest.raises(ValueError, match="LoRA rank must be >= 1"):
        finetune(run, "ner", QUICK, lora_rank=0)
    with pytest.raises(FileNotFoundError, match="not a fine-tuned BERT run"):
        load_finetuned(tmp_path)
    with pytest.raises(ValueError, match="holds a 'bert' model"):
        load_finetuned(run)
    with pytest.raises(ValueError, match="at least 2 training"):
        task_data("ner", tokenizer, 64, n_train=1)


try:
    MINILM_MISSING = not bool(minilm_path())
except FileNotFoundError:
    MINILM_MISSING = True


@pytest.mark.slow
@pytest.mark.skipif(MINILM_MISSING, reason="the all-MiniLM-L6-v2 package is not installed")
def test_minilm_finetunes_with_lora_in_numpy(tmp_path):
    # a few steps of the real 22M-parameter encoder: its WordPieces, its weights, minifm's backward
    config = TrainConfig(steps=3, batch_size=4, lr=1e-3, warmup_steps=1, eval_interval=3,
                         eval_batches=1)
    result = finetune("minilm", "qa", config, lora_rank=4, n_train=8, n_val=4, out_dir=tmp_path)
    assert result["total_params"] > 22_000_000
    # rank 4 on q and v of 6 layers: 6 x 4 x (384 + 768) adapters plus the 384 x 2 + 2 head
    assert result["trainable_params"] == 6 * 4 * (384 + 768) + 384 * 2 + 2
    assert set(result["scores"]) == {"exact_match", "f1"}
    model, _, task = load_finetuned(tmp_path)
    assert task == "qa" and model.config.n_embd == 384
