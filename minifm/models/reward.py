"""A reward model: GPT's trunk with a scalar head read at each sequence's last real token, trained
on preference pairs with the Bradley–Terry loss (Ouyang et al. 2022, section 3.5 and eq. 1).

Dimensions: B pairs (or sequences), T time, C width, V vocabulary, L layers.

    x = transformer.hidden(idx)                 (B, T, C) the GPT trunk, causal
    h = x[b, last_b]                            (B, C) the last non-padding position of each row
    r = h @ score                               (B,)  one scalar reward per sequence
    loss = mean_b -log sigmoid(r_c - r_r)       Bradley–Terry over (chosen, rejected) pairs

The trunk is causal, so the last real position is the only one that has read the whole prompt
and response; the padding after it (right padding, ``pad_id``) changes nothing. The head has no
bias: Bradley–Terry depends only on differences of rewards, so a bias would get zero gradient.
(Hugging Face's ``GPT2ForSequenceClassification`` makes the same choices: a bias-free ``score``
read at the last non-padding token.)

The model *has* a GPT (``self.transformer``) and composes its trunk pair ``hidden`` /
``backward_hidden`` (as the text-to-image model does), so a trained GPT's weights load by name
(``load_trunk`` / ``RewardModel.from_gpt``): the usual start is the SFT model (Ouyang et al.).
Lesson: "From GPT to assistant" (issue 12; the Bradley–Terry gradient).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from minifm.functional.pooling import select_pool_backward, select_pool_forward
from minifm.functional.preference import bradley_terry_backward, bradley_terry_forward
from minifm.models.gpt import GPT, GPTConfig
from minifm.nn.linear import Linear
from minifm.nn.module import Module
from minifm.validation import check_ids, check_right_padded


@dataclass(frozen=True)
class RewardConfig:
    """The GPT trunk's hyperparameters (see ``GPTConfig``) and the id that pads a row."""

    vocab_size: int = 65
    context_length: int = 32
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    dropout: float = 0.0
    bias: bool = True
    pad_id: int = 0               # right padding; the reward is read before it

    def __post_init__(self) -> None:
        try:                          # the trunk checks its own sizes (n_layer, n_head, ...)
            self.trunk_config()
        except ValueError as e:
            raise ValueError(f"RewardConfig (its GPT trunk): {e}") from e
        if isinstance(self.pad_id, bool) or not isinstance(self.pad_id, int) \
                or not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"RewardConfig.pad_id must be an id in [0, vocab_size="
                             f"{self.vocab_size}), got {self.pad_id!r}")

    def trunk_config(self) -> GPTConfig:
        return GPTConfig(**{f.name: getattr(self, f.name) for f in fields(GPTConfig)})

    @classmethod
    def from_gpt(cls, config: GPTConfig, pad_id: int) -> "RewardConfig":
        """The reward model config whose trunk is a GPT of ``config``."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(GPTConfig)}, pad_id=pad_id)


class RewardModel(Module):
    """GPT trunk + scalar ``score`` head. Children: ``transformer`` (a ``GPT``), ``score``.

    ``rewards, loss = model(chosen, rejected)`` then ``model.backward()``; ``rewards, _ =
    model(idx)`` scores sequences alone. Every row is right-padded with ``config.pad_id``.
    """

    def __init__(self, config: RewardConfig, *, rng: np.random.Generator,
                 dtype: type = np.float32):
        self.config = config
        self.transformer = GPT(config.trunk_config(), rng=rng, dtype=dtype)
        self.score = Linear(config.n_embd, 1, bias=False, rng=rng, dtype=dtype)

    @classmethod
    def from_gpt(cls, gpt: GPT, *, pad_id: int, rng: np.random.Generator) -> "RewardModel":
        """A reward model whose trunk starts as a copy of ``gpt``'s weights (a fresh head from
        ``rng``), in ``gpt``'s dtype."""
        model = cls(RewardConfig.from_gpt(gpt.config, pad_id), rng=rng,
                    dtype=gpt.wte.weight.data.dtype)
        model.load_trunk(gpt.state_dict())
        return model

    def load_trunk(self, gpt_state: dict[str, np.ndarray]) -> None:
        """Copy a GPT's parameters (``GPT.state_dict()`` names: ``wte.weight``, ``h.0.ln_1.weight``,
        ...) into the trunk; a GPT of another shape is a clear error."""
        try:
            self.transformer.load_state_dict(gpt_state)
        except (KeyError, ValueError) as e:
            raise ValueError(f"RewardModel.load_trunk: the GPT weights do not fit this trunk "
                             f"({self.config.trunk_config()}): {e}") from e

    def _last_positions(self, idx: np.ndarray, what: str) -> np.ndarray:
        """(B,) the index of each row's last non-padding token."""
        check_ids(idx, what, vocab_size=self.config.vocab_size, ndim=2, axes="(B, T)")
        check_right_padded(idx, self.config.pad_id, what)
        return (idx != self.config.pad_id).sum(axis=1) - 1          # (B, T) -> (B,)

    def forward(self, chosen: np.ndarray, rejected: np.ndarray | None = None
                ) -> tuple[np.ndarray, float | None]:
        """chosen: (B, T) int ids; rejected: optional (B, T') ids of the other response to each
        of the same B prompts (T' may differ: the shorter side is padded).

        Returns the rewards and the Bradley–Terry loss: (2, B) rewards (row 0 chosen, row 1
        rejected) and the loss for a pair; (B,) rewards and None for ``chosen`` alone.
        """
        idx, last = chosen, self._last_positions(chosen, "chosen")
        if rejected is not None:
            last = np.concatenate([last, self._last_positions(rejected, "rejected")])   # (2B,)
            (B, Tc), (Br, Tr) = chosen.shape, rejected.shape
            if Br != B:
                raise ValueError(f"chosen and rejected must hold the same B pairs, got {B} and "
                                 f"{Br} rows")
            idx = np.full((2 * B, max(Tc, Tr)), self.config.pad_id, dtype=np.int64)
            idx[:B, :Tc] = chosen                                    # (2B, T): the chosen rows,
            idx[B:, :Tr] = rejected                                  # then the rejected ones
        x = self.transformer.hidden(idx)                             # (2B, T) -> (2B, T, C)
        h, pool_cache = select_pool_forward(x, last)                 # (2B, T, C) -> (2B, C)
        rewards = self.score(h)[:, 0]                                # (2B, C) -> (2B, 1) -> (2B,)
        if rejected is None:
            self._cache = (pool_cache, None)
            return rewards, None
        rewards = rewards.reshape(2, -1)                             # (2B,) -> (2, B)
        loss, bt_cache = bradley_terry_forward(rewards[0], rewards[1])
        self._cache = (pool_cache, bt_cache)
        return rewards, loss

    def backward(self) -> None:
        """Gradient of the last forward's Bradley–Terry loss; ADDS into every parameter's .grad."""
        pool_cache, bt_cache = self._pop_cache()
        if bt_cache is None:
            raise RuntimeError("RewardModel.backward() needs a loss: call model(chosen, rejected)")
        # fwd: loss = BT(r_c, r_r)  =>  dr_c = -sigmoid(-(r_c - r_r)) / B,  dr_r = -dr_c
        dr_c, dr_r = bradley_terry_backward(1.0, bt_cache)
        drewards = np.concatenate([dr_c, dr_r])[:, None]             # (2, B) -> (2B, 1)
        dh = self.score.backward(drewards)                           # (2B, 1) -> (2B, C)
        dx = select_pool_backward(dh, pool_cache)                    # (2B, C) -> (2B, T, C)
        self.transformer.backward_hidden(dx)
