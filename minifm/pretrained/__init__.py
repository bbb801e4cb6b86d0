"""Hugging Face checkpoints in minifm, and minifm models out to Hugging Face.

    from minifm.pretrained import load_gpt2, save_gpt2
    model, tokenizer = load_gpt2("path/to/gpt2")      # config.json, model.safetensors,
                                                      # vocab.json + merges.txt (optional)
    save_gpt2(model, tokenizer, "out/hf")             # transformers' GPT2LMHeadModel loads it

One module per family (``gpt2``, ``bert``, ``clip``), each with one explicit name table (Hugging
Face tensor name -> minifm parameter name, and how: as it is, transposed, or a third of a fused
matrix, applied by ``tables``); ``files`` reads and writes the folders with errors that name the
file and key; ``byte_bpe`` converts GPT-2's tokenizer files. Nothing here imports torch or
transformers. Lessons: lessons/08_gpt.md, lessons/09_bert.md, lessons/10_clip.md.
"""

from minifm.pretrained.bert import (HF_ENCODER, HF_HEADS, HF_LAYER, MINILM_INSTALL,
                                    config_from_hf, convert_state_dict, load_bert, minilm_path,
                                    name_table, save_bert)
from minifm.pretrained.clip import load_clip, save_clip
from minifm.pretrained.gpt2 import load_gpt2, save_gpt2

__all__ = ["HF_ENCODER", "HF_HEADS", "HF_LAYER", "MINILM_INSTALL", "config_from_hf",
           "convert_state_dict", "load_bert", "load_clip", "load_gpt2", "minilm_path",
           "name_table", "save_bert", "save_clip", "save_gpt2"]
