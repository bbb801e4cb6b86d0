"""GPT-2 between Hugging Face and minifm (minifm.pretrained.gpt2): a random GPT2LMHeadModel saved
by transformers loads into minifm with the same logits, and a minifm GPT saved by ``save_gpt2``
loads into transformers with the same logits and greedy continuations.

Bound: 1e-5 on float32 logits of a two-layer model with weights of std 0.3 (logits of order 1),
about ten float32 round-offs of the largest intermediate values.
"""

import json

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

from minifm.models.gpt import GPT, GPTConfig
from minifm.pretrained.byte_bpe import BYTE_ALPHABET, token_string
from minifm.pretrained.gpt2 import load_gpt2, save_gpt2

TOL = 1e-5
END = "<|endoftext|>"        # the special token of the ``bpe`` fixture (conftest.py)


def hf_gpt2(vocab_size, seed=0, **overrides):
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=24, n_embd=16, n_layer=2, n_head=4,
                        initializer_range=0.3, **overrides)
    return GPT2LMHeadModel(config).eval()


def gpt2_order_files(bpe, folder, rng):
    """GPT-2's own tokenizer layout for ``bpe``: the 256 bytes numbered in the order GPT-2's
    vocab.json uses (the alphabet's visible characters first), merge results shuffled after
    them, the end-of-text token last. Returns hf_ids: minifm id i is Hugging Face id hf_ids[i]."""
    visible = sorted(range(256), key=lambda b: ord(BYTE_ALPHABET[b]))
    byte_ids = {b: j for j, b in enumerate(visible)}
    n = len(bpe.merges)
    merge_ids = 256 + rng.permutation(n)
    hf_ids = [byte_ids[b] for b in range(256)] + [int(i) for i in merge_ids] + [256 + n]
    strings = [token_string(bpe.token_bytes(i)) for i in range(256 + n)] + [END]
    vocab = dict(zip(strings, hf_ids))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{strings[a]} {strings[b]}" for a, b in bpe.merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return hf_ids


def padded_batch(rng, V, lengths=(9, 5, 12)):
    """Right-padded random ids (B, T) and the attention mask (1 = real token)."""
    T = max(lengths)
    ids = rng.integers(0, V, size=(len(lengths), T))
    mask = (np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    return np.where(mask == 1, ids, 0), mask


def hf_logits(model, ids, mask=None):
    with torch.no_grad():
        out = model(torch.as_tensor(ids), attention_mask=None if mask is None
                    else torch.as_tensor(mask))
    return out.logits.numpy()


def test_a_transformers_gpt2_loads_with_the_same_logits(tmp_path, rng):
    hf = hf_gpt2(vocab_size=50)
    hf.save_pretrained(tmp_path)
    model, tokenizer = load_gpt2(tmp_path)
    assert tokenizer is None and isinstance(model, GPT) and not model.training
    assert (model.config.n_layer, model.config.n_head, model.config.context_length) == (2, 4, 24)
    ids, mask = padded_batch(rng, 50)
    ours, _ = model(ids)
    real = mask == 1                  # causal attention: right padding never reaches real tokens
    assert np.abs(ours - hf_logits(hf, ids, mask))[real].max() < TOL


def test_the_original_release_layout_loads_too(tmp_path, rng):
    """OpenAI's release on the Hub: no "transformer." prefix, the causal-mask buffers saved as
    h.{i}.attn.bias, and sometimes the tied head as lm_head.weight."""
    from safetensors.numpy import load_file, save_file

    hf = hf_gpt2(vocab_size=50)
    hf.save_pretrained(tmp_path)
    tensors = {k.removeprefix("transformer."): v
               for k, v in load_file(str(tmp_path / "model.safetensors")).items()}
    tensors["lm_head.weight"] = tensors["wte.weight"]
    for i in range(2):
        tensors[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, 24, 24), np.float32))
    save_file(tensors, str(tmp_path / "model.safetensors"))
    model, _ = load_gpt2(tmp_path)
    ids, mask = padded_batch(rng, 50)
    assert np.abs(model(ids)[0] - hf_logits(hf, ids, mask))[mask == 1].max() < TOL
    tensors["lm_head.weight"] = tensors["wte.weight"] + 1
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="lm_head.weight should be tied"):
        load_gpt2(tmp_path)


