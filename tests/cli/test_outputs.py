"""minifm/cli/outputs.py: every output path is checked before the first training step (or the
first drawing): a file where a folder belongs, a folder where a file belongs, a folder that
cannot be written. The message names the flag and the user's path; the exit code is 2."""

import subprocess
import sys

import pytest

from minifm.cli import outputs
from minifm.cli.main import main

TINY = ["--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--context-length", "16",
        "--batch-size", "4", "--steps", "2"]


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a folder")
    return path


def _refused(argv, capsys):
    """Run argv; it must exit 2 before training (nothing on stdout) and return stderr."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_out_naming_a_file_is_refused_before_training(a_file, capsys):
    err = _refused(["train", "gpt", "--out", str(a_file)] + TINY, capsys)
    assert err == (f"minifm: error: --out {a_file} is a file; give a folder (it will be "
                   "created if needed)\n")


def test_out_below_a_file_is_refused(a_file, capsys):
    err = _refused(["train", "clip", "--out", str(a_file / "run")], capsys)
    assert err == f"minifm: error: --out {a_file / 'run'}: {a_file} is a file, not a folder\n"


def test_metrics_out_naming_a_folder_is_refused(tmp_path, capsys):
    err = _refused(["train", "gpt", "--out", str(tmp_path / "run"), "--metrics-out",
                    str(tmp_path)] + TINY, capsys)
    assert err == f"minifm: error: --metrics-out {tmp_path} is a folder; give a file name\n"
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_folder_that_cannot_be_written_is_refused(tmp_path, capsys, monkeypatch):
    def denied(dir):
        raise PermissionError(13, "Permission denied", dir)
    monkeypatch.setattr(outputs.tempfile, "TemporaryFile", denied)   # (root may write anywhere)
    out = tmp_path / "run"
    err = _refused(["train", "dalle", "--out", str(out)], capsys)
    assert err == f"minifm: error: --out {out}: cannot write in {out} (Permission denied)\n"


def test_output_checks_create_the_folders(tmp_path):
    assert outputs.check_output_dir(tmp_path / "a" / "b", "--out").is_dir()
    assert outputs.check_output_file(tmp_path / "c" / "m.json", "--metrics-out").parent.is_dir()


def test_python_dash_m_minifm_refuses_an_out_that_is_a_file(a_file):
    result = subprocess.run([sys.executable, "-m", "minifm", "train", "gpt", "--out",
                             str(a_file)] + TINY, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"minifm: error: --out {a_file} is a file; give a folder (it will "
                             "be created if needed)\n")
