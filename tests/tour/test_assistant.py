"""The tour's assistant stop (minifm/tour/assistant.py) at its real size: SFT turns the
pre-trained base, which answers nothing right in the chat format, into a model the judges score
far above it, refusing the off-limits requests and no allowed one; it writes its plots.

Margins from real runs (seed 1337, one thread): the base scores 0.0 % seen and held-out (it has
never seen ``<|assistant|>``); after SFT MEASURED_SEEN seen and MEASURED_HELDOUT held-out,
refusals 100 %, false refusals 0 %.
"""

import pytest

from minifm.tour.assistant import EVAL_PER_TASK, REQUESTS, stop


@pytest.mark.slow
def test_assistant_stop_sft_lifts_the_judged_accuracy_from_the_base(tmp_path, capsys):
    result = stop(tmp_path)
    assert result["accuracy_before"] <= 0.02 and result["heldout_before"] <= 0.02
    assert result["accuracy_after"] >= result["accuracy_before"] + 0.50
    assert result["heldout_after"] >= result["heldout_before"] + 0.30
    assert result["refusal_rate"] >= 0.90 and result["false_refusal_rate"] <= 0.05
    assert set(result["judged"]) == {f"{stage} {split}" for stage in ("base", "sft")
                                     for split in ("seen", "heldout")}
    assert result["judged"]["sft seen"]["overall"].n == 5 * EVAL_PER_TASK
    assert len(result["answers_before"]) == len(result["answers_after"]) == len(REQUESTS)
    assert result["answers_after"][0] == "( 4 + 7 ) * 2"           # the judged code request
    assert [p.name for p in result["plots"]] == ["loss.png", "judged.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in result["plots"])
    assert (tmp_path / "checkpoint.npz").is_file()                  # `minifm chat` reads it
    printed = capsys.readouterr().out
    assert "After fine-tuning" in printed and f"try: python -m minifm chat {tmp_path}" in printed
