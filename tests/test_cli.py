"""The command-line frame (minifm/cli/main.py): help, bad flags, errors as one line + exit code
2, the families' commands."""

import argparse
import subprocess
import sys
import types

import pytest

from minifm.cli import common
from minifm.cli import main as cli
from minifm.training.trainer import TrainConfig


@pytest.fixture
def fake_family(monkeypatch):
    """Register a family module "fake" that records the args it was run with."""
    family = types.ModuleType("fake_family", "Train a fake model (for tests).")
    family.calls = []

    def add_train_arguments(parser):
        parser.add_argument("--data", required=True)

    def train(args):
        family.calls.append(args)
        if args.data == "missing.txt":
            raise FileNotFoundError(2, "No such file or directory", "missing.txt")
        if args.data == "bad":
            raise ValueError("the data file is empty")
        return 0

    def greet(args):
        """Say hello (a command contributed by a family)."""
        family.calls.append(args)
        return 0

    family.add_train_arguments, family.train = add_train_arguments, train
    family.COMMANDS = {"greet": (lambda p: p.add_argument("name"), greet)}
    monkeypatch.setitem(cli.FAMILIES, "fake", family)
    return family


def test_help_lists_the_commands(fake_family, capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "train" in out and "greet" in out and "Say hello" in out
    assert cli.main(["train", "--help"]) == 0
    assert "fake" in capsys.readouterr().out


def test_help_of_the_installed_families(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "sample", "finetune", "tour"):
        assert command in out
    assert cli.main(["train", "gpt", "--help"]) == 0
    assert "--data" in capsys.readouterr().out


def test_python_dash_m_minifm_exits_2_on_a_bad_flag():
    result = subprocess.run([sys.executable, "-m", "minifm", "train", "gpt", "--no-such-flag"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in result.stderr


def test_every_train_command_has_the_common_flags(fake_family, capsys):
    assert cli.main(["train", "fake", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--steps", "--batch-size", "--lr", "--out", "--seed", "--quiet",
                 "--metrics-out", "--resume", "--eval-interval", "--data"):
        assert flag in out


def test_train_runs_the_family_with_parsed_flags(fake_family):
    assert cli.main(["train", "fake", "--data", "x.txt", "--steps", "7", "--quiet"]) == 0
    (args,) = fake_family.calls
    assert args.data == "x.txt" and args.steps == 7 and args.quiet and args.lr is None


def test_family_commands_are_top_level(fake_family):
    assert cli.main(["greet", "world"]) == 0
    assert fake_family.calls[0].name == "world"


@pytest.mark.parametrize("argv", [["train", "fake", "--data", "x", "--stepz", "3"],
                                  ["train", "fake", "--data", "x", "--steps", "three"],
                                  ["train", "nofamily"], []])
def test_bad_flags_exit_with_code_2(fake_family, capsys, argv):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.parametrize("data, message", [
    ("missing.txt", "minifm: error: No such file or directory: missing.txt"),
    ("bad", "minifm: error: the data file is empty"),
])
def test_family_errors_become_one_line_and_exit_code_2(fake_family, capsys, data, message):
    assert cli.main(["train", "fake", "--data", data]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_two_families_cannot_claim_the_same_command(fake_family, monkeypatch):
    monkeypatch.setitem(cli.FAMILIES, "fake2", fake_family)
    with pytest.raises(RuntimeError, match="two families define the command 'greet'"):
        cli.build_parser()


def _args(**given) -> argparse.Namespace:
    flags = {name: None for name in ("steps", "batch_size", "lr", "min_lr", "warmup_steps",
                                     "weight_decay", "grad_clip", "eval_interval",
                                     "eval_batches", "seed")}
    return argparse.Namespace(**{**flags, **given})


def test_train_config_from_args_applies_only_given_flags():
    base = TrainConfig(steps=100, lr=1e-3, min_lr=1e-4, grad_clip=1.0)
    config = common.train_config_from_args(_args(steps=5, lr=4e-3, seed=9), base)
    assert (config.steps, config.lr, config.seed) == (5, 4e-3, 9)
    assert config.min_lr == pytest.approx(4e-4)              # keeps min_lr / lr = 0.1
    assert config.batch_size == base.batch_size and config.grad_clip == 1.0
    assert common.train_config_from_args(_args(grad_clip=0.0), base).grad_clip is None
    assert common.train_config_from_args(_args(lr=1e-2, min_lr=0.0), base).min_lr == 0.0
    assert common.train_config_from_args(_args()) == TrainConfig()


def test_gpt_train_with_a_missing_data_file_is_one_clear_line(capsys, tmp_path):
    missing = tmp_path / "no_such.txt"
    assert cli.main(["train", "gpt", "--data", str(missing), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minifm: error: ") and str(missing) in err
