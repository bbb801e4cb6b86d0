"""GPT-2 between Hugging Face and minifm: ``load_gpt2`` and ``save_gpt2``.

    model, tokenizer = load_gpt2("gpt2-folder")   # config.json, model.safetensors, and
                                                  # vocab.json + merges.txt if present
    save_gpt2(model, tokenizer, "out/hf")         # GPT2LMHeadModel.from_pretrained("out/hf")

minifm's GPT was written with GPT-2's names and layout (Radford et al. 2019): pre-LN blocks,
tanh-approximate GELU, a fused q|k|v ``c_attn``, the LM head tied to ``wte``, and weights stored
(in, out), which is also how GPT-2's ``Conv1D`` layers store theirs. So the name table
(``HF_GPT2``) is the identity up to the ``transformer.`` prefix, and nothing is transposed. The
one real conversion is the tokenizer's id order (``minifm.pretrained.byte_bpe``): on import the
rows of ``wte`` are permuted so that minifm id i gets the row of Hugging Face id ``hf_ids[i]``.

Dimensions: C width, V vocabulary, L layers. Lesson: lessons/08_gpt.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minifm.models.gpt import GPT, GPTConfig
from minifm.pretrained.byte_bpe import hf_tokenizer_files, load_byte_bpe
from minifm.pretrained.files import (CONFIG, WEIGHTS, config_value, read_json, read_tensors,
                                     require_files, require_value, write_folder)
from minifm.tokenizers.base import Tokenizer
from minifm.tokenizers.bpe import BPETokenizer

PREFIX = "transformer."          # GPT2LMHeadModel's trunk; the original release has no prefix
HF_GPT2 = {"wte.weight": "wte.weight", "wpe.weight": "wpe.weight",
           "ln_f.weight": "ln_f.weight", "ln_f.bias": "ln_f.bias"}
HF_GPT2_LAYER = {name: name for name in (     # under "h.{i}." in both: the same names
    "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
    "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
    "mlp.c_proj.weight", "mlp.c_proj.bias")}
TIED = "lm_head.weight"          # the output head: saved by some versions, must equal wte
BUFFERS = ("attn.bias", "attn.masked_bias")   # old releases save the causal mask: not weights
EPS = 1e-5                       # minifm's LayerNorm epsilon, GPT-2's layer_norm_epsilon


def name_table(n_layer: int) -> dict[str, str]:
    """Hugging Face tensor name (without the ``transformer.`` prefix) -> minifm parameter name."""
    table = dict(HF_GPT2)
    for i in range(n_layer):
        table.update({f"h.{i}.{hf}": f"h.{i}.{name}" for hf, name in HF_GPT2_LAYER.items()})
    return table


def config_from_hf(hf: dict, file: Path) -> GPTConfig:
    """A GPTConfig from GPT-2's ``config.json``; ValueError naming the key for what minifm's GPT
    cannot run (another architecture, another activation, MLP width, epsilon, scaling)."""
    require_value(hf, "model_type", ("gpt2",), file, None)
    require_value(hf, "activation_function", ("gelu_new", "gelu_pytorch_tanh"), file, "gelu_new")
    require_value(hf, "layer_norm_epsilon", (EPS,), file, EPS)
    require_value(hf, "scale_attn_weights", (True,), file, True)
    require_value(hf, "scale_attn_by_inverse_layer_idx", (False,), file, False)
    require_value(hf, "add_cross_attention", (False,), file, False)
    require_value(hf, "tie_word_embeddings", (True,), file, True)
    n_embd = config_value(hf, "n_embd", int, file)
    require_value(hf, "n_inner", (None, 4 * n_embd), file, None)
    return GPTConfig(vocab_size=config_value(hf, "vocab_size", int, file),
                     context_length=config_value(hf, "n_positions", int, file),
                     n_layer=config_value(hf, "n_layer", int, file),
                     n_head=config_value(hf, "n_head", int, file), n_embd=n_embd,
                     dropout=float(config_value(hf, "resid_pdrop", (int, float), file, 0.1)))


def config_to_hf(config: GPTConfig) -> dict:
    """GPT-2's ``config.json`` for a minifm GPTConfig."""
    if not config.bias:
        raise ValueError("GPT-2 has biases in every linear layer: a GPT with bias=False cannot "
                         "be exported as GPT2LMHeadModel")
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": config.vocab_size, "n_positions": config.context_length,
            "n_embd": config.n_embd, "n_layer": config.n_layer, "n_head": config.n_head,
            "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": EPS,
            "resid_pdrop": config.dropout, "embd_pdrop": config.dropout,
            "attn_pdrop": config.dropout, "initializer_range": 0.02,
            "scale_attn_weights": True, "tie_word_embeddings": True, "use_cache": True,
            "bos_token_id": None, "eos_token_id": None}


