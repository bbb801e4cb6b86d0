"""The training loop: learning, divergence stops, validation mode, progress output, files.

Resuming from a checkpoint is tested in tests/test_checkpoint.py.
"""

import json
import math

import numpy as np
import pytest

from minifm.data.text import TokenData
from minifm.models.gpt import GPT, GPTConfig
from minifm.nn.linear import Linear
from minifm.nn.module import Module
from minifm.training.trainer import Throughput, TrainConfig, Trainer, format_seconds


class Regressor(Module):
    """A linear least-squares model following the model contract: ``out, loss = m(x, y)``."""

    def __init__(self, rng: np.random.Generator):
        self.lin = Linear(3, 1, rng=rng)
        self.modes_seen: list[bool] = []      # self.training at each forward

    def forward(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        self.modes_seen.append(self.training)
        out = self.lin(x)                                   # (B, 3) -> (B, 1)
        diff = out - y
        self._cache = diff
        return out, float(np.mean(diff ** 2))

    def backward(self) -> None:
        diff = self._pop_cache()
        # fwd: loss = mean(diff^2)  =>  ddiff = 2 diff / N
        self.lin.backward(2 * diff / diff.size)


class LinearData:
    """y = x @ w_true; ``poison_call`` makes that call's x contain inf (bad data)."""

    def __init__(self, poison_call: int | None = None):
        self.w_true = np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
        self.poison_call, self.calls = poison_call, 0

    def get_batch(self, split, batch_size, rng):
        self.calls += 1
        x = rng.standard_normal((batch_size, 3)).astype(np.float32)
        if self.calls == self.poison_call:
            x[0, 0] = np.inf
        return x, x @ self.w_true


def _quick(**changes) -> TrainConfig:
    base = dict(steps=30, batch_size=8, lr=0.05, min_lr=0.005, warmup_steps=3, weight_decay=0.0,
                eval_interval=10, eval_batches=2, log_interval=5, seed=0)
    return TrainConfig(**{**base, **changes})


def test_trainer_loss_goes_down_on_a_linear_task(rng):
    metrics = Trainer(Regressor(rng), LinearData(), _quick(steps=100), quiet=True).run()
    val = [row["val_loss"] for row in metrics["history"] if row["val_loss"] is not None]
    assert len(val) == 10                                    # every 10 steps
    assert val[-1] < 1e-3 * val[0]
    assert metrics["steps_done"] == 100 and metrics["stopped_early"] is None


def test_gpt_trainer_learns_a_repeating_sequence(rng):
    V = 7
    data = TokenData(np.tile(np.arange(5), 200), context_length=8)
    model = GPT(GPTConfig(vocab_size=V, context_length=8, n_layer=1, n_head=2, n_embd=16), rng=rng)
    metrics = Trainer(model, data, _quick(steps=60, lr=1e-2, min_lr=1e-3), quiet=True).run()
    # the sequence is fully predictable after one token: from ln(7) = 1.95 to near 0
    assert metrics["history"][0]["train_loss"] > 1.0
    assert metrics["final_val_loss"] < 0.2


def test_trainer_validates_in_eval_mode_and_returns_to_train_mode(rng):
    model = Regressor(rng)
    Trainer(model, LinearData(), _quick(steps=10, eval_interval=5, eval_batches=3),
            quiet=True).run()
    # 5 training forwards, 3 validation forwards, 5 training, 3 validation
    assert model.modes_seen == ([True] * 5 + [False] * 3) * 2
    assert model.training


def test_trainer_stops_on_inf_in_the_data_and_says_what_to_try(rng, capsys):
    trainer = Trainer(Regressor(rng), LinearData(poison_call=4), _quick(), quiet=True)
    before = {name: p.data.copy() for name, p in trainer.model.named_parameters()}
    metrics = trainer.run()
    message = metrics["stopped_early"]
    assert message.startswith("Training stopped at step 4: the loss is ")  # the 4th step
    assert "this batch contains NaN or inf" in message and "lower learning rate" in message
    assert "--grad-clip" in message
    assert message in capsys.readouterr().err               # printed even when quiet
    assert trainer.step == 3 and metrics["steps_done"] == 3
    for name, p in trainer.model.named_parameters():        # the bad step changed nothing
        assert np.all(np.isfinite(p.data)), name
    assert any(not np.array_equal(before[n], p.data) for n, p in trainer.model.named_parameters())


def test_trainer_stops_when_a_huge_learning_rate_diverges(rng, capsys):
    config = _quick(lr=1e30, min_lr=0.0, warmup_steps=0, grad_clip=None)
    metrics = Trainer(Regressor(rng), LinearData(), config, quiet=True).run()
    assert metrics["stopped_early"] is not None
    assert metrics["steps_done"] < 30
    assert "lr is 1e+30; try --lr 1e+29" in metrics["stopped_early"]
    assert "--grad-clip 1.0, now off" in metrics["stopped_early"]
    assert "for NaN/inf values" in metrics["stopped_early"]  # the data itself was fine


def test_progress_prints_compact_lines_when_stdout_is_not_a_tty(rng, capsys):
    Trainer(Regressor(rng), LinearData(), _quick(steps=20)).run()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["step", "10/20"], ["step", "20/20"]]
    assert all("val" in line and "tok/s" in line for line in lines)
    assert "\r" not in "".join(lines)                        # no progress bar


