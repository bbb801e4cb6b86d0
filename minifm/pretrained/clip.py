"""CLIP between Hugging Face and minifm: ``load_clip`` and ``save_clip``.

    model = load_clip("clip-folder")          # config.json + model.safetensors of a CLIPModel
    save_clip(model, "out/hf")                # CLIPModel.from_pretrained("out/hf")

Hugging Face's ``CLIPModel`` is OpenAI's CLIP (Radford et al. 2021): a ViT with a class token,
a LayerNorm before the blocks (``pre_layrnorm``, sic) and one on the pooled class token, a causal
text transformer pooled at the end-of-text token, bias-free projections into the joint space,
and the stored ``logit_scale``. minifm's CLIP has each of these (``image_pool="cls"``,
``text_pool="eot"``); two options of ``CLIPConfig`` complete it: ``gelu="sigmoid"`` for the
"quick GELU" x * sigmoid(1.702 x), and ``eot_id`` for pooling at the first end-of-text token.

The table (``HF_CLIP``, ``HF_CLIP_LAYER``) works as the BERT one does (minifm.pretrained.tables).
One tensor needs its own rule: the patch embedding is a convolution, weight (C, Ch, p, p), while
minifm cuts patches into vectors of (row, column, channel) and projects them with a (p p Ch, C)
matrix, so the weight is permuted to (p, p, Ch, C) and flattened (``PATCH``).

End-of-text pooling. transformers pools at the first position of ``text_config.eos_token_id``,
except when that id is 2, a value older configs carry (OpenAI's own among them), where it takes
the position of the largest id in the row instead: there OpenAI's tokenizer puts end-of-text,
the last id of the vocabulary. So ``eos_token_id`` 2 loads as ``eot_id = V - 1``, which reads the
same position whenever a caption holds its end-of-text token. Captions are right-padded with
``pad_id``; under the causal mask nothing after the end-of-text token reaches it, so any padding
id gives the same embedding.

The other way, ``eot_id`` 2 is exactly minifm's word tokenizer's [EOS], so every CLIP trained
with ``minifm train clip --pooling cls-eot``. Written as it is, transformers would pool at the
largest id of each caption, a word. Export therefore swaps ids 2 and V - 1 (``export_ids``): the
two rows of the token embedding change places, the config says ``eos_token_id = V - 1``, and
``token_ids.json`` beside the weights holds the map, ``{"minifm_to_hf": [...]}`` (entry i: the
Hugging Face id of minifm's id i), to apply to minifm's token ids before they go into
transformers: ``hf_ids = np.array(map)[ids]``. ``load_clip`` applies the inverse when the file is
there, so a round trip gives back minifm's ids. Why a swap: it is the smallest permutation that
frees id 2, it keeps the vocabulary's size, and it puts [EOS] at the last id, where OpenAI's
tokenizer has it, so both of transformers' rules read the same position. (Appending a new row for
[EOS] would keep id 2 in the vocabulary, and transformers would pool a caption that still holds
it at position 0 without a word of warning; no config value turns the id-2 rule off.)

Hugging Face's CLIP tokenizer is a BPE with end-of-word markers, not one of minifm's kinds, so
no tokenizer is read or written. Dimensions: C width, Ch channels, p patch side, E joint width.
Lesson: lessons/10_clip.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from minifm.models.clip import CLIP, CLIPConfig
from minifm.pretrained.files import (CONFIG, WEIGHTS, config_value, read_json, read_tensors,
                                     require_files, require_value, write_folder)
from minifm.pretrained.tables import Table, check_names, to_hf, to_minifm

PATCH = "vision_model.embeddings.patch_embedding.weight"     # -> visual.patch_embed.proj.weight
HF_CLIP: Table = {
    "logit_scale": ("contrastive.logit_scale", "="),
    "visual_projection.weight": ("visual.proj.weight", "T"),
    "text_projection.weight": ("text.proj.weight", "T"),
    "vision_model.embeddings.class_embedding": ("visual.class_embedding", "="),
    "vision_model.embeddings.position_embedding.weight": ("visual.wpe.weight", "="),
    "vision_model.pre_layrnorm.weight": ("visual.ln_pre.weight", "="),
    "vision_model.pre_layrnorm.bias": ("visual.ln_pre.bias", "="),
    "vision_model.post_layernorm.weight": ("visual.ln_post.weight", "="),
    "vision_model.post_layernorm.bias": ("visual.ln_post.bias", "="),
    "text_model.embeddings.token_embedding.weight": ("text.wte.weight", "="),
    "text_model.embeddings.position_embedding.weight": ("text.wpe.weight", "="),
    "text_model.final_layer_norm.weight": ("text.ln_f.weight", "="),
    "text_model.final_layer_norm.bias": ("text.ln_f.bias", "="),
}
# under "{vision|text}_model.encoder.layers.{i}." -> under "{visual|text}.h.{i}."
HF_CLIP_LAYER: Table = {
    "self_attn.q_proj.weight": ("attn.c_attn.weight", "q"),
    "self_attn.k_proj.weight": ("attn.c_attn.weight", "k"),
    "self_attn.v_proj.weight": ("attn.c_attn.weight", "v"),
    "self_attn.q_proj.bias": ("attn.c_attn.bias", "q"),
    "self_attn.k_proj.bias": ("attn.c_attn.bias", "k"),
    "self_attn.v_proj.bias": ("attn.c_attn.bias", "v"),
    "self_attn.out_proj.weight": ("attn.c_proj.weight", "T"),
    "self_attn.out_proj.bias": ("attn.c_proj.bias", "="),
    "layer_norm1.weight": ("ln_1.weight", "="),
    "layer_norm1.bias": ("ln_1.bias", "="),
    "mlp.fc1.weight": ("mlp.c_fc.weight", "T"),
    "mlp.fc1.bias": ("mlp.c_fc.bias", "="),
    "mlp.fc2.weight": ("mlp.c_proj.weight", "T"),
    "mlp.fc2.bias": ("mlp.c_proj.bias", "="),
    "layer_norm2.weight": ("ln_2.weight", "="),
    "layer_norm2.bias": ("ln_2.bias", "="),
}
IGNORED = frozenset({"text_model.embeddings.position_ids",      # saved buffers 0..T-1
                     "vision_model.embeddings.position_ids"})
HF_ACT = {"quick_gelu": "sigmoid", "gelu": "none", "gelu_new": "tanh",   # hidden_act -> gelu
          "gelu_pytorch_tanh": "tanh"}
EPS = 1e-5                   # minifm's LayerNorm epsilon, CLIP's layer_norm_eps
LEGACY_EOS = 2               # transformers' "largest id" pooling (see the module docstring)
TOKEN_MAP = "token_ids.json"   # minifm id -> Hugging Face id, beside the weights of a swap


def name_table(vision_layers: int, text_layers: int) -> Table:
    """Hugging Face tensor name -> (minifm parameter name, how), the patch weight aside."""
    table = dict(HF_CLIP)
    towers = (("vision", "visual", vision_layers), ("text", "text", text_layers))
    for tower, ours, n_layer in towers:
        for i in range(n_layer):
            table.update({f"{tower}_model.encoder.layers.{i}.{hf}": (f"{ours}.h.{i}.{name}", how)
                          for hf, (name, how) in HF_CLIP_LAYER.items()})
    return table


def _tower(hf: dict, key: str, file: Path) -> tuple[dict, Path]:
    tower = config_value(hf, key, dict, file)
    where = Path(f"{file} ({key})")
    require_value(tower, "layer_norm_eps", (EPS,), where, EPS)
    require_value(tower, "hidden_act", tuple(HF_ACT), where, "quick_gelu")
    width = config_value(tower, "hidden_size", int, where)
    require_value(tower, "intermediate_size", (4 * width,), where, 4 * width)
    return tower, where


def config_from_hf(hf: dict, file: Path) -> CLIPConfig:
    """A CLIPConfig from a CLIPModel's ``config.json``; ValueError naming the key for what
    minifm's CLIP cannot run."""
    require_value(hf, "model_type", ("clip",), file, None)
    vision, v_file = _tower(hf, "vision_config", file)
    text, t_file = _tower(hf, "text_config", file)
    acts = {HF_ACT[t.get("hidden_act", "quick_gelu")] for t in (vision, text)}
    if len(acts) > 1:
        raise ValueError(f"{file}: the towers use different hidden_act values; minifm's CLIP "
                         "has one GELU form for both")
    V = config_value(text, "vocab_size", int, t_file)
    eos = config_value(text, "eos_token_id", int, t_file)
    eot_id = V - 1 if eos == LEGACY_EOS else eos
    pad = config_value(text, "pad_token_id", int, t_file, 0)
    pad_id = pad if 0 <= pad < V and pad != eot_id else int(eot_id == 0)
    return CLIPConfig(
        image_size=config_value(vision, "image_size", int, v_file),
        patch_size=config_value(vision, "patch_size", int, v_file),
        channels=config_value(vision, "num_channels", int, v_file, 3),
        vision_width=config_value(vision, "hidden_size", int, v_file),
        vision_layers=config_value(vision, "num_hidden_layers", int, v_file),
        vision_heads=config_value(vision, "num_attention_heads", int, v_file),
        image_pool="cls", vocab_size=V,
        context_length=config_value(text, "max_position_embeddings", int, t_file),
        text_width=config_value(text, "hidden_size", int, t_file),
        text_layers=config_value(text, "num_hidden_layers", int, t_file),
        text_heads=config_value(text, "num_attention_heads", int, t_file),
        text_pool="eot", pad_id=pad_id, eot_id=eot_id,
        embed_dim=config_value(hf, "projection_dim", int, file), gelu=acts.pop())


