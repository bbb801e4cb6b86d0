"""benchmarks/time_notebooks.py: which notebooks a command line names, the kernel it runs them in,
and the table and JSON it writes, on tiny notebooks written here (its timings are not checked)."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "time_notebooks.py"
spec = importlib.util.spec_from_file_location("time_notebooks", SCRIPT)
time_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(time_notebooks)


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def folder(tmp_path):
    for name in ("01_tokens", "05_attention", "12_bert_at_work", "13_scale"):
        write_notebook(tmp_path / f"{name}.ipynb", "x = 1")
    return tmp_path


def test_names_resolve_to_notebooks_by_number_or_name_start(folder):
    stems = lambda names: [p.stem for p in time_notebooks.resolve(names, folder)]   # noqa: E731
    assert stems([]) == ["01_tokens", "05_attention", "12_bert_at_work", "13_scale"]
    assert stems(["12", "5", "01"]) == ["12_bert_at_work", "05_attention", "01_tokens"]
    assert stems(["13_sc", "12_bert_at_work"]) == ["13_scale", "12_bert_at_work"]
    assert stems([str(folder / "05_attention.ipynb")]) == ["05_attention"]


@pytest.mark.parametrize("name, message", [("99", "matches 0 notebooks"),
                                           ("7", "matches 0 notebooks"),
                                           ("nope.ipynb", "does not exist")])
def test_unknown_names_are_refused_naming_the_name(folder, name, message):
    with pytest.raises(ValueError, match=message) as info:
        time_notebooks.resolve([name], folder)
    assert name in str(info.value)


@pytest.mark.parametrize("argv, message", [(["--threads", "0"], "--threads must be >= 1"),
                                           (["--size", "huge"], "invalid choice"),
                                           (["no_such_notebook"], "matches 0 notebooks")])
def test_bad_command_lines_exit_2_before_running_anything(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        time_notebooks.main(argv + ["--out", str(tmp_path / "n.json")])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "n.json").exists()


def test_out_must_be_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        time_notebooks.main(["01", "--out", str(tmp_path)])
    assert "is a folder" in capsys.readouterr().err


def test_minutes_are_written_as_the_readmes_write_them():
    assert [time_notebooks.minutes(s) for s in (12.4, 108, 786, None)] == \
        ["12 s", "1 min 48 s", "13 min 6 s", "-"]


def test_a_tiny_notebook_runs_in_a_kernel_set_up_as_asked(tmp_path, capsys):
    seen = tmp_path / "seen.json"
    path = write_notebook(
        tmp_path / "07_probe.ipynb",
        "import os\nSIZE = os.environ.get('MINIFM_NOTEBOOK_SIZE', 'classroom')",
        "import json, minifm\n"
        f"json.dump({{'size': SIZE, 'threads': os.environ['OPENBLAS_NUM_THREADS'], "
        f"'omp': os.environ['OMP_NUM_THREADS'], 'cwd': os.getcwd()}}, open({str(seen)!r}, 'w'))",
        "sum(i * i for i in range(10 ** 5))")
    out = tmp_path / "figures" / "notebooks.json"
    code = time_notebooks.main([str(path), "--size", "tiny", "--threads", "2", "--cells",
                                "--out", str(out), "--executed", str(tmp_path / "executed")])
    printed = capsys.readouterr().out
    assert code == 0
    assert json.loads(seen.read_text()) == {"size": "tiny", "threads": "2", "omp": "2",
                                            "cwd": str(ROOT)}
    header, row = printed.splitlines()[1:3]
    assert header.split()[:4] == ["notebook", "wall", "kernel", "CPU"]
    assert row.startswith("07_probe") and row.endswith("ok")
    assert [line.split()[:2] for line in printed.splitlines()[3:6]] == \
        [["cell", "0"], ["cell", "1"], ["cell", "2"]]
    figures = json.loads(out.read_text())
    assert (figures["size"], figures["threads"]) == ("tiny", 2)
    (record,) = figures["notebooks"]
    assert record["notebook"] == "07_probe" and record["ok"] and record["error"] is None
    assert [c["index"] for c in record["cells"]] == [0, 1, 2]
    assert record["wall_seconds"] > 0 and record["kernel_cpu_seconds"] is not None
    assert record["kernel_cpu_seconds"] >= 0 and record["load_before"] >= 0
    kept = nbformat.read(tmp_path / "executed" / "07_probe.ipynb", as_version=4)
    # sum of i^2 for i < n is (n - 1) n (2n - 1) / 6
    assert kept.cells[2].outputs[0]["data"]["text/plain"] == str(99999 * 100000 * 199999 // 6)


def test_a_failing_notebook_is_reported_and_the_exit_status_is_1(tmp_path, capsys):
    path = write_notebook(tmp_path / "08_broken.ipynb", "x = 1",
                          "raise ValueError('on purpose')", "y = 2")
    out = tmp_path / "n.json"
    assert time_notebooks.main([str(path), "--size", "tiny", "--out", str(out)]) == 1
    row = capsys.readouterr().out.splitlines()[2]
    assert row.startswith("08_broken") and "FAILED" in row and "on purpose" in row
    (record,) = json.loads(out.read_text())["notebooks"]
    assert not record["ok"] and "on purpose" in record["error"]
    assert [c["index"] for c in record["cells"]] == [0]       # stopped at the failing cell
