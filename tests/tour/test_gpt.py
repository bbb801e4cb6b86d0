"""minifm/tour/gpt.py: the GPT stop runs in seconds with --quick, learns, and writes its plot."""

from minifm.tour.gpt import stop


def test_gpt_stop_lowers_the_loss_and_writes_the_plot(tmp_path):
    result = stop(tmp_path, quick=True)
    assert result["loss_after"] < result["loss_before"] - 0.3
    assert result["plot"] == tmp_path / "loss.png" and result["plot"].stat().st_size > 0
    assert 0.0 <= result["grammatical_before"] <= 1.0 and 0.0 <= result["grammatical_after"] <= 1.0
