"""minifm/cli/flags.py: every numeric flag of every command is range-checked while parsing, in
the flag's own terms; --help shows the defaults (the family's, for training) and N / X
metavars; a usage mistake is one line and exit code 2."""

import argparse
import subprocess
import sys

import pytest

from minifm.cli.flags import integer, real
from minifm.cli.main import build_parser, main


def _parsers(parser=None, seen=None):
    """Every parser of the command line (the top one, each command, each train FAMILY)."""
    parser = parser or build_parser()
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def test_every_numeric_flag_is_typed_by_cli_flags():
    for parser in _parsers():
        for action in parser._actions:
            assert action.type not in (int, float), (parser.prog, action.option_strings)


@pytest.mark.parametrize("argv, message", [
    (["train", "gpt", "--steps", "0"], "minifm train gpt: error: --steps must be >= 1, got 0"),
    (["train", "clip", "--lr", "0"], "minifm train clip: error: --lr must be > 0, got 0"),
    (["train", "bert", "--warmup-steps", "-1"], "--warmup-steps must be >= 0, got -1"),
    (["train", "dalle", "--grad-clip", "nan"], "--grad-clip must be a finite number >= 0, got nan"),
    (["sample", "x", "--temperature", "-1"], "minifm sample: error: --temperature must be >= 0"),
    (["sample", "x", "--top-k", "0"], "--top-k must be >= 1, got 0"),
    (["sample", "x", "--top-p", "0"], "--top-p must be in (0, 1], got 0"),
    (["generate", "x", "--caption", "a", "--top-p", "2"], "--top-p must be in (0, 1], got 2"),
    (["train", "gpt", "--val-fraction", "1"], "--val-fraction must be in (0, 1), got 1"),
    (["train", "gpt", "--dropout", "1"], "--dropout must be in [0, 1), got 1"),
    (["finetune", "x", "--corpus", "agreement", "--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_out_of_range_flags_are_refused_in_flag_terms_on_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "TrainConfig" not in err


def test_a_cross_flag_mistake_is_said_in_flag_terms(capsys, tmp_path):
    assert main(["train", "gpt", "--lr", "1e-3", "--min-lr", "1e-2", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "minifm: error: --min-lr must lie in [0, lr=0.001], got 0.01\n"


def test_types_parse_and_bound():
    assert integer(1)("3") == 3 and integer()("-5") == -5
    assert real(0, 1, low_open=True)("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match="must be > 0, got 0"):
        real(0, low_open=True)("0")
    with pytest.raises(argparse.ArgumentTypeError, match="must be a finite number, got inf"):
        real()("inf")
    with pytest.raises(ValueError):
        integer(1)("1.5")                          # argparse says: invalid int value: '1.5'


@pytest.mark.parametrize("argv, expected", [
    (["train", "gpt"], ["--steps N", "optimizer steps in the whole run (default: 1000)",
                        "--lr X", "(default: 0.003)", "--digits N", "(default: 2)"]),
    (["train", "dalle"], ["--steps N", "(default: 1500)", "--batch-size N", "(default: 32)"]),
    (["finetune"], ["(default: 200)", "--task {agreement}"]),
    (["sample"], ["--temperature X", "(default: 1.0)", "--max-new-tokens N", "(default: 200)",
                  "seed of the sampling generator (default: 0)"]),
    (["tour"], ["--out DIR", "(default: tour_out)", "--only FAMILY",
                "one of gpt, bert, clip, dalle, assistant"]),
])
def test_help_shows_defaults_and_n_x_metavars(argv, expected, capsys):
    assert main(argv + ["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())              # undo the line wrapping
    for text in expected:
        assert text in out, text
    assert "(default: None)" not in out and "VOCAB_SIZE" not in out and "MAX_NEW" not in out


def test_python_dash_m_minifm_says_a_bad_flag_value_in_one_line_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "minifm", "train", "gpt", "--steps", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("minifm train gpt: error: --steps must be >= 1, got 0 "
                             "(see minifm train gpt --help)\n")
