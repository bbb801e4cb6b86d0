"""``minifm train bert``, ``fill-mask`` and ``finetune-bert`` (minifm/cli/bert.py) end to end on
tiny models: the files they write, resuming, the old flag spelling, and one-line errors."""

import json

import numpy as np
import pytest

from minifm.cli.main import main
from minifm.models.bert import BertForPreTraining, BertForSequenceClassification
from minifm.training.checkpoint import load_checkpoint

TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--n-inner", "32",
        "--documents", "60", "--batch-size", "4", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BERT pre-trained for 20 steps on 60 stories."""
    out = tmp_path_factory.mktemp("bert")
    assert main(["train", "bert", "--steps", "20", "--eval-interval", "10", "--out", str(out)]
                + TINY) == 0
    return out


def test_train_bert_writes_checkpoint_tokenizer_plot_and_metrics(trained):
    for name in ("checkpoint.npz", "tokenizer.json", "loss.png", "metrics.json"):
        assert (trained / name).is_file(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["steps_done"] == 20
    # the held-out accuracies are judged after training and land in the same record
    assert 0 <= metrics["mlm_accuracy"] <= 1 and 0 <= metrics["nsp_accuracy"] <= 1
    ckpt = load_checkpoint(trained, family="bert")
    assert ckpt.model_config["n_layer"] == 1 and ckpt.model_config["n_inner"] == 32
    assert ckpt.model_config["context_length"] == 64 and "max_len" not in ckpt.model_config
    assert ckpt.tokenizer["type"] == "wordpiece"
    model = ckpt.build_model()
    assert isinstance(model, BertForPreTraining)
    assert ckpt.model_config["vocab_size"] == ckpt.build_tokenizer().vocab_size


def test_resume_continues_to_the_new_step_count(trained, tmp_path):
    out = tmp_path / "resumed"
    assert main(["train", "bert", "--resume", str(trained), "--steps", "25", "--out", str(out),
                 "--documents", "60", "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps_done"] == 25
    assert (out / "loss.png").is_file() and (out / "tokenizer.json").is_file()


@pytest.mark.parametrize("flag", ["--context-length", "--max-len"])
def test_context_length_sets_the_position_table_and_max_len_still_works(flag, tmp_path):
    """``--max-len`` is the old spelling of ``--context-length`` and keeps working."""
    assert main(["train", "bert", flag, "40", "--steps", "1", "--out", str(tmp_path)]
                + TINY) == 0
    ckpt = load_checkpoint(tmp_path, family="bert")
    assert ckpt.model_config["context_length"] == 40
    assert ckpt.params["bert.wpe.weight"].shape == (40, 16)


def test_fill_mask_prints_top_k_guesses_per_mask(trained, capsys):
    assert main(["fill-mask", str(trained), "the [MASK] barks .", "--pair", "tom feeds his [MASK] .",
                 "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("[MASK] 1: ") and lines[1].count("%") == 3


def test_finetune_bert_saves_a_classifier_and_reports_accuracy(trained, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(["finetune-bert", str(trained), "--steps", "5", "--labelled", "8",
                 "--held-out", "20", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "held-out sentences with unseen adjectives" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps_done"] == 5 and f"{metrics['val_accuracy']:.1%}" in printed
    assert f"{metrics['train_accuracy']:.1%}" in printed and (out / "loss.png").is_file()
    ckpt = load_checkpoint(out, family="bert-classifier")
    model = ckpt.build_model()
    assert isinstance(model, BertForSequenceClassification) and model.config.n_classes == 2
    pretrained = load_checkpoint(trained, family="bert").params
    assert not np.array_equal(ckpt.params["bert.wte.weight"], pretrained["bert.wte.weight"])


def test_finetune_bert_starts_from_the_pretrained_encoder(trained, tmp_path):
    """With a learning rate of ~0 the fine-tuned encoder is the pre-trained one; --scratch is not."""
    pretrained = load_checkpoint(trained, family="bert").params["bert.h.0.attn.c_attn.weight"]
    for flag, same in (([], True), (["--scratch"], False)):
        out = tmp_path / f"run{len(flag)}"
        assert main(["finetune-bert", str(trained), "--steps", "1", "--lr", "1e-12",
                     "--labelled", "4", "--held-out", "4", "--out", str(out), "--quiet"]
                    + flag) == 0
        weights = load_checkpoint(out).params["bert.h.0.attn.c_attn.weight"]
        assert np.allclose(weights, pretrained, atol=1e-9) == same


def test_finetune_bert_compare_writes_transfer_json(trained, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["finetune-bert", str(trained), "--compare", "--seeds", "0", "1", "--steps", "3",
                 "--labelled", "4", "--held-out", "10", "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "transfer.json").read_text())
    assert result["seeds"] == [0, 1] and len(result["pretrained"]) == len(result["scratch"]) == 2
    assert result["margin"] == pytest.approx(np.mean(result["pretrained"]) - np.mean(result["scratch"]))
    assert "margin" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "bert", "--preset", "huge"], "invalid choice"),
    (["train", "bert", "--n-embd", "10", "--n-head", "4", "--documents", "60"], "divisible"),
    (["train", "bert", "--context-length", "8", "--documents", "60", "--steps", "1"],
     "longest sentence pair has"),
    (["train", "bert", "--max-len", "8", "--documents", "60", "--steps", "1"],
     "but context_length is 8"),
    (["fill-mask", "missing_dir", "a [MASK] ."], "missing_dir"),
])
def test_bad_usage_exits_with_code_2_and_one_error_line(argv, message, capsys, tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]       # argparse prints usage first
    assert last.startswith("minifm") and "error:" in last and message in last


def test_bad_input_to_a_trained_model_exits_with_code_2(trained, capsys):
    assert main(["fill-mask", str(trained), "no blank here ."]) == 2
    assert "no [MASK] token" in capsys.readouterr().err
    assert main(["fill-mask", str(trained), "a [MASK] .", "--top-k", "0"]) == 2
    assert "--top-k must be >= 1" in capsys.readouterr().err
    assert main(["finetune-bert", str(trained), "--labelled", "1"]) == 2
    assert "--labelled must be >= 2" in capsys.readouterr().err
    assert main(["finetune-bert", str(trained), "--resume", str(trained)]) == 2
    assert "finetune-bert starts from CHECKPOINT" in capsys.readouterr().err
    assert main(["train", "bert", "--resume", str(trained), "--n-layer", "3"]) == 2
    assert "cannot change when resuming" in capsys.readouterr().err
    assert main(["train", "bert", "--resume", str(trained), "--max-len", "32"]) == 2
    assert "--context-length cannot change when resuming" in capsys.readouterr().err
