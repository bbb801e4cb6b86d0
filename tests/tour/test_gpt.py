"""minifm/tour/gpt.py at its real size: the GPT goes from noise to grammatical sentences.

Measured (seed 1337, one thread): 0 % -> 97 % grammatical of 254 sampled sentences, validation
loss 5.99 -> 1.75, in ~8 CPU-seconds. Over seeds 1 and 2 the stop's recipe gave 95-97 %.
"""

from minifm.tour.gpt import stop


def test_gpt_stop_learns_to_write_grammatical_sentences(tmp_path, capsys):
    result = stop(tmp_path)
    assert result["grammatical_before"] <= 0.1
    assert result["grammatical_after"] >= 0.9
    assert result["loss_after"] < result["loss_before"] - 3.0        # 5.99 -> 1.75 measured
    assert result["plot"] == tmp_path / "loss.png" and result["plot"].stat().st_size > 0
    assert (tmp_path / "checkpoint.npz").is_file()
    assert f"-> {result['grammatical_after']:.0%}" in capsys.readouterr().out
