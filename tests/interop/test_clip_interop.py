"""CLIP between Hugging Face and minifm (minifm.pretrained.clip): a random transformers CLIPModel
loads into minifm with the same embeddings and logits, and a minifm CLIP saved by ``save_clip``
loads into transformers with the same outputs; one whose [EOS] is 2 (minifm's word tokenizer)
does too, through the id map export writes, and loads back with minifm's ids.

Bound: 1e-5 on float32 unit-length embeddings and on the logits (scaled cosines, |logit| <= the
stored scale) of one- and two-layer towers with weights of std 0.3; captions are right-padded.
"""

import json

import numpy as np
import pytest
import torch
from transformers import CLIPConfig as HFCLIPConfig, CLIPModel

from minifm.models.clip import CLIP, CLIPConfig
from minifm.pretrained.clip import load_clip, save_clip

TOL = 1e-5
V, EOT, PAD = 40, 39, 1


def hf_clip(hidden_act="quick_gelu", eos=EOT, seed=0):
    torch.manual_seed(seed)
    common = dict(hidden_act=hidden_act, initializer_range=0.3)
    config = HFCLIPConfig(
        text_config=dict(vocab_size=V, hidden_size=16, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=8, eos_token_id=eos,
                         pad_token_id=PAD, **common),
        vision_config=dict(hidden_size=12, intermediate_size=48, num_hidden_layers=1,
                           num_attention_heads=3, image_size=8, patch_size=4, **common),
        projection_dim=10, logit_scale_init_value=2.0)
    model = CLIPModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():      # weights of order 1 everywhere
            if name != "logit_scale":
                p.normal_(0.0, 0.3)
    return model


def captions(rng, lengths=(3, 8, 5)):
    """Right-padded captions (B, T): random words, then the end-of-text id, then PAD."""
    T = max(lengths)
    tokens = np.full((len(lengths), T), PAD)
    for row, n in zip(tokens, lengths):
        row[:n - 1] = rng.integers(2, EOT, size=n - 1)
        row[n - 1] = EOT
    return tokens, (tokens != PAD).astype(np.int64)


def hf_outputs(model, images, tokens, mask):
    with torch.no_grad():
        out = model(input_ids=torch.as_tensor(tokens), attention_mask=torch.as_tensor(mask),
                    pixel_values=torch.as_tensor(images.transpose(0, 3, 1, 2).copy()))
    return out.image_embeds.numpy(), out.text_embeds.numpy(), out.logits_per_image.numpy()


def assert_same_outputs(model, hf, rng):
    images = rng.standard_normal((3, 8, 8, 3)).astype(np.float32)
    tokens, mask = captions(rng)
    img, txt, logits = hf_outputs(hf, images, tokens, mask)
    assert np.abs(model.encode_image(images) - img).max() < TOL
    assert np.abs(model.encode_text(tokens) - txt).max() < TOL
    ours, _ = model(images, tokens)
    assert np.abs(ours - logits).max() < TOL * np.exp(2.0)


@pytest.mark.parametrize("hidden_act, gelu", [("quick_gelu", "sigmoid"), ("gelu", "none")])
def test_a_transformers_clip_loads_with_the_same_embeddings_and_logits(tmp_path, rng, hidden_act,
                                                                       gelu):
    hf = hf_clip(hidden_act)
    hf.save_pretrained(tmp_path)
    model = load_clip(tmp_path)
    cfg = model.config
    assert isinstance(model, CLIP) and not model.training
    assert (cfg.gelu, cfg.image_pool, cfg.text_pool, cfg.eot_id, cfg.pad_id) == \
        (gelu, "cls", "eot", EOT, PAD)
    assert np.isclose(model.temperature, np.exp(-2.0))          # the stored logit scale
    assert_same_outputs(model, hf, rng)


def test_the_legacy_eos_id_2_pools_at_the_largest_id(tmp_path, rng):
    hf = hf_clip(eos=2, seed=1)                # transformers then takes argmax(input_ids)
    hf.save_pretrained(tmp_path)
    model = load_clip(tmp_path)
    assert model.config.eot_id == V - 1 == EOT
    assert_same_outputs(model, hf, rng)


