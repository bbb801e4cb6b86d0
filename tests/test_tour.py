"""``minifm tour`` (minifm/tour/__init__.py, minifm/cli/tour.py): the stops run in order, each
announced with its measured length and followed by what it took, then the total; ``--only``
picks stops. Cheap stand-in stops replace the real ones here: each real stop's learning is
tested at its real size in tests/tour/."""

import dataclasses
import re

import pytest

from minifm.cli.main import main
from minifm.tour import STOPS, take_tour
from minifm.training.trainer import format_seconds


@pytest.fixture
def cheap_stops(monkeypatch):
    """The tour's stops with a run that only writes a file and records its folder."""
    visited = []

    def run(out_dir):
        visited.append(out_dir.name)
        (out_dir / "loss.png").write_bytes(b"png")
        return {"family": out_dir.name}

    monkeypatch.setattr("minifm.tour.STOPS", [dataclasses.replace(s, run=run) for s in STOPS])
    return visited


def test_the_tour_runs_every_stop_in_order_and_prints_each_time(tmp_path, capsys, cheap_stops):
    assert main(["tour", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert cheap_stops == [s.family for s in STOPS] == ["gpt", "bert", "clip", "dalle", "assistant"]
    for stop in STOPS:
        assert stop.title in out and (tmp_path / stop.family / "loss.png").is_file()
        assert f"(about {format_seconds(stop.seconds)} on a 2-core CPU)" in out
    took = re.findall(r"\((\w+) stop took \d+ s; files in ", out)
    assert took == [s.family for s in STOPS]
    assert re.search(r"End of the tour \(\d+ s in all\)", out)


def test_the_tour_announces_its_length(tmp_path, capsys, cheap_stops):
    """The tour first says how long it will take: the sum of the chosen stops' measured times."""
    take_tour(tmp_path, only=["gpt", "clip"])
    out = capsys.readouterr().out
    total = sum(s.seconds for s in STOPS if s.family in ("gpt", "clip"))
    assert out.startswith(f"The tour: 2 stop(s), about {format_seconds(total)} on a 2-core CPU")
    assert "progress line at least every 15 s" in out


def test_tour_only_selects_a_family_and_rejects_unknown_ones(tmp_path, capsys, cheap_stops):
    assert main(["tour", "--only", "gpt", "--out", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["gpt"] and cheap_stops == ["gpt"]
    assert main(["tour", "--only", "rnn"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no tour stop rnn; the stops are gpt, bert, clip"):
        take_tour(tmp_path, only=["rnn"])


def test_quick_is_gone(capsys):
    """--quick showed nothing learning (issue 18); the tour has one size, the one that learns."""
    assert main(["tour", "--quick"]) == 2
    assert "unrecognized arguments: --quick" in capsys.readouterr().err
    assert all(isinstance(s.seconds, (int, float)) and s.seconds > 0 for s in STOPS)