def convert_state_dict(tensors: dict[str, np.ndarray], n_layer: int, file: Path
                       ) -> dict[str, np.ndarray]:
    """GPT-2's tensors -> minifm's state dict; anything unknown or missing is an error."""
    tensors = {k.removeprefix(PREFIX): v for k, v in tensors.items()}
    table = name_table(n_layer)
    tied = tensors.pop(TIED, None)
    names = {k for k in tensors if not (k.startswith("h.") and k.split(".", 2)[-1] in BUFFERS)}
    unknown, missing = sorted(names - set(table)), sorted(set(table) - names)
    if unknown or missing:
        raise ValueError(f"{file}: the tensors do not match a GPT-2 of {n_layer} layers: "
                         f"unknown {unknown or 'none'}, missing {missing or 'none'}")
    if tied is not None and not np.array_equal(tied, tensors["wte.weight"]):
        raise ValueError(f"{file}: {TIED} should be tied to (equal to) wte.weight, but differs")
    return {name: tensors[hf] for hf, name in table.items()}


def load_gpt2(path: str | os.PathLike, *, dtype: type = np.float32
              ) -> tuple[GPT, BPETokenizer | None]:
    """A Hugging Face GPT-2 folder -> (minifm GPT in eval mode, byte-level BPE tokenizer or None).

    The folder holds ``config.json`` and ``model.safetensors``; with ``vocab.json`` and
    ``merges.txt`` the tokenizer is rebuilt (its split pattern GPT-2's, or minifm's own if the
    folder's ``tokenizer.json`` was written by ``save_gpt2``) and the embedding rows are put in
    its id order. Without them the model keeps Hugging Face's ids and the tokenizer is None.
    """
    path = Path(path)
    require_files(path, (CONFIG, WEIGHTS), "GPT-2")
    config = config_from_hf(read_json(path / CONFIG), path / CONFIG)
    state = convert_state_dict(read_tensors(path / WEIGHTS), config.n_layer, path / WEIGHTS)
    tokenizer = None
    if (path / "vocab.json").is_file() or (path / "merges.txt").is_file():
        require_files(path, ("vocab.json", "merges.txt"), "GPT-2 tokenizer")
        tokenizer, hf_ids = load_byte_bpe(path)
        V = config.vocab_size
        if len(hf_ids) > V or max(hf_ids) >= V:
            raise ValueError(f"{path}: the tokenizer has {len(hf_ids)} tokens (largest id "
                             f"{max(hf_ids)}) but the model's vocab_size is {V}")
        rest = sorted(set(range(V)) - set(hf_ids))          # model rows no token uses, last
        state["wte.weight"] = state["wte.weight"][hf_ids + rest]   # (V, C), rows permuted
    model = GPT(config, rng=np.random.default_rng(0), dtype=dtype)   # weights all overwritten
    model.load_state_dict({k: v.astype(dtype) for k, v in state.items()})
    model.eval()
    return model, tokenizer


def save_gpt2(model: GPT, tokenizer: Tokenizer | None, path: str | os.PathLike) -> list[str]:
    """Write ``model`` as a Hugging Face GPT-2 folder; returns the names of the files written.

    The tensors keep minifm's ids (see ``byte_bpe``); a ``BPETokenizer`` is written as
    ``vocab.json``, ``merges.txt``, ``tokenizer.json`` and ``tokenizer_config.json``. Another
    kind of tokenizer has no Hugging Face GPT-2 counterpart, so only the model is written.
    """
    if not isinstance(model, GPT):
        raise TypeError(f"save_gpt2 needs a minifm GPT, got {type(model).__name__}")
    hf_config = config_to_hf(model.config)
    state = model.state_dict()
    tensors = {PREFIX + hf: state[name] for hf, name in name_table(model.config.n_layer).items()}
    files = {}
    if isinstance(tokenizer, BPETokenizer):
        if tokenizer.vocab_size > model.config.vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's "
                             f"vocab_size is {model.config.vocab_size}")
        files = hf_tokenizer_files(tokenizer)
        end = tokenizer.special_tokens.get("<|endoftext|>")
        hf_config |= {"bos_token_id": end, "eos_token_id": end}
    write_folder(path, hf_config, tensors, files)
    return [CONFIG, WEIGHTS, *files]
