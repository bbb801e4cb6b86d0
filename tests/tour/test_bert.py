"""The tour's BERT stop (minifm/tour/bert.py) at its quick size: it learns, writes its loss
curve, and returns every number the tour prints."""

from minifm.tour.bert import stop


def test_bert_stop_runs_quickly_and_learns(tmp_path, capsys):
    result = stop(tmp_path, quick=True)
    assert result["plot"] == tmp_path / "loss.png" and result["plot"].is_file()
    assert (tmp_path / "checkpoint.npz").is_file() and (tmp_path / "metrics.json").is_file()
    assert result["loss_after"] < result["loss_before"]
    assert len(result["guesses_before"]) == len(result["guesses_after"]) == 5
    assert set(result["transfer"]) >= {"pretrained", "scratch", "margin"}
    assert {"mlm_accuracy_before", "mlm_accuracy_after", "nsp_accuracy_before",
            "nsp_accuracy_after"} <= set(result)
    printed = capsys.readouterr().out
    assert "Before pre-training" in printed and f"loss curve: {result['plot']}" in printed
