"""``minifm tour --quick`` (minifm/tour/__init__.py): every stop runs in seconds and writes its
loss plot; ``--only`` picks stops. Each stop's own test is in tests/tour/."""

import pytest

from minifm.cli.main import main
from minifm.tour import STOPS, take_tour


def test_tour_quick_runs_every_stop_from_the_command_line(tmp_path, capsys):
    assert main(["tour", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for stop in STOPS:
        assert stop.title in out
        assert (tmp_path / stop.family / "loss.png").is_file()


def test_tour_only_selects_a_family_and_rejects_unknown_ones(tmp_path, capsys):
    assert main(["tour", "--quick", "--only", "gpt", "--out", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["gpt"]
    assert main(["tour", "--only", "rnn"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no tour stop rnn"):
        take_tour(tmp_path, quick=True, only=["rnn"])