def test_without_a_tty_a_heartbeat_line_comes_whenever_the_log_was_quiet_too_long(rng, capsys):
    """heartbeat=0: every step is "too long", so each step but the last prints step, loss and
    ETA (the default, 15 s, never fires in this sub-second run: see the test above)."""
    Trainer(Regressor(rng), LinearData(), _quick(steps=6, eval_interval=3), heartbeat=0).run()
    beats = [line.split() for line in capsys.readouterr().out.splitlines() if "ETA" in line]
    assert [b[1] for b in beats] == ["1/6", "2/6", "3/6", "4/6", "5/6"]
    assert all(b[0] == "step" and b[2] == "train" and float(b[3]) > 0 and b[4] == "ETA"
               and b[-1] == "s" for b in beats)


def test_throughput_counts_what_the_family_trains_on(rng, capsys):
    pairs = Throughput("pairs/s", lambda batch: len(batch[0]))
    metrics = Trainer(Regressor(rng), LinearData(), _quick(steps=10, batch_size=4),
                      throughput=pairs).run()
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("step 10/10") and line.endswith(" pairs/s")
    assert metrics["throughput_unit"] == "pairs/s"


@pytest.mark.parametrize("seconds, text", [(4.4, "4 s"), (59.6, "1 min 00 s"),
                                           (200, "3 min 20 s"), (3900, "1 h 05 min")])
def test_format_seconds_reads_like_a_person_would_say_it(seconds, text):
    assert format_seconds(seconds) == text


def test_quiet_trainer_prints_nothing(rng, capsys):
    Trainer(Regressor(rng), LinearData(), _quick(steps=20), quiet=True).run()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_trainer_writes_metrics_and_draws_nothing(rng, tmp_path):
    out, extra = tmp_path / "run", tmp_path / "elsewhere" / "m.json"
    metrics = Trainer(Regressor(rng), LinearData(), _quick(steps=20), out_dir=out, quiet=True,
                      metrics_out=extra).run()
    assert not (out / "loss.png").exists()                  # pictures belong to minifm.plots
    for path in (out / "metrics.json", extra):
        assert json.loads(path.read_text()) == metrics
    assert not (out / "checkpoint.npz").exists()            # no family: nothing to rebuild from
    rows = metrics["history"]
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    assert [r["val_loss"] is None for r in rows] == [True, False, True, False]
    assert all(r["per_sec"] > 0 and math.isfinite(r["grad_norm"]) for r in rows)
    assert metrics["throughput_unit"] == "tok/s"
    # row "step": 5 is the 5th step, 0-based step 4, past the 3 warmup steps of a 20-step cosine
    assert rows[0]["lr"] == pytest.approx(0.005 + 0.045 * 0.5 * (1 + math.cos(math.pi / 17)),
                                          rel=1e-15)


def test_trainer_rejects_bad_data_and_config(rng):
    with pytest.raises(TypeError, match="get_batch"):
        Trainer(Regressor(rng), [1, 2, 3], _quick())
    with pytest.raises(TypeError, match="TrainConfig"):
        Trainer(Regressor(rng), LinearData(), {"steps": 3})
    with pytest.raises(ValueError, match="no checkpoint path"):
        Trainer(Regressor(rng), LinearData(), _quick()).save_checkpoint()


@pytest.mark.parametrize("field, value, match", [
    ("steps", 0, "steps must be an integer >= 1"),
    ("batch_size", 2.5, "batch_size must be an integer >= 1"),
    ("eval_interval", True, "eval_interval must be an integer >= 1"),
    ("warmup_steps", -1, "warmup_steps must be an integer >= 0"),
    ("lr", 0.0, "lr must be a positive finite number"),
    ("min_lr", 1.0, r"min_lr must lie in \[0, lr=0.05\]"),
    ("grad_clip", 0.0, "grad_clip must be > 0 or None"),
    ("weight_decay", -0.1, "weight_decay must be >= 0"),
])
def test_train_config_rejects_bad_values(field, value, match):
    with pytest.raises(ValueError, match=match):
        _quick(**{field: value})
