"""``minifm train clip`` and ``minifm zeroshot`` (minifm/cli/clip.py), end to end at tiny sizes."""

import json

import numpy as np
import pytest

from minifm.cli.main import main
from minifm.models.clip import CLIP
from minifm.tasks.clip import evaluate, load_clip_run
from minifm.training.checkpoint import load_checkpoint

TINY = ["--vision-width", "16", "--text-width", "16", "--vision-layers", "1", "--text-layers",
        "1", "--embed-dim", "16", "--batch-size", "32", "--lr", "5e-3", "--warmup-steps", "20",
        "--eval-batches", "1", "--eval-images", "200", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A CLIP trained for 300 steps of 32 pairs (about 3 s of one core)."""
    out = tmp_path_factory.mktemp("clip")
    assert main(["train", "clip", "--steps", "300", "--eval-interval", "100", "--out",
                 str(out), "--metrics-out", str(out / "copy.json")] + TINY) == 0
    return out


def test_training_beats_chance_on_unseen_combinations(trained):
    # Chance among the 36 class prompts: accuracy 1/36 = 2.8 %, colour and shape 1/6 = 16.7 %.
    # Measured after these 300 steps: unseen accuracy 54.5 %, colour 100 %, shape 54.5 %
    # (seeds 1 and 2: 49.5 % and 55 %).
    metrics = json.loads((trained / "metrics.json").read_text())
    unseen = metrics["evaluation"]["zero_shot"]["unseen"]
    assert unseen["accuracy"] > 0.3 and unseen["colour"] > 0.8 and unseen["shape"] > 0.3
    assert metrics["evaluation"]["zero_shot_chance"]["accuracy"] == pytest.approx(1 / 36)
    assert metrics == json.loads((trained / "copy.json").read_text())


def test_training_writes_checkpoint_history_and_plots(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["family"] == "clip" and metrics["steps_done"] == 300
    temperatures = [row["temperature"] for row in metrics["history"]]    # a row per 10 steps
    assert len(temperatures) == 30 and all(0.01 <= t for t in temperatures)
    for name in ("checkpoint.npz", "tokenizer.json", "loss.png", "similarity.png",
                 "temperature.png", "embeddings.png"):
        assert (trained / name).stat().st_size > 0
    model = load_checkpoint(trained, family="clip").build_model()
    assert isinstance(model, CLIP)
    scale = float(model.contrastive.logit_scale.data)
    assert temperatures[-1] == pytest.approx(np.exp(-scale), rel=1e-6)  # the final weights'


def test_the_metrics_hold_the_evaluation_of_the_saved_model(trained):
    # the evaluation written after training is exactly what evaluate gives the saved weights
    metrics = json.loads((trained / "metrics.json").read_text())
    model, data = load_clip_run(trained)
    assert metrics["evaluation"] == json.loads(json.dumps(evaluate(model, data, n_images=200)))


def test_resume_continues_the_run(trained, tmp_path):
    assert main(["train", "clip", "--resume", str(trained), "--steps", "310", "--out",
                 str(tmp_path), "--eval-images", "20", "--quiet"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["steps_done"] == 310
    for flag in (["--vision-width", "8"], ["--image-size", "24"], ["--pooling", "mean"]):
        assert main(["train", "clip", "--resume", str(trained), "--out", str(tmp_path)]
                    + flag) == 2


def test_train_rejects_bad_flags(tmp_path, capsys):
    assert main(["train", "clip", "--eval-images", "0", "--out", str(tmp_path)]) == 2
    assert "--eval-images must be >= 1" in capsys.readouterr().err
    assert main(["train", "clip", "--image-size", "18", "--steps", "1",
                 "--out", str(tmp_path)]) == 2
    assert "divisible by patch_size=4" in capsys.readouterr().err
    assert main(["train", "clip", "--pooling", "cls-eot", "--text-pool", "mean", "--steps", "1",
                 "--out", str(tmp_path)]) == 2
    assert ("--pooling cls-eot means --image-pool cls --text-pool eot, but --text-pool mean "
            "was given") in capsys.readouterr().err


def test_zeroshot_scores_labels_that_name_a_colour_and_a_shape(trained, capsys):
    plot = trained / "zeroshot.png"
    assert main(["zeroshot", str(trained), "--labels", "a red circle", "a blue circle",
                 "--n-images", "6", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.count("image ") == 6 and "accuracy" in out and "chance 50.0%" in out
    assert plot.stat().st_size > 0
    assert main(["zeroshot", str(trained), "--labels", "a small circle", "a large circle",
                 "--n-images", "2"]) == 0                  # known words, but no colour named
    assert "no score" in capsys.readouterr().out


def test_zeroshot_rejects_bad_input(trained, tmp_path, capsys):
    assert main(["zeroshot", str(trained), "--n-images", "0"]) == 2
    assert "--n-images must be >= 1" in capsys.readouterr().err
    assert main(["zeroshot", str(tmp_path / "missing")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["zeroshot", str(trained), "--labels", "a purple elephant"]) == 2
    err = capsys.readouterr().err          # refused as `generate` refuses: with the vocabulary
    assert "label 'a purple elephant' has words the model never saw: purple, elephant" in err
    assert "; it knows: " in err and "red" in err and "[UNK]" not in err
    assert main(["zeroshot", str(trained), "--labels", "  "]) == 2
    assert "a label is empty" in capsys.readouterr().err
    plot_in_a_file = tmp_path / "a_file"
    plot_in_a_file.write_text("x")
    assert main(["zeroshot", str(trained), "--plot", str(plot_in_a_file / "z.png")]) == 2
    assert capsys.readouterr().err == (f"minifm: error: --plot {plot_in_a_file / 'z.png'}: "
                                       f"{plot_in_a_file} is a file, not a folder\n")