def config_to_hf(config: CLIPConfig) -> dict:
    """A CLIPModel's ``config.json`` for a minifm CLIPConfig that Hugging Face can express."""
    if (config.image_pool, config.text_pool) != ("cls", "eot"):
        raise ValueError(f"Hugging Face's CLIPModel pools the class token and the end-of-text "
                         f"token; this CLIP pools {config.image_pool!r} and {config.text_pool!r}")
    if config.eot_id is None or config.eot_id == LEGACY_EOS:
        raise ValueError(f"Hugging Face's CLIPModel pools at the first token of a fixed id "
                         f"(and treats id 2 specially): its config needs CLIPConfig.eot_id set "
                         f"to an id other than 2 (save_clip swaps a 2 away), got "
                         f"{config.eot_id!r}; `minifm train clip --pooling cls-eot` sets it")
    act = {form: name for name, form in HF_ACT.items()}[config.gelu]   # gelu_pytorch_tanh
    common = {"hidden_act": act, "layer_norm_eps": EPS, "attention_dropout": config.dropout,
              "projection_dim": config.embed_dim}
    C_v, C_t = config.vision_width, config.text_width
    return {"architectures": ["CLIPModel"], "model_type": "clip",
            "projection_dim": config.embed_dim, "logit_scale_init_value": 2.6592,
            "vision_config": {**common, "model_type": "clip_vision_model",
                              "image_size": config.image_size, "patch_size": config.patch_size,
                              "num_channels": config.channels, "hidden_size": C_v,
                              "intermediate_size": 4 * C_v,
                              "num_hidden_layers": config.vision_layers,
                              "num_attention_heads": config.vision_heads},
            "text_config": {**common, "model_type": "clip_text_model",
                            "vocab_size": config.vocab_size,
                            "max_position_embeddings": config.context_length,
                            "hidden_size": C_t, "intermediate_size": 4 * C_t,
                            "num_hidden_layers": config.text_layers,
                            "num_attention_heads": config.text_heads,
                            "eos_token_id": config.eot_id, "pad_token_id": config.pad_id,
                            "bos_token_id": None}}


