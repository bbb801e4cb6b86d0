"""BERT between Hugging Face and minifm (minifm.pretrained.bert): random transformers BERTs load
into minifm with the same outputs, minifm BERTs saved by ``save_bert`` load into transformers
with the same outputs, and a damaged folder is a clear error naming the file (issue 11).

Bound: 1e-5 on float32 hidden states and logits of two-layer models with weights of std 0.3,
compared on right-padded batches at the real tokens.
"""

import json

import numpy as np
import pytest
import torch
from transformers import (BertConfig as HFBertConfig, BertForMaskedLM, BertForPreTraining as
                          HFBertForPreTraining, BertModel, BertTokenizer)

from minifm.models.bert import Bert, BertConfig, BertForPreTraining
from minifm.pretrained import load_bert
from minifm.pretrained.bert import save_bert
from minifm.tokenizers.wordpiece import WordPieceTokenizer

TOL = 1e-5
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a",
         "dog", "ran", "##s", "##ing", ".", ",", "!"] + [f"w{i}" for i in range(30)]


def hf_config(**overrides):
    return HFBertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=24, max_position_embeddings=20,
                        initializer_range=0.3, **overrides)


def save_hf(model, folder):
    torch.manual_seed(0)
    model.eval().save_pretrained(folder)
    (folder / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    return model


def batch(rng, lengths=(7, 3, 10)):
    """Right-padded ids, segments and mask (B, T), as a tokenizer would give them."""
    T = max(lengths)
    mask = (np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    ids = np.where(mask == 1, rng.integers(5, len(VOCAB), size=mask.shape), 0)
    segments = np.where(np.arange(T)[None, :] >= np.array(lengths)[:, None] // 2, 1, 0) * mask
    return ids, segments, mask


def run_hf(model, ids, segments, mask):
    with torch.no_grad():
        return model(input_ids=torch.as_tensor(ids), token_type_ids=torch.as_tensor(segments),
                     attention_mask=torch.as_tensor(mask))


def close(ours, theirs, mask):
    return np.abs(ours - theirs.numpy())[mask == 1].max() < TOL


@pytest.mark.parametrize("pooler", [True, False])
def test_a_transformers_bert_model_loads_with_the_same_outputs(tmp_path, rng, pooler):
    torch.manual_seed(0)
    hf = save_hf(BertModel(hf_config(), add_pooling_layer=pooler), tmp_path)
    model, tokenizer = load_bert(tmp_path)
    assert isinstance(model, Bert) and model.config.pooler == pooler
    assert tokenizer.vocab == VOCAB
    ids, segments, mask = batch(rng)
    hidden, pooled = model(ids, segments, mask)
    out = run_hf(hf, ids, segments, mask)
    assert close(hidden, out.last_hidden_state, mask)
    if pooler:
        assert np.abs(pooled - out.pooler_output.numpy()).max() < TOL


def test_a_transformers_bert_for_pretraining_loads_with_its_heads(tmp_path, rng):
    torch.manual_seed(1)
    hf = save_hf(HFBertForPreTraining(hf_config()), tmp_path)
    model, _ = load_bert(tmp_path, with_heads=True)
    ids, segments, mask = batch(rng)
    out, _ = model(ids, segments, mask)
    theirs = run_hf(hf, ids, segments, mask)
    assert close(out.mlm_logits, theirs.prediction_logits, mask)
    assert np.abs(out.nsp_logits - theirs.seq_relationship_logits.numpy()).max() < TOL


def random_weights(model, rng):
    for _, p in model.named_parameters():        # weights of order 1, not 0.02: a real check
        p.data[...] = rng.normal(0.0, 0.3, p.shape)
    return model.eval()


def test_an_exported_bert_for_pretraining_loads_in_transformers(tmp_path, rng):
    config = BertConfig(vocab_size=len(VOCAB), context_length=20, n_layer=2, n_head=4,
                        n_embd=16, n_inner=24)
    model = random_weights(BertForPreTraining(config, rng=rng), rng)
    tokenizer = WordPieceTokenizer(VOCAB, do_lower_case=True)
    written = save_bert(model, tokenizer, tmp_path)
    assert set(written) == {"config.json", "model.safetensors", "vocab.txt",
                            "tokenizer_config.json"}
    ids, segments, mask = batch(rng)
    out, _ = model(ids, segments, mask)
    theirs = run_hf(HFBertForPreTraining.from_pretrained(tmp_path).eval(), ids, segments, mask)
    assert close(out.mlm_logits, theirs.prediction_logits, mask)
    assert np.abs(out.nsp_logits - theirs.seq_relationship_logits.numpy()).max() < TOL
    mlm = run_hf(BertForMaskedLM.from_pretrained(tmp_path).eval(), ids, segments, mask)
    assert close(out.mlm_logits, mlm.logits, mask)
    hf_tokenizer = BertTokenizer.from_pretrained(tmp_path)
    for text, pair in [("The cat sat on the mat.", None), ("A dog runs!", "the cats, w7 sat")]:
        assert hf_tokenizer(text, pair)["input_ids"] == list(tokenizer(text, pair)["input_ids"])


def test_an_exported_encoder_loads_as_bert_model_and_back(tmp_path, rng):
    config = BertConfig(vocab_size=len(VOCAB), context_length=20, n_layer=1, n_head=2,
                        n_embd=8, n_inner=12)
    model = random_weights(Bert(config, rng=rng), rng)
    save_bert(model, None, tmp_path)
    ids, segments, mask = batch(rng)
    hidden, pooled = model(ids, segments, mask)
    out = run_hf(BertModel.from_pretrained(tmp_path).eval(), ids, segments, mask)
    assert close(hidden, out.last_hidden_state, mask)
    assert np.abs(pooled - out.pooler_output.numpy()).max() < TOL
    (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB), encoding="utf-8")
    again, _ = load_bert(tmp_path)
    for (name, p), (_, q) in zip(model.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


@pytest.mark.parametrize("with_heads", [False, True])
def test_a_masked_lm_folder_says_why_it_cannot_be_loaded(tmp_path, with_heads):
    torch.manual_seed(3)
    save_hf(BertForMaskedLM(hf_config()), tmp_path)
    with pytest.raises(ValueError, match="looks like a BertForMaskedLM folder"):
        load_bert(tmp_path, with_heads=with_heads)


def test_a_pre_ln_bert_cannot_be_exported(tmp_path, rng):
    with pytest.raises(ValueError, match="norm_first=True"):
        save_bert(Bert(BertConfig(norm_first=True), rng=rng), None, tmp_path)


# ---- damaged folders (issue 11): errors that name the file and the key -------------------------
@pytest.fixture
def folder(tmp_path):
    torch.manual_seed(2)
    save_hf(BertModel(hf_config()), tmp_path)
    return tmp_path


def test_malformed_config_json_names_the_file(folder):
    (folder / "config.json").write_text('{"vocab_size": 48,')
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        load_bert(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"config\.json must hold a JSON object, got list"):
        load_bert(folder)


def test_an_empty_config_names_the_first_missing_key(folder):
    (folder / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"config\.json: the key 'vocab_size' is missing"):
        load_bert(folder)


@pytest.mark.parametrize("key, value, message", [
    ("hidden_size", "16", r"'hidden_size' must be int, got '16'"),
    ("num_hidden_layers", True, r"'num_hidden_layers' must be int, got True"),
    ("model_type", "gpt2", r"model_type='gpt2' is not supported by minifm"),
    ("is_decoder", True, r"is_decoder=True is not supported")])
def test_a_config_value_minifm_cannot_use_names_the_key(folder, key, value, message):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, key: value}))
    with pytest.raises(ValueError, match=message):
        load_bert(folder)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_a_damaged_safetensors_file_names_the_file(folder, damage):
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"empty": b"", "truncated": data[:len(data) // 2],
                         "garbage": b"\xff" * 64}[damage])
    with pytest.raises(ValueError, match=r"model\.safetensors is not a readable safetensors"):
        load_bert(folder)


def test_a_missing_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a BERT folder: no such directory"):
        load_bert(tmp_path / "nowhere")
