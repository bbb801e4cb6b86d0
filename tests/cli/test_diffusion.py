"""``minifm train diffusion`` and ``minifm generate`` on its run, end to end at tiny sizes: the
files a run leaves, drawing (dispatched on the run's family), resuming, and bad requests."""

import json
import re

import pytest

from minifm.cli.main import main
from minifm.training.checkpoint import load_checkpoint

TINY = ["--dim", "16", "--n-layers", "1", "--batch-size", "8", "--eval-batches", "1",
        "--prior-steps", "4", "--eval-samples", "1", "--candidates", "2", "--quiet"]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """A CLIP trained for 20 steps: the plumbing, not the quality."""
    out = tmp_path_factory.mktemp("clip")
    assert main(["train", "clip", "--steps", "20", "--eval-interval", "20", "--out", str(out),
                 "--vision-width", "16", "--text-width", "16", "--vision-layers", "1",
                 "--text-layers", "1", "--embed-dim", "16", "--batch-size", "16",
                 "--eval-batches", "1", "--eval-images", "20", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, clip_dir):
    out = tmp_path_factory.mktemp("diffusion")
    assert main(["train", "diffusion", "--clip", str(clip_dir), "--steps", "4",
                 "--eval-interval", "2", "--out", str(out)] + TINY) == 0
    return out


def test_training_writes_decoder_prior_clip_metrics_and_plots(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["family"] == "diffusion" and metrics["steps_done"] == 4
    assert metrics["prior"] == {"kind": "diffusion", "steps": 4}
    evaluation = metrics["evaluation"]
    assert evaluation["prior"] == "diffusion" and evaluation["candidates"] == 2
    for split in ("seen", "unseen"):
        assert 0 <= evaluation[split]["reranked"]["accuracy"] <= 1
    assert load_checkpoint(trained / "prior", family="diffusion-prior").step == 4
    assert load_checkpoint(trained / "clip.npz", family="clip").model_config["embed_dim"] == 16
    for name in ("loss.png", "denoising.png", "samples.png", "variations.png",
                 "interpolation.png", "reranking_accuracy.png"):
        assert (trained / name).stat().st_size > 0, name


def test_generate_on_a_diffusion_run_draws_and_reranks(trained, tmp_path, capsys):
    grid = tmp_path / "grid.png"
    assert main(["generate", str(trained), "--caption", "a blue circle", "--caption",
                 "a red bar", "--samples", "2", "--candidates", "2", "--steps", "3",
                 "--guidance", "2", "--out", str(grid)]) == 0
    out = capsys.readouterr().out
    assert "'a blue circle': the judge reads" in out and "'a red bar'" in out
    assert grid.stat().st_size > 0


def test_resume_continues_the_decoder_and_keeps_the_finished_prior(trained, capsys):
    prior_before = (trained / "prior" / "checkpoint.npz").read_bytes()
    assert main(["train", "diffusion", "--resume", str(trained), "--steps", "6",
                 "--eval-interval", "2", "--prior-steps", "4", "--eval-samples", "1",
                 "--candidates", "1", "--quiet"]) == 0
    assert load_checkpoint(trained, family="diffusion").step == 6
    assert (trained / "prior" / "checkpoint.npz").read_bytes() == prior_before


@pytest.mark.parametrize("argv, message", [
    (["--guidance", "-1"], r"^minifm generate: error: --guidance must be >= 0, got -1"),
    (["--steps", "0"], r"^minifm generate: error: --steps must be >= 1, got 0"),
    (["--steps", "5000"], r"^minifm: error: .*steps must be an int in \[1, 1000\], got 5000"),
    (["--sampler", "euler"], r"^minifm: error: unknown sampler 'euler'; choose one of ddpm, ddim"),
    (["--caption", "a purple circle"], r"^minifm: error: .*never saw: purple"),
])
def test_generate_refuses_bad_requests(trained, capsys, argv, message):
    assert main(["generate", str(trained), "--caption", "a red circle"] + argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_train_refuses_a_clip_run_of_the_wrong_kind_and_a_missing_one(trained, tmp_path, capsys):
    assert main(["train", "diffusion", "--clip", str(trained), "--out",
                 str(tmp_path / "x")]) == 2
    assert "holds a 'diffusion' model, not a 'clip' one" in capsys.readouterr().err
    assert main(["train", "diffusion", "--out", str(tmp_path / "y")]) == 2
    assert "train diffusion needs --clip CLIP_DIR" in capsys.readouterr().err
    assert main(["train", "diffusion", "--clip", str(tmp_path / "none"), "--out",
                 str(tmp_path / "z")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