def export_ids(config: CLIPConfig) -> np.ndarray | None:
    """The ids (V,) Hugging Face gets for minifm's ids 0..V-1 on export: ids 2 and V - 1
    swapped when ``eot_id`` is 2 (see the module docstring); None when they stay as they are."""
    if config.eot_id != LEGACY_EOS:
        return None
    V = config.vocab_size
    if V - 1 == LEGACY_EOS:
        raise ValueError(f"a CLIP whose eot_id is 2 exports with [EOS] moved to the last id, "
                         f"which needs vocab_size >= 4, got {V}")
    ids = np.arange(V)
    ids[[LEGACY_EOS, V - 1]] = V - 1, LEGACY_EOS
    return ids


def read_token_map(file: Path, vocab_size: int) -> np.ndarray:
    """The ids (V,) of ``token_ids.json``: ValueError naming the file unless it holds a
    permutation of 0..V-1 under "minifm_to_hf"."""
    ids = read_json(file).get("minifm_to_hf")
    if not (isinstance(ids, list) and all(type(i) is int for i in ids)
            and sorted(ids) == list(range(vocab_size))):
        raise ValueError(f"{file}: 'minifm_to_hf' must be a permutation of the ids "
                         f"0..{vocab_size - 1} (the vocabulary of config.json)")
    return np.array(ids)


