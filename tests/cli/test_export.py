"""``minifm export RUN --to hf OUT`` (minifm/cli/export.py, minifm/tasks/export.py): a trained
GPT with a BPE tokenizer, a trained BERT and a CLIP trained with ``--pooling cls-eot``, exported
and loaded by transformers, give the outputs minifm gives (1e-5, float32); a run that cannot be
exported is one error line."""

import json

import numpy as np
import pytest

from minifm.cli.main import main
from minifm.data.shapes import class_prompts
from minifm.tasks.clip import load_clip_run
from minifm.training.checkpoint import load_checkpoint

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")
transformers.logging.set_verbosity_error()

TOL = 1e-5


def test_export_gpt_with_its_bpe_tokenizer(tmp_path, capsys):
    run, out = tmp_path / "gpt", tmp_path / "gpt-hf"
    assert main(["train", "gpt", "--corpus", "grammar", "--tokenizer", "bpe", "--vocab-size",
                 "300", "--steps", "2", "--n-layer", "1", "--n-embd", "16", "--n-head", "2",
                 "--batch-size", "2", "--eval-interval", "2", "--quiet", "--out", str(run)]) == 0
    assert main(["export", str(run), "--to", "hf", str(out)]) == 0
    assert "model.safetensors" in capsys.readouterr().out
    ckpt = load_checkpoint(run)
    model, tokenizer = ckpt.build_model().eval(), ckpt.build_tokenizer()
    text = "the cat sees a dog ."
    ids = tokenizer.encode(text)
    assert transformers.AutoTokenizer.from_pretrained(out)(text)["input_ids"] == ids
    hf = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    with torch.no_grad():
        theirs = hf(torch.as_tensor([ids])).logits.numpy()
    assert np.abs(model(np.array([ids]))[0] - theirs).max() < TOL


def test_export_bert_loads_as_masked_lm(tmp_path):
    run, out = tmp_path / "bert", tmp_path / "bert-hf"
    assert main(["train", "bert", "--steps", "1", "--n-layer", "1", "--n-embd", "16",
                 "--n-head", "2", "--n-inner", "32", "--documents", "20", "--batch-size", "2",
                 "--quiet", "--out", str(run)]) == 0
    assert main(["export", str(run), "--to", "hf", str(out)]) == 0
    ckpt = load_checkpoint(run)
    model, tokenizer = ckpt.build_model().eval(), ckpt.build_tokenizer()
    enc = tokenizer.batch_encode(["the dog sleeps .", "tom [MASK] his cat ."], padding=True)
    out_minifm, _ = model(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    hf = transformers.BertForMaskedLM.from_pretrained(out).eval()
    with torch.no_grad():
        theirs = hf(**{k: torch.as_tensor(np.asarray(v)) for k, v in enc.items()}).logits
    real = np.asarray(enc["attention_mask"]) == 1
    assert np.abs(out_minifm.mlm_logits - theirs.numpy())[real].max() < TOL


def test_export_clip_trained_with_cls_eot_pooling(tmp_path, capsys):
    # the word tokenizer's [EOS] is 2, which transformers reads as "pool at the largest id":
    # export swaps it with the last id and writes token_ids.json, the map to apply
    run, out = tmp_path / "clip", tmp_path / "clip-hf"
    assert main(["train", "clip", "--pooling", "cls-eot", "--steps", "3", "--vision-width", "16",
                 "--text-width", "16", "--vision-layers", "1", "--text-layers", "1",
                 "--vision-heads", "2", "--text-heads", "2", "--batch-size", "8",
                 "--eval-images", "8", "--quiet", "--out", str(run)]) == 0
    assert main(["export", str(run), "--to", "hf", str(out)]) == 0
    assert "token_ids.json" in capsys.readouterr().out
    model, data = load_clip_run(run)
    assert (model.config.image_pool, model.config.text_pool, model.config.eot_id) == \
        ("cls", "eot", data.tokenizer.eos_id)
    to_hf = np.array(json.loads((out / "token_ids.json").read_text())["minifm_to_hf"])
    images, tokens = data.get_batch("val", 6, np.random.default_rng(0))   # shapes-world pairs
    tokens = np.concatenate([tokens, data.encode(class_prompts()[:4])])  # and zero-shot prompts
    images = np.concatenate([images, images[:4]]).astype(np.float32)
    hf = transformers.CLIPModel.from_pretrained(out).eval()
    with torch.no_grad():
        theirs = hf(input_ids=torch.as_tensor(to_hf[tokens]),
                    attention_mask=torch.as_tensor((tokens != model.config.pad_id).astype(int)),
                    pixel_values=torch.as_tensor(images.transpose(0, 3, 1, 2).copy()))
    assert np.abs(model.encode_image(images) - theirs.image_embeds.numpy()).max() < TOL
    assert np.abs(model.encode_text(tokens) - theirs.text_embeds.numpy()).max() < TOL
    logits, _ = model(images, tokens)          # |logit| <= exp(logit_scale) ~ 14.3: scaled bound
    scale = float(np.exp(model.contrastive.logit_scale.data))
    assert np.abs(logits - theirs.logits_per_image.numpy()).max() < TOL * scale


def test_a_clip_hugging_face_cannot_express_is_one_error_line(tmp_path, capsys):
    run = tmp_path / "clip"
    assert main(["train", "clip", "--steps", "1", "--vision-width", "8", "--text-width", "8",
                 "--vision-layers", "1", "--text-layers", "1", "--vision-heads", "2",
                 "--text-heads", "2", "--batch-size", "4", "--eval-images", "8", "--quiet",
                 "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--to", "hf", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minifm: error: Hugging Face's CLIPModel pools the class token")
    assert err.count("\n") == 1


def test_a_missing_run_is_one_error_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nowhere"), "--to", "hf", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minifm: error: checkpoint not found") and err.count("\n") == 1
