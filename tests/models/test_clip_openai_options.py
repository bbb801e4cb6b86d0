"""CLIPConfig's options for OpenAI's architecture: GELU's sigmoid form in every block, and
``eot_id``, pooling a caption at its first end-of-text token (their gradients are checked with
the whole model in tests/models/test_clip.py)."""

import numpy as np
import pytest

from minifm.models.clip import CLIP, CLIPConfig

EOT = 6


def tiny(**overrides):
    return CLIPConfig(**{**dict(image_size=4, patch_size=2, vision_width=4, vision_layers=1,
                                vision_heads=2, vocab_size=7, context_length=5, text_width=4,
                                text_layers=1, text_heads=2, embed_dim=3, image_pool="cls",
                                text_pool="eot"), **overrides})


def test_gelu_form_reaches_every_block(rng):
    model = CLIP(tiny(gelu="sigmoid"), rng=rng)
    blocks = model.visual.h + model.text.h
    assert blocks and all(b.mlp.gelu.approximate == "sigmoid" for b in blocks)


def test_eot_id_pools_at_the_first_end_of_text_token(rng):
    model = CLIP(tiny(eot_id=EOT), rng=rng)
    last_real = CLIP(tiny(), rng=np.random.default_rng(0))
    last_real.load_state_dict(model.state_dict())
    # causal attention: what follows the first EOT cannot change its embedding
    a = model.encode_text(np.array([[1, 4, EOT, 0, 0], [1, 4, EOT, 3, 5], [1, EOT, EOT, 2, 0]]))
    np.testing.assert_allclose(a[0], a[1], rtol=0, atol=1e-6)
    assert np.abs(a[0] - a[2]).max() > 1e-3
    # where EOT is the last real token, both rules read the same position
    tokens = np.array([[1, 4, EOT, 0, 0], [1, 2, 3, 4, EOT]])
    np.testing.assert_array_equal(model.encode_text(tokens), last_real.encode_text(tokens))


def test_a_caption_without_its_end_of_text_token_is_an_error(rng):
    model = CLIP(tiny(eot_id=EOT), rng=rng)
    with pytest.raises(ValueError, match=r"end-of-text id 6 .* rows \[1\] do not"):
        model.encode_text(np.array([[1, EOT, 0, 0, 0], [1, 2, 3, 0, 0]]))


@pytest.mark.parametrize("bad, message", [({"gelu": "relu"}, "CLIPConfig.gelu"),
                                          ({"eot_id": 0}, "other than pad_id=0"),
                                          ({"eot_id": 7}, r"in \[0, 7\)")])
def test_config_rejects_bad_options(bad, message):
    with pytest.raises(ValueError, match=message):
        tiny(**bad)
