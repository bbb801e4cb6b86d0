"""minifm/tour/dalle.py: the tour's text-to-image stop, with the CLIP of the CLIP stop."""

import shutil

import pytest

from minifm.cli.main import main
from minifm.tasks.dalle import Reranker
from minifm.tour.dalle import stop


@pytest.mark.slow
def test_tour_stop_reuses_the_clip_of_the_clip_stop(tmp_path_factory):
    clip_dir = tmp_path_factory.mktemp("clip")
    assert main(["train", "clip", "--steps", "30", "--eval-interval", "30", "--out",
                 str(clip_dir), "--vision-width", "16", "--text-width", "16", "--vision-layers",
                 "1", "--text-layers", "1", "--embed-dim", "16", "--batch-size", "16",
                 "--eval-batches", "1", "--eval-images", "20", "--quiet"]) == 0
    tour = tmp_path_factory.mktemp("tour")
    shutil.copytree(clip_dir, tour / "clip")
    result = stop(tour / "dalle")
    assert result["clip"] == tour / "clip"
    assert not (tour / "dalle" / "clip").exists()
    assert set(result) == {"image_tokenizer", "seen_before", "evaluation", "clip", "plots"}
    assert all(p.stat().st_size > 0 for p in result["plots"])
    assert result["plots"][0] == tour / "dalle" / "loss.png"
    assert (tour / "dalle" / "checkpoint.npz").is_file()
    assert (tour / "dalle" / "tokenizer.json").is_file()
    assert not (tour / "dalle" / "image_tokenizer.npz").exists()    # it is in the checkpoint
    assert isinstance(Reranker.load(result["clip"]).model.config.embed_dim, int)
    assert main(["generate", str(tour / "dalle"), "--caption", "a red circle",
                 "--samples", "2"]) == 0                             # what the stop suggests
