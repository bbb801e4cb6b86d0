"""minifm/tour/clip.py: the CLIP stop runs in seconds with --quick and writes its plots."""

from minifm.tour.clip import stop


def test_tour_stop_runs_quickly(tmp_path):
    result = stop(tmp_path, quick=True)
    assert set(result) == {"unseen_before", "unseen_after", "evaluation", "plots"}
    assert all(p.stat().st_size > 0 for p in result["plots"])
    assert {p.name for p in result["plots"]} == {"loss.png", "similarity.png", "temperature.png",
                                                 "embeddings.png"}
    assert (tmp_path / "checkpoint.npz").is_file()