def load_clip(path: str | os.PathLike, *, dtype: type = np.float32) -> CLIP:
    """A Hugging Face CLIPModel folder (``config.json``, ``model.safetensors``) -> a minifm CLIP
    in eval mode. Images go in as (B, H, W, Ch), not PyTorch's (B, Ch, H, W). A ``token_ids.json``
    written by ``save_clip`` is undone: the model reads minifm's ids again."""
    path = Path(path)
    require_files(path, (CONFIG, WEIGHTS), "CLIP")
    config = config_from_hf(read_json(path / CONFIG), path / CONFIG)
    tensors = read_tensors(path / WEIGHTS)
    table = name_table(config.vision_layers, config.text_layers)
    check_names(tensors, {**table, PATCH: ("", "=")}, path / WEIGHTS,
                f"a CLIP of {config.vision_layers} + {config.text_layers} layers", IGNORED)
    conv = tensors[PATCH]                                          # (C, Ch, p, p)
    state = to_minifm(tensors, table, path / WEIGHTS)
    state["visual.patch_embed.proj.weight"] = conv.transpose(2, 3, 1, 0).reshape(-1, len(conv))
    if (path / TOKEN_MAP).is_file():
        ids = read_token_map(path / TOKEN_MAP, config.vocab_size)   # minifm id -> HF id
        state["text.wte.weight"] = state["text.wte.weight"][ids]     # our row i: their ids[i]
        back = np.argsort(ids)                                        # HF id -> minifm id
        config = dataclasses.replace(config, eot_id=int(back[config.eot_id]),
                                     pad_id=int(back[config.pad_id]))
    scale = float(np.exp(state["contrastive.logit_scale"]))       # never clamped below it
    config = dataclasses.replace(config, max_logit_scale=max(100.0, scale))
    model = CLIP(config, rng=np.random.default_rng(0), dtype=dtype)   # weights all overwritten
    model.load_state_dict({k: np.asarray(v, dtype=dtype) for k, v in state.items()})
    model.eval()
    return model


def save_clip(model: CLIP, path: str | os.PathLike) -> list[str]:
    """Write ``model`` as a Hugging Face CLIPModel folder; returns the names of the files
    (with ``token_ids.json`` when [EOS] = 2 is swapped to the last id: the module docstring)."""
    if not isinstance(model, CLIP):
        raise TypeError(f"save_clip needs a minifm CLIP, got {type(model).__name__}")
    config = model.config
    state = model.state_dict()
    ids, files = export_ids(config), {}
    if ids is not None:
        wte = state["text.wte.weight"]                                # (V, C)
        state["text.wte.weight"] = np.empty_like(wte)
        state["text.wte.weight"][ids] = wte                           # their row ids[i]: our i
        config = dataclasses.replace(config, eot_id=int(ids[config.eot_id]),
                                     pad_id=int(ids[config.pad_id]))
        files[TOKEN_MAP] = json.dumps({"minifm_to_hf": ids.tolist()}) + "\n"
    hf_config = config_to_hf(config)
    tensors = to_hf(state, name_table(config.vision_layers, config.text_layers))
    p, Ch = config.patch_size, config.channels
    w = state["visual.patch_embed.proj.weight"]                   # (p p Ch, C)
    tensors[PATCH] = w.reshape(p, p, Ch, -1).transpose(3, 2, 0, 1)   # -> (C, Ch, p, p)
    write_folder(path, hf_config, tensors, files)
    return [CONFIG, WEIGHTS, *files]
