"""``minifm tour --quick`` (minifm/tour/__init__.py): every stop runs in seconds and writes its
loss plot; ``--only`` picks stops. Each stop's own test is in tests/tour/."""

import dataclasses
import re

import pytest

from minifm.cli.main import main
from minifm.tour import QUICK_NOTICE, STOPS, take_tour
from minifm.training.trainer import format_seconds


def test_tour_quick_runs_every_stop_from_the_command_line(tmp_path, capsys):
    assert main(["tour", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for stop in STOPS:
        assert stop.title in out
        assert (tmp_path / stop.family / "loss.png").is_file()
    assert out.startswith(QUICK_NOTICE) and out.rstrip().endswith(QUICK_NOTICE)
    assert "smoke test" in QUICK_NOTICE and "no time to learn" in QUICK_NOTICE
    assert out.count("on a 2-core CPU)") == len(STOPS)          # each stop: what it will take
    assert len(re.findall(r"\((gpt|bert|clip|dalle|assistant) stop took [\w ]+; files in ",
                          out)) == len(STOPS) == 5


def test_tour_only_selects_a_family_and_rejects_unknown_ones(tmp_path, capsys):
    assert main(["tour", "--quick", "--only", "gpt", "--out", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["gpt"]
    assert main(["tour", "--only", "rnn"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no tour stop rnn"):
        take_tour(tmp_path, quick=True, only=["rnn"])


def test_a_full_tour_announces_its_length(tmp_path, capsys, monkeypatch):
    """Without --quick the tour first says how long it will take (the stops' measured times)."""
    monkeypatch.setattr("minifm.tour.STOPS", [dataclasses.replace(s, run=lambda d, q: {})
                                              for s in STOPS])         # no training here
    take_tour(tmp_path, only=["gpt", "clip"])
    out = capsys.readouterr().out
    total = sum(s.seconds[1] for s in STOPS if s.family in ("gpt", "clip"))
    assert out.startswith(f"The tour: 2 stop(s), about {format_seconds(total)} on a 2-core CPU")
    assert "progress line at least every 15 s" in out and QUICK_NOTICE not in out