"""``minifm train gpt``, ``sample`` and ``finetune`` (minifm/cli/gpt.py) end to end on tiny
models."""

import json
import re

import pytest

from minifm.cli.main import main
from minifm.training.checkpoint import load_checkpoint

TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--context-length", "16",
        "--batch-size", "4", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny GPT trained for 20 steps on the grammar corpus."""
    out = tmp_path_factory.mktemp("gpt")
    assert main(["train", "gpt", "--steps", "20", "--eval-interval", "10", "--out", str(out)]
                + TINY) == 0
    return out


def test_train_gpt_writes_checkpoint_tokenizer_plot_and_metrics(trained):
    for name in ("checkpoint.npz", "tokenizer.json", "loss.png", "metrics.json"):
        assert (trained / name).is_file(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["steps_done"] == 20
    ckpt = load_checkpoint(trained, family="gpt")
    assert ckpt.model_config["n_layer"] == 1 and ckpt.model_config["context_length"] == 16
    assert ckpt.tokenizer["type"] == "char"


def test_sample_continues_the_prompt_reproducibly(trained, capsys):
    args = ["sample", str(trained), "--prompt", "the cat", "--max-new-tokens", "12",
            "--top-k", "5", "--top-p", "0.9", "--seed", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("the cat") and len(first) == len("the cat") + 12 + 1   # + newline
    assert main(args) == 0
    assert capsys.readouterr().out == first


def test_greedy_sampling_is_the_same_with_and_without_the_cache(trained, capsys):
    args = ["sample", str(trained), "--prompt", "the", "--max-new-tokens", "20",
            "--temperature", "0", "--num-samples", "2"]
    assert main(args) == 0
    cached = capsys.readouterr().out
    assert main(args + ["--no-cache"]) == 0
    assert capsys.readouterr().out == cached
    assert cached.count("-" * 40) == 1                          # two samples, one separator


def test_train_on_a_text_file_with_bpe(tmp_path):
    data = tmp_path / "input.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["train", "gpt", "--data", str(data), "--tokenizer", "bpe", "--vocab-size", "270",
                 "--steps", "3", "--out", str(out)] + TINY) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.tokenizer["type"] == "bpe" and ckpt.model_config["vocab_size"] == 270


def test_resume_continues_to_the_new_step_count(trained, tmp_path):
    out = tmp_path / "resumed"
    assert main(["train", "gpt", "--resume", str(trained), "--steps", "25", "--out", str(out),
                 "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps_done"] == 25


def test_train_prints_the_corpus_score(tmp_path, capsys):
    assert main(["train", "gpt", "--corpus", "arithmetic", "--digits", "1", "--steps", "2",
                 "--out", str(tmp_path)] + TINY[:-1]) == 0
    out = capsys.readouterr().out
    assert "exact-match accuracy:" in out and "sample:" in out
    assert "(chance 5.3%)" in out                 # one guess among the 19 sums 0..18


def test_block_size_still_sets_the_context_length(tmp_path):
    """``--block-size`` is the old spelling of ``--context-length`` and keeps working."""
    assert main(["train", "gpt", "--block-size", "12", "--n-layer", "1", "--n-embd", "16",
                 "--steps", "1", "--batch-size", "4", "--quiet", "--out", str(tmp_path)]) == 0
    assert load_checkpoint(tmp_path).model_config["context_length"] == 12


@pytest.mark.parametrize("argv, message", [
    (["train", "gpt", "--data", "missing.txt"], "missing.txt"),
    (["train", "gpt", "--data", "x.txt", "--corpus", "grammar"], "not allowed with"),
    (["train", "gpt", "--corpus", "poetry"], "invalid choice"),
    (["train", "gpt", "--steps", "many"], "invalid int"),
    (["train", "gpt", "--vocab-size", "300"], "--vocab-size applies to --tokenizer bpe"),
    (["train", "gpt", "--tokenizer", "bpe", "--vocab-size", "100"], "at least 256"),
    (["train", "gpt", "--preset", "gpt3-175b"], "for counting"),
    (["train", "gpt", "--n-embd", "30", "--n-head", "4"], "divisible"),
    (["train", "gpt", "--context-length", "100000"], "too short for context_length=100000"),
    (["sample", "no/such/dir"], "checkpoint not found"),
    (["finetune", "no/such/dir", "--corpus", "agreement"], "checkpoint not found"),
])
def test_bad_usage_exits_with_code_2_and_one_error_line(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_input_to_a_trained_model_exits_with_code_2(trained, tmp_path, capsys):
    cases = [
        (["sample", str(trained), "--prompt", "THE"], "not in the vocabulary"),
        (["sample", str(trained), "--prompt", ""], "prompt is empty"),
        (["sample", str(trained), "--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
        (["train", "gpt", "--resume", str(trained), "--n-layer", "3"], "cannot change"),
        (["finetune", str(trained)], "needs the new data"),
        (["finetune", str(trained), "--corpus", "arithmetic"], "pre-trained tokenizer"),
        (["finetune", str(trained), "--corpus", "agreement", "--resume", str(trained)],
         "train gpt --resume"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not (tmp_path / "out").exists()


def test_finetuning_a_pretrained_model_beats_training_from_scratch(tmp_path):
    """Pre-train on the grammar corpus, then learn the agreement-judgement task: after the same
    100 steps the fine-tuned model's validation loss is far below a fresh model's."""
    size = ["--n-layer", "2", "--n-embd", "48", "--n-head", "2", "--context-length", "48",
            "--batch-size", "16", "--quiet"]
    pre, tuned, scratch = tmp_path / "pre", tmp_path / "tuned", tmp_path / "scratch"
    assert main(["train", "gpt", "--corpus", "grammar", "--steps", "300", "--out", str(pre)]
                + size) == 0
    task = ["--corpus", "agreement", "--steps", "100", "--lr", "1e-3", "--eval-interval", "100",
            "--eval-batches", "20", "--quiet"]
    assert main(["finetune", str(pre), "--out", str(tuned)] + task) == 0
    assert main(["train", "gpt", "--out", str(scratch)] + task + size[:-3]) == 0
    val = {name: json.loads((d / "metrics.json").read_text())["final_val_loss"]
           for name, d in (("tuned", tuned), ("scratch", scratch))}
    # measured: tuned ~1.1, scratch ~2.2 nats per character
    assert val["tuned"] < val["scratch"] - 0.5, val
    assert load_checkpoint(tuned).tokenizer == load_checkpoint(pre).tokenizer


def test_finetune_on_labels_reports_accuracy_next_to_chance_and_scratch(tmp_path, capsys):
    """``finetune --task agreement --compare``: the loss on the label only; the accuracy is
    printed with chance and the from-scratch baseline, and saved with them in metrics.json."""
    pre, out = tmp_path / "pre", tmp_path / "labels"
    assert main(["train", "gpt", "--steps", "2", "--out", str(pre)] + TINY[:6]
                + ["--context-length", "64", "--batch-size", "4", "--quiet"]) == 0
    assert main(["finetune", str(pre), "--task", "agreement", "--compare", "--steps", "3",
                 "--batch-size", "4", "--eval-batches", "1", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"fine-tuning the GPT of {pre}") and "label only" in lines[0]
    assert re.fullmatch(r"agreement accuracy on \d+ held-out sentences: fine-tuned [\d.]+%, "
                        r"from scratch [\d.]+% \(chance [\d.]+%\)", lines[-2]), lines[-2]
    assert lines[-1] == f"saved to {out}/ (checkpoint.npz, tokenizer.json, loss.png, metrics.json)"
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.5 <= metrics["chance"] < 0.6 and 0 <= metrics["scratch"]["val_accuracy"] <= 1
    assert main(["finetune", str(pre), "--task", "agreement", "--corpus", "grammar"]) == 2
    assert "give --task or --data/--corpus, not both" in capsys.readouterr().err
    assert main(["finetune", str(pre), "--corpus", "grammar", "--compare"]) == 2
    assert "--compare applies to --task" in capsys.readouterr().err
