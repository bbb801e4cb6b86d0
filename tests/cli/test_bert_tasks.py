"""``minifm finetune-bert --task ner|qa [--lora R]``, ``minifm ner`` and ``minifm qa``
(minifm/cli/bert_tasks.py) end to end on a tiny pre-trained BERT, and their one-line errors."""

import json

import pytest

from minifm.cli.main import main

TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--n-inner", "32",
        "--documents", "300", "--batch-size", "4", "--quiet"]
QUICK = ["--steps", "4", "--batch-size", "4", "--labelled", "8", "--held-out", "4", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bert")
    assert main(["train", "bert", "--steps", "5", "--eval-interval", "5", "--out", str(out)]
                + TINY) == 0
    return out


@pytest.fixture(scope="module")
def ner_run(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("ner")
    assert main(["finetune-bert", str(trained), "--task", "ner", "--out", str(out)] + QUICK) == 0
    return out


def test_finetune_ner_writes_a_checkpoint_and_metrics_with_scores(ner_run, capsys):
    assert (ner_run / "checkpoint.npz").is_file()
    metrics = json.loads((ner_run / "metrics.json").read_text())
    assert set(metrics["scores"]) == {"precision", "recall", "f1"} and metrics["steps_done"] == 4


def test_ner_prints_entities_of_the_text(ner_run, capsys):
    assert main(["ner", str(ner_run), "olga works at initech ."]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ["no entities found"] or all(
        line.split()[0] in {"PER", "LOC", "ORG", "DATE"} for line in lines)


def test_finetune_qa_with_lora_saves_adapters_and_qa_answers(trained, tmp_path, capsys):
    out = tmp_path / "qa"
    assert main(["finetune-bert", str(trained), "--task", "qa", "--lora", "2", "--out", str(out)]
                + QUICK) == 0
    printed = capsys.readouterr().out
    assert "LoRA rank 2" in printed and "exact_match" in printed
    assert (out / "adapters.npz").is_file() and not (out / "checkpoint.npz").exists()
    context = "tom wakes up early . for lunch tom eats soup ."
    assert main(["qa", str(out), "--context", context, "--question",
                 "what does tom eat for lunch ?"]) == 0
    answer = capsys.readouterr().out.split("answer: ")[1].split("  (score")[0]
    assert answer in context


def test_compare_writes_transfer_json(trained, tmp_path, capsys):
    assert main(["finetune-bert", str(trained), "--task", "ner", "--compare", "--seeds", "0",
                 "--out", str(tmp_path)] + QUICK) == 0
    result = json.loads((tmp_path / "transfer.json").read_text())
    assert set(result["pretrained_mean"]) == {"precision", "recall", "f1"}
    assert "from scratch" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--task", "ner", "--lora", "0"], "--lora must be >= 1, got 0"),
    (["--task", "pos"], "invalid choice: 'pos'"),
])
def test_finetune_errors_are_one_line(trained, capsys, argv, message):
    assert main(["finetune-bert", str(trained)] + argv + QUICK) == 2
    assert message in capsys.readouterr().err


def test_ner_and_qa_errors_are_one_line(trained, ner_run, tmp_path, capsys):
    assert main(["qa", str(ner_run), "--context", "soup .", "--question", "what ?"]) == 2
    assert "fine-tuned for ner, not qa" in capsys.readouterr().err
    assert main(["ner", str(tmp_path), "olga"]) == 2
    assert "not a fine-tuned BERT run" in capsys.readouterr().err
    assert main(["ner", str(ner_run), "   "]) == 2
    assert "minifm: error: the text is empty" in capsys.readouterr().err
    assert main(["ner", str(ner_run), "olga " * 70]) == 2
    assert "the model reads at most 64" in capsys.readouterr().err