def test_gpt2_token_order_is_permuted_into_minifm_ids(tmp_path, rng, bpe):
    hf = hf_gpt2(vocab_size=bpe.vocab_size)
    hf.save_pretrained(tmp_path)
    hf_ids = np.array(gpt2_order_files(bpe, tmp_path, rng))
    model, tokenizer = load_gpt2(tmp_path)
    assert tokenizer.merges == bpe.merges and tokenizer.special_tokens == bpe.special_tokens
    text = "The cat didn't sit, Über café 42!" + END
    ids = np.array([tokenizer.encode(text)])
    # GPT-2's own tokenizer, from the same files, gives the same tokens under GPT-2's ids
    assert GPT2Tokenizer.from_pretrained(tmp_path)(text)["input_ids"] == hf_ids[ids[0]].tolist()
    ours, _ = model(ids)                                   # (1, T, V) in minifm's ids
    theirs = hf_logits(hf, hf_ids[ids])[..., hf_ids]       # the same, columns in minifm's order
    assert np.abs(ours - theirs).max() < TOL


def test_greedy_generation_matches_transformers(tmp_path, rng):
    hf = hf_gpt2(vocab_size=64, seed=1)
    hf.save_pretrained(tmp_path)
    model, _ = load_gpt2(tmp_path)
    prompt = rng.integers(0, 64, size=(2, 4))
    ours = model.generate(prompt, max_new_tokens=10, temperature=0.0)
    with torch.no_grad():
        theirs = hf.generate(torch.as_tensor(prompt), attention_mask=torch.ones(2, 4, dtype=int),
                             max_new_tokens=10, do_sample=False, pad_token_id=0).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_an_exported_gpt_loads_in_transformers_with_the_same_outputs(tmp_path, rng, bpe):
    config = GPTConfig(vocab_size=bpe.vocab_size, context_length=16, n_layer=2, n_head=2,
                       n_embd=16)
    model = GPT(config, rng=rng)
    for _, p in model.named_parameters():        # weights of order 1, not 0.02: a real check
        p.data[...] = rng.normal(0.0, 0.3, p.shape)
    written = save_gpt2(model, bpe, tmp_path / "hf")
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt"} <= set(written)
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    ids, mask = padded_batch(rng, bpe.vocab_size, lengths=(16, 3))
    ours, _ = model(ids)
    assert np.abs(ours - hf_logits(hf, ids, mask))[mask == 1].max() < TOL
    prompt = ids[:, :3]
    with torch.no_grad():
        theirs = hf.generate(torch.as_tensor(prompt), attention_mask=torch.ones_like(
            torch.as_tensor(prompt)), max_new_tokens=8, do_sample=False, pad_token_id=0)
    np.testing.assert_array_equal(model.generate(prompt, 8, temperature=0.0), theirs.numpy())


def test_export_then_import_gives_back_the_same_model_and_tokenizer(tmp_path, rng, bpe):
    model = GPT(GPTConfig(vocab_size=bpe.vocab_size, n_layer=1, n_embd=8), rng=rng)
    save_gpt2(model, bpe, tmp_path)
    again, tokenizer = load_gpt2(tmp_path)
    for (name, p), (_, q) in zip(model.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert tokenizer.to_dict() == bpe.to_dict()


# ---- what cannot be loaded or saved ------------------------------------------------------------
def config_with(tmp_path, **changes):

    hf_gpt2(vocab_size=20).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


@pytest.mark.parametrize("key, value", [("model_type", "bert"), ("activation_function", "relu"),
                                        ("n_inner", 20), ("layer_norm_epsilon", 1e-6),
                                        ("scale_attn_by_inverse_layer_idx", True)])
def test_a_config_minifm_cannot_run_names_the_key_and_value(tmp_path, key, value):
    with pytest.raises(ValueError, match=rf"config\.json: {key}={value!r} is not supported"):
        load_gpt2(config_with(tmp_path, **{key: value}))


def test_a_config_without_a_size_names_the_key(tmp_path):

    folder = config_with(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    del config["n_head"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config\.json: the key 'n_head' is missing"):
        load_gpt2(folder)


def test_unknown_tensors_and_a_bias_free_gpt_are_errors(tmp_path, rng):
    from safetensors.numpy import load_file, save_file

    folder = config_with(tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["transformer.h.0.attn.extra"] = np.zeros(2, np.float32)
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"unknown \['h\.0\.attn\.extra'\], missing none"):
        load_gpt2(folder)
    with pytest.raises(ValueError, match="bias=False"):
        save_gpt2(GPT(GPTConfig(bias=False), rng=rng), None, tmp_path / "out")