def test_an_exported_clip_loads_in_transformers_with_the_same_outputs(tmp_path, rng):
    config = CLIPConfig(image_size=8, patch_size=4, vision_width=12, vision_layers=2,
                        vision_heads=3, image_pool="cls", vocab_size=V, context_length=8,
                        text_width=16, text_layers=1, text_heads=4, text_pool="eot",
                        pad_id=PAD, eot_id=EOT, embed_dim=10, gelu="sigmoid")
    model = CLIP(config, rng=rng)
    for name, p in model.named_parameters():
        if p.data.ndim:
            p.data[...] = rng.normal(0.0, 0.3, p.shape)
    model.contrastive.logit_scale.data[...] = 2.0
    assert save_clip(model, tmp_path) == ["config.json", "model.safetensors"]
    assert_same_outputs(model.eval(), CLIPModel.from_pretrained(tmp_path).eval(), rng)
    again = load_clip(tmp_path)
    for (name, p), (_, q) in zip(model.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_an_eos_id_of_2_exports_swapped_with_the_last_id_and_its_map(tmp_path, rng):
    # minifm's word tokenizer: [PAD]=0, [BOS]=1, [EOS]=2; transformers would pool id 2 at the
    # largest id of each row, so export moves [EOS] to V - 1 and writes the map
    config = CLIPConfig(image_size=8, patch_size=4, vision_width=12, vision_layers=1,
                        vision_heads=3, image_pool="cls", vocab_size=V, context_length=8,
                        text_width=16, text_layers=2, text_heads=2, text_pool="eot",
                        pad_id=0, eot_id=2, embed_dim=10)
    model = CLIP(config, rng=rng).eval()
    for name, p in model.named_parameters():
        if p.data.ndim:
            p.data[...] = rng.normal(0.0, 0.3, p.shape)
    model.contrastive.logit_scale.data[...] = 2.0
    assert save_clip(model, tmp_path) == ["config.json", "model.safetensors", "token_ids.json"]
    ids = np.array(json.loads((tmp_path / "token_ids.json").read_text())["minifm_to_hf"])
    assert ids[2] == V - 1 and ids[V - 1] == 2 and np.array_equal(np.sort(ids), np.arange(V))
    hf = CLIPModel.from_pretrained(tmp_path).eval()
    assert hf.config.text_config.eos_token_id == V - 1
    images = rng.standard_normal((3, 8, 8, 3)).astype(np.float32)
    tokens = np.zeros((3, 8), dtype=np.int64)                 # [BOS] words [EOS] [PAD]...
    for row, n in zip(tokens, (3, 8, 5)):
        row[0], row[1:n - 1], row[n - 1] = 1, rng.integers(3, V, size=n - 2), 2
    img, txt, logits = hf_outputs(hf, images, ids[tokens], (tokens != 0).astype(np.int64))
    assert np.abs(model.encode_image(images) - img).max() < TOL
    assert np.abs(model.encode_text(tokens) - txt).max() < TOL
    assert np.abs(model(images, tokens)[0] - logits).max() < TOL * np.exp(2.0)
    again = load_clip(tmp_path)                               # the map undone: minifm's ids
    assert (again.config.eot_id, again.config.pad_id) == (2, 0)
    for (name, p), (_, q) in zip(model.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_a_broken_token_map_names_the_file(tmp_path, rng):
    config = CLIPConfig(image_pool="cls", text_pool="eot", eot_id=2)
    save_clip(CLIP(config, rng=rng), tmp_path)
    (tmp_path / "token_ids.json").write_text(json.dumps({"minifm_to_hf": [0, 1, 2]}))
    with pytest.raises(ValueError, match=r"token_ids.json: 'minifm_to_hf' must be a permutation "
                                         r"of the ids 0\.\.27"):
        load_clip(tmp_path)


@pytest.mark.parametrize("options, message", [
    ({}, r"pools the class token and the end-of-text token; this CLIP pools 'mean' and 'mean'"),
    ({"image_pool": "cls", "text_pool": "eot"}, r"eot_id set to an id other than 2 .*got None"),
    ({"image_pool": "cls", "text_pool": "eot", "vocab_size": 3, "eot_id": 2},
     r"needs vocab_size >= 4, got 3")])
def test_what_hugging_face_cannot_express_is_not_exported(tmp_path, rng, options, message):
    with pytest.raises(ValueError, match=message):
        save_clip(CLIP(CLIPConfig(**options), rng=rng), tmp_path)


@pytest.mark.parametrize("tower, key, value, message", [
    ("text_config", "hidden_act", "relu", r"\(text_config\): hidden_act='relu' is not supported"),
    ("vision_config", "intermediate_size", 50, r"\(vision_config\): intermediate_size=50"),
    ("vision_config", "hidden_act", "gelu", "different hidden_act values"),
    ("text_config", "hidden_size", None, r"'hidden_size' must be int, got None")])
def test_a_config_minifm_cannot_run_names_the_key(tmp_path, tower, key, value, message):
    hf_clip().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config[tower][key] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        load_clip(tmp_path)
