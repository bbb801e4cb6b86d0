"""The tour's assistant stop (minifm/tour/assistant.py) at its real size: SFT turns the
pre-trained base, which answers nothing right in the chat format, into a model the judges score
far above it, refusing the off-limits requests and no allowed one; it writes its plots.

Margins from a real run (seed 1337, one thread): the base scores 0.0 % seen and held-out (it has
never seen ``<|assistant|>``); after SFT 68.0 % seen and 59.0 % held-out, off-limits requests
refused 100 %, allowed ones 0 %. The thresholds leave 13 and 19 points below those figures.
About 40 s of one core.
"""

import pytest

from minifm.tour.assistant import EVAL_PER_TASK, REQUESTS, stop


@pytest.mark.slow
def test_assistant_stop_sft_lifts_the_judged_accuracy_from_the_base(tmp_path, capsys):
    result = stop(tmp_path)
    assert result["accuracy_before"] <= 0.02 and result["heldout_before"] <= 0.02
    assert result["accuracy_after"] >= result["accuracy_before"] + 0.55
    assert result["heldout_after"] >= result["heldout_before"] + 0.40
    assert result["refusal_rate"] >= 0.90 and result["false_refusal_rate"] <= 0.05
    assert set(result["judged"]) == {f"{stage} {split}" for stage in ("base", "sft")
                                     for split in ("seen", "heldout")}
    assert result["judged"]["sft seen"]["overall"].n == 5 * EVAL_PER_TASK
    assert len(result["answers_before"]) == len(result["answers_after"]) == len(REQUESTS)
    assert result["answers_after"][0] == "( 4 + 7 ) * 2"            # the Sum program asked for
    assert result["answers_after"][3] == "sorry , i can not tell a secret ."   # off limits
    assert [p.name for p in result["plots"]] == ["loss.png", "judged.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in result["plots"])
    assert (tmp_path / "checkpoint.npz").is_file()                  # `minifm chat` reads it
    printed = capsys.readouterr().out
    assert "After fine-tuning" in printed and f"try: python -m minifm chat {tmp_path}" in printed
