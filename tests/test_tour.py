"""``minifm tour --quick``: every stop runs in seconds, learns, and writes its loss plot."""

from minifm.cli import main
from minifm.recipes.gpt import tour_stop
from minifm.tour import STOPS


def test_gpt_stop_lowers_the_loss_and_writes_the_plot(tmp_path):
    result = tour_stop(tmp_path, quick=True)
    assert result["loss_after"] < result["loss_before"] - 0.3
    assert result["plot"] == tmp_path / "loss.png" and result["plot"].stat().st_size > 0
    assert 0.0 <= result["grammatical_before"] <= 1.0 and 0.0 <= result["grammatical_after"] <= 1.0


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
