"""The model families, and how to rebuild one from its name and config (used by checkpoints).

Every model follows the module contract (``minifm.nn.module``) plus:

    model = ModelClass(ConfigClass(...), rng=rng, dtype=np.float32)
    model.config                  # the frozen config dataclass it was built from
    out, loss = model(*batch)     # forward on one batch from the family's data source
    model.backward()              # dLoss = 1 is seeded by the model itself

``MODEL_FAMILIES`` maps a family name to ``(module path, model class name, config class name)``;
the module is imported only when that family is built, so ``import minifm.models`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import numpy as np

from minifm.nn.module import Module

MODEL_FAMILIES: dict[str, tuple[str, str, str]] = {
    "gpt": ("minifm.models.gpt", "GPT", "GPTConfig"),
    "bert": ("minifm.models.bert", "BertForPreTraining", "BertConfig"),
    "bert-classifier": ("minifm.models.bert", "BertForSequenceClassification", "BertConfig"),
    "bert-ner": ("minifm.models.bert_heads", "BertForTokenClassification", "BertConfig"),
    "bert-qa": ("minifm.models.bert_heads", "BertForQuestionAnswering", "BertConfig"),
    "clip": ("minifm.models.clip", "CLIP", "CLIPConfig"),
    "dalle": ("minifm.models.dalle", "DALLE", "DALLEConfig"),
    "reward": ("minifm.models.reward", "RewardModel", "RewardConfig"),
    "diffusion": ("minifm.models.diffusion", "DiffusionTransformer", "DiffusionConfig"),
    "diffusion-prior": ("minifm.models.diffusion_prior", "DiffusionPrior", "DiffusionPriorConfig"),
    "regression-prior": ("minifm.models.diffusion_prior", "RegressionPrior",
                         "RegressionPriorConfig"),
}


# Config keys renamed since a checkpoint could have been saved: family -> {old name: new name}.
# ``upgrade_config`` applies them, so a checkpoint in an earlier layout still loads.
RENAMED_CONFIG_KEYS: dict[str, dict[str, str]] = {
    "gpt": {"block_size": "context_length"},
    "bert": {"max_len": "context_length"},
    "bert-classifier": {"max_len": "context_length"},
}


def upgrade_config(family: str, config_dict: dict[str, Any]) -> dict[str, Any]:
    """``config_dict`` with every key renamed since it was saved given its current name."""
    renames = RENAMED_CONFIG_KEYS.get(family, {})
    return {renames.get(k, k): v for k, v in config_dict.items()}


def from_preset(presets: dict[str, Any], name: str, **overrides: Any) -> Any:
    """The config ``presets[name]`` with every override that is not None applied (a None is
    an option the user left at the preset's value)."""
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    return dataclasses.replace(presets[name],
                               **{k: v for k, v in overrides.items() if v is not None})


def _as_tuples(value: Any) -> Any:
    """JSON turns tuples into lists; frozen configs hold tuples, so turn lists back."""
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    return value


def build_model(family: str, config_dict: dict[str, Any], *, rng: np.random.Generator,
                dtype: type | np.dtype = np.float32) -> Module:
    """Construct ``ModelClass(ConfigClass(**config_dict), rng=rng, dtype=dtype)`` for a family.

    Raises ``ValueError`` for an unknown family or a config dict the config class does not accept.
    """
    if family not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known families: "
                         f"{', '.join(sorted(MODEL_FAMILIES))}")
    module_path, model_name, config_name = MODEL_FAMILIES[family]
    module = importlib.import_module(module_path)
    config_class, model_class = getattr(module, config_name), getattr(module, model_name)
    try:
        config = config_class(**{k: _as_tuples(v)
                                 for k, v in upgrade_config(family, config_dict).items()})
    except TypeError as e:
        raise ValueError(f"config for family {family!r} does not fit {config_name}: {e}") from e
    return model_class(config, rng=rng, dtype=dtype)
